"""The `qualcode` command through its real entry point: run, validate, tag, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MINIMAL = FIXTURES / "codebooks" / "minimal.yaml"
SCRIPT = Path(sys.executable).parent / "qualcode"


def qualcode(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pipeline"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """A transcripts folder with good files and every kind of bad one."""
    folder = tmp_path_factory.mktemp("messy")
    (folder / "good.txt").write_text("Interviewer: Was language hard?\nRespondent: The language barrier was hard.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (folder / "utf16.txt").write_bytes("Respondent: Språket var en language barrier.\n".encode("utf-16"))
    (folder / "cp1252.txt").write_bytes("Respondent: The café had a language problem – sadly.\n".encode("cp1252"))
    (folder / "fieldnote.txt").write_text("Visited the ward. Staff spoke of a language barrier with visitors.\n")
    return folder


@pytest.fixture(scope="module")
def messy_run(messy, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return qualcode("run", "--transcripts", str(messy), "--codebook", str(MINIMAL), "--out", str(out)), out


def test_run_reports_every_skipped_file_and_loses_nothing_else(messy_run):
    result, out = messy_run
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "run.json").read_text())
    skipped = {s["source"]: s["reason"] for s in record["skipped"]}
    assert set(skipped) == {"empty.txt", "binary.txt"}
    assert "empty" in skipped["empty.txt"] and "binary" in skipped["binary.txt"]
    assert {t["source"] for t in record["transcripts"]} == {"good.txt", "utf16.txt", "cp1252.txt", "fieldnote.txt"}
    warnings = {w["source"]: w["message"] for w in record["warnings"]}
    assert "cp1252" in warnings["cp1252.txt"] and "no speaker labels" in warnings["fieldnote.txt"]
    assert "skipped empty.txt" in result.stderr and "skipped binary.txt" in result.stderr
    themed = set(record["counts"]["evidence_tags_by_theme"])
    assert themed == {"language_barrier"} and record["counts"]["evidence_tags"] == 4
    for name in ("tags.csv", "segments.csv", "findings_matrix.html", "findings_matrix.md", "matrix.csv"):
        assert (out / name).stat().st_size > 0


def test_run_ends_by_naming_every_file_it_wrote_and_the_page_to_open(messy_run):
    result, out = messy_run
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"open {out / 'findings_matrix.html'}"
    named = {line.removeprefix("wrote ") for line in lines if line.startswith("wrote ")}
    assert named == {str(path) for path in out.iterdir() if not path.name.startswith(".")}  # not the lock file


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    import pipeline

    result = qualcode("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"qualcode {pipeline.__version__}\n"
    assert pipeline.__version__ == version("qualcode")


def test_tag_prints_one_transcripts_tags(messy):
    as_json = qualcode("tag", str(messy / "cp1252.txt"), "--codebook", str(MINIMAL), "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["theme"], r["matched"], r["source"]) for r in rows] == [
        ("language_barrier", "language problem", "cp1252.txt")
    ]
    as_csv = qualcode("tag", str(messy / "good.txt"), "--codebook", str(MINIMAL))
    assert as_csv.stdout.splitlines()[0].startswith("segment_id,transcript_id,source,speaker")
    assert len(as_csv.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--transcripts", "/nonexistent/x", "--codebook", str(MINIMAL)], "transcripts folder not found"),
        (
            ["run", "--transcripts", str(FIXTURES / "transcripts"), "--codebook", "/nonexistent.yaml"],
            "cannot read codebook",
        ),
        (
            ["run", "--transcripts", str(FIXTURES / "transcripts"), "--codebook", str(MINIMAL), "--by", "colour"],
            "--by 'colour' is not a metadata field",
        ),
    ],
)
def test_errors_are_one_line(args, message, tmp_path):
    result = qualcode(*args, "--out", str(tmp_path)) if args[0] == "run" else qualcode(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_validate_lists_every_problem(tmp_path, messy):
    bad = tmp_path / "codebook.yaml"
    bad.write_text(MINIMAL.read_text().replace("tor: [Q1]", "tor: [Q7]").replace("group: barriers", "group: nope"))
    result = qualcode("validate", "--codebook", str(bad), "--transcripts", str(messy))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(f"{bad}:13:" in e and "unknown group 'nope'" in e for e in errors)
    assert any(f"{bad}:15:" in e and "unknown ToR question id 'Q7'" in e for e in errors)
    assert any("empty.txt" in e for e in errors) and any("binary.txt" in e for e in errors)


def test_validate_reports_surrogate_escapes_where_they_are(tmp_path):
    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(MINIMAL.read_text().replace("label: Language barrier", 'label: "Language \\ud800"'))
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "a.md").write_text('---\nid: "a\\udfff"\n---\nInterviewer: Hi?\nRespondent: Hello.\n')
    result = qualcode("validate", "--codebook", str(codebook), "--transcripts", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(f"{codebook}:12:" in e and "surrogate" in e for e in errors), result.stderr
    assert any(f"{folder / 'a.md'}:2:" in e and "surrogate" in e for e in errors), result.stderr


def test_validate_ok(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "a.txt").write_text("Interviewer: Hi?\nRespondent: Hello.\n")
    result = qualcode("validate", "--codebook", str(MINIMAL), "--transcripts", str(folder))
    assert result.returncode == 0, result.stderr
    assert "ok: codebook" in result.stderr


def test_validate_warns_about_a_transcript_over_spacys_limit(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    answer = " ".join(["Pneumonoultramicroscopic"] * 40) + ".\n\n"
    (folder / "huge.txt").write_text("Interviewer: Hi?\nRespondent: " + answer * 1_200, encoding="utf-8")
    result = qualcode("validate", "--codebook", str(MINIMAL), "--transcripts", str(folder))
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "huge.txt" in line]
    assert (
        warning.startswith("warning: ")
        and "speech of 1,2" in warning
        and "over spaCy's limit of 1,000,000" in warning
        and "in pieces" in warning
    )


def test_every_command_has_help():
    from typer.main import get_command

    from pipeline.cli import app

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name, command in get_command(app).commands.items():
        assert command.help, f"{name} has no help"
        assert f"qualcode {name}" in readme, f"`qualcode {name}` is not documented in the README"


@pytest.mark.parametrize(
    ("command", "option", "choices"),
    [
        ("run", "--unit", "'sentence', 'turn'"),
        ("run", "--combine", "'rules', 'classifier', 'union', 'auto'"),
        ("tag", "--unit", "'sentence', 'turn'"),
        ("tag", "--combine", "'rules', 'classifier', 'union', 'auto'"),
        ("tag", "--format", "'csv', 'json'"),
        ("train", "--unit", "'sentence', 'turn'"),
        ("train", "--estimator", "'logistic', 'svm'"),
        ("suggest", "--unit", "'sentence', 'turn'"),
        ("suggest", "--format", "'table', 'csv'"),
        ("evaluate", "--unit", "'sentence', 'turn'"),
        ("agree", "--unit", "'sentence', 'turn'"),
        ("annex", "--format", "'docx', 'xlsx', 'html', 'md'"),
    ],
)
def test_options_with_fixed_choices_refuse_other_values(command: str, option: str, choices: str, tmp_path: Path):
    arguments = {"tag": [str(MINIMAL)], "agree": [str(MINIMAL), str(MINIMAL)]}.get(command, [])
    result = qualcode(command, *arguments, option, "banana", cwd=tmp_path)
    assert result.returncode == 2  # a usage error, before anything is read or written
    message = " ".join(line.strip("│ ") for line in result.stderr.splitlines())
    assert f"Invalid value for '{option}'" in message and f"'banana' is not one of {choices}" in message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["run", "--unit", "banana"], "error: qualcode run: Invalid value for '--unit': 'banana' is not one of"),
        (["annex", "--format", "pdf"], "error: qualcode annex: Invalid value for '--format': 'pdf' is not one of"),
        (["run", "--bogus"], "error: qualcode run: No such option: --bogus"),
        (["frobnicate"], "error: qualcode: No such command 'frobnicate'."),
    ],
)
def test_a_usage_error_is_one_line_naming_the_command(args: list[str], line: str):
    """A bad choice or an unknown option gets one plain line (no box, no traceback) and usage's exit code 2."""
    done = qualcode(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(line), done.stderr
    assert done.stderr.rstrip().endswith("--help)")


def test_run_freezes_the_heap_after_its_imports(monkeypatch, messy, tmp_path):
    """A long run's full garbage collections skip what was alive before coding (docs/speed.md)."""
    import gc

    from typer.testing import CliRunner

    from pipeline.cli import app

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append("pipeline.workflows.run" in sys.modules))
    args = ["run", "--transcripts", str(messy), "--codebook", str(MINIMAL), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert frozen == [True]  # once, after the run's imports

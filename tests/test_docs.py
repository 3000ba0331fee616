"""Every command the README and docs/ show in ```sh blocks runs as written, in a copy of the project.

The project is copied once and coded once with the Makefile's own `run` command (what `make run` does); each
block then runs, line by line as bash runs it, in its own copy of that coded project, through the real
`qualcode` entry point. A line is run unless it is listed below with the reason it is not.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROJECT = ("transcripts", "codebook.yaml", "findings.yaml", "coded", "models", "bench")
BIN = Path(sys.executable).parent

# Lines shown in the docs that this test does not run, by their start, each with its reason.
NOT_RUN = {
    "make run": "the `coded_project` fixture runs the Makefile's own `run` recipe through the entry point",
    "make test": "this test suite",
    "libreoffice ": "renders docs/annex_page.png; LibreOffice is not a qualcode dependency",
    "pdftoppm ": "renders docs/annex_page.png; poppler is not a qualcode dependency",
    "qualcode run --engine dask --scheduler": "needs a running cluster; test_engines.py runs on one by its address",
}
# Commands run with --help in their block (every option the docs give must be in it), each with its reason.
# The slow ones also run as written in test_slow_command_runs_as_written when QUALCODE_DOCS_SLOW=1.
HELP_ONLY = {
    "qualcode review ": "serves the app until Ctrl+C (test_review_app.py serves it); `review_in_the_app` stands in",
    "qualcode train": "slow: 158 s of CPU on the bundled project (docs/speed.md); test_classify.py trains on fixtures",
    "qualcode evaluate": "slow: trains the classifier once per fold; tests/test_evaluate.py runs it on fixtures",
}
SLOW = ("qualcode train", "qualcode evaluate")
# Blocks that read the shared real data (never copied into the repository) are skipped, saying so, without it.
NEEDS_SHARED = ("../shared/data", "bench/datasets.py")


@dataclass(frozen=True)
class Block:
    """One ```sh block: where it is and its logical lines (continuations joined, comments kept for bash)."""

    document: Path
    line: int
    commands: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def sh_blocks(document: Path) -> list[Block]:
    """The ```sh blocks of a Markdown file, each as its logical command lines."""
    blocks: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```sh":
            start = index + 1
            end = next(i for i in range(start, len(lines)) if lines[i].strip() == "```")
            joined = re.sub(r"\\\n\s*", "", "\n".join(lines[start:end]))
            commands = tuple(c for c in joined.splitlines() if c.strip() and not c.lstrip().startswith("#"))
            blocks.append(Block(document, start, commands))
            index = end
        index += 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in sh_blocks(document)]


def script(block: Block) -> str:
    """The block as a bash script: lines as written, NOT_RUN lines left out, HELP_ONLY ones asked for --help."""
    lines = ["set -eo pipefail", "trap 'echo \"failed: $BASH_COMMAND\" >&2' ERR"]
    for command in block.commands:
        if any(command.startswith(start) for start in NOT_RUN):
            continue
        help_only = next((s for s in HELP_ONLY if command.startswith(s)), None)
        lines.append(f"{help_only.strip()} --help" if help_only else command)
    return "\n".join(lines) + "\n"


def copy_project(source: Path, target: Path, *, reports: bool = True) -> Path:
    """A copy of the project at target/project (with its reports if asked), and ../shared beside it if it exists."""
    target.mkdir(parents=True)
    project = target / "project"
    project.mkdir()
    for name in (*PROJECT, "reports") if reports else PROJECT:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, project / name)
    if SHARED.is_dir():
        (target / "shared").symlink_to(SHARED, target_is_directory=True)
    return project


def review_in_the_app(project: Path, command: str) -> None:
    """What a reviewer does in the app between `qualcode review` and `review-export`: accept the first tag."""
    import pandas as pd

    from pipeline.review.log import Decision, ReviewLog, text_sha

    words = shlex.split(command, comments=True)
    reviewer = words[words.index("--reviewer") + 1]
    tag = pd.read_csv(project / "reports" / "tags.csv").iloc[0]
    ReviewLog.open(project / "reports" / "review.sqlite").append(
        Decision(
            reviewer=reviewer,
            transcript_id=tag["transcript_id"],
            start_char=int(tag["start_char"]),
            end_char=int(tag["end_char"]),
            text_sha=text_sha(tag["text"]),
            action="accept",
            theme_before=tag["theme"],
            source=tag["source"],
        )
    )


def bash(text: str, *, cwd: Path, tmp: Path) -> subprocess.CompletedProcess:
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "TMPDIR": str(tmp)}
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def make_run_recipe() -> str:
    """The command `make run` runs, from the Makefile, with the venv's qualcode."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t\$\(QUALCODE\) (.+)$", makefile, flags=re.MULTILINE)
    assert recipe, "Makefile has no `run:` recipe calling $(QUALCODE)"
    return f"qualcode {recipe.group(1)}"


@pytest.fixture(scope="module")
def coded_project(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of the project after `make run`'s command: its reports are reused by every block."""
    base = tmp_path_factory.mktemp("docs")
    project = copy_project(ROOT, base / "base", reports=False)
    result = bash(make_run_recipe(), cwd=project, tmp=base / "tmp")
    assert result.returncode == 0, result.stderr
    return project, result


def test_make_run_ends_by_naming_every_file_and_the_page_to_open(coded_project):
    project, result = coded_project
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "open reports/findings_matrix.html"
    named = {line.removeprefix("wrote ") for line in lines if line.startswith("wrote ")}
    reports = (project / "reports").iterdir()
    assert named == {f"reports/{p.name}" for p in reports if not p.name.startswith(".")}  # not the lock file


def test_readme_shows_what_make_run_prints(coded_project):
    """The README's sample of `make run`'s output is this project's real output (the card hash aside)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(
        r"`make run` ends by naming every file it wrote and the page to open:\n\n```text\n(.*?)```", readme, re.S
    )
    assert shown, "README no longer shows `make run`'s output"
    card = re.compile(r"\(card [0-9a-f]+\)")
    assert card.sub("(card …)", shown.group(1)).strip() == card.sub("(card …)", coded_project[1].stderr).strip()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.id)
def test_sh_block_runs_as_written(block: Block, coded_project, tmp_path):
    if any(marker in command for command in block.commands for marker in NEEDS_SHARED) and not SHARED.is_dir():
        pytest.skip(f"{block.id} reads ../shared/data, which is not available")
    project = copy_project(coded_project[0], tmp_path / "work")
    for command in block.commands:
        if command.startswith("qualcode review ") and "--reviewer" in command:
            review_in_the_app(project, command)
    result = bash(script(block), cwd=project, tmp=tmp_path / "tmp")
    assert result.returncode == 0, f"{block.id}:\n{script(block)}\n{result.stderr[-3000:]}"
    for command in block.commands:
        help_only = next((s for s in HELP_ONLY if command.startswith(s)), None)
        for option in re.findall(r"(?<!\S)--[a-z][a-z-]*", command) if help_only else []:
            assert option in result.stdout, f"{block.id}: `{command}` uses {option}, which `--help` does not list"


@pytest.mark.parametrize(
    "command", [c for b in BLOCKS for c in b.commands if c.startswith(SLOW)], ids=lambda c: c.split("#")[0].strip()
)
def test_slow_command_runs_as_written(command, coded_project, tmp_path):
    if not os.environ.get("QUALCODE_DOCS_SLOW"):
        pytest.skip(f"`{command.split('#')[0].strip()}` is slow; set QUALCODE_DOCS_SLOW=1 to run it as written")
    project = copy_project(coded_project[0], tmp_path / "work")
    result = bash(command, cwd=project, tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_line_of_a_block_is_run_or_has_a_reason():
    """Nothing is left out silently: a shown line is run, or starts with a NOT_RUN / HELP_ONLY entry."""
    commands = [command for block in BLOCKS for command in block.commands]
    qualcode = [c for c in commands if c.startswith("qualcode ")]
    assert len(qualcode) >= 15, qualcode
    for start in (*NOT_RUN, *HELP_ONLY):
        assert any(c.startswith(start) for c in commands), f"{start!r} is listed but no longer in the docs"


def test_every_subcommand_shown_exists():
    from typer.main import get_command

    from pipeline.cli import app

    names = set(get_command(app).commands)
    for block in BLOCKS:
        for command in block.commands:
            words = shlex.split(command, comments=True)
            for at, word in enumerate(words[:-1]):
                if word == "qualcode" and not words[at + 1].startswith("-"):
                    assert words[at + 1] in names, f"{block.id}: unknown command `qualcode {words[at + 1]}`"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_commands_are_only_shown_in_sh_blocks(document):
    """A command in another kind of block would escape this test, so every fence with one must be ```sh."""
    fence = None
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
        elif fence not in (None, "sh") and line.startswith("qualcode "):
            pytest.fail(f"{document.name}:{number}: a qualcode command in a ```{fence} block")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_relative_links_resolve(document):
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
        assert (document.parent / target).exists(), f"{document.name}: broken link {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_paths_named_in_the_docs_exist(document):
    """Files the docs name in backticks (pipeline/, tests/, bench/) exist, so a move cannot leave them stale."""
    for path in re.findall(r"`((?:pipeline|tests|bench)/[^`\s]+)`", document.read_text(encoding="utf-8")):
        path = path.split("::")[0]
        assert list(ROOT.glob(path)) or (ROOT / path).exists(), f"{document.name}: `{path}` does not exist"

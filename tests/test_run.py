"""A whole run: identical results across processes, a swapped-in spaCy pipeline, no lost files, and a report
set that is switched in whole under a lock on its folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import spacy

from pipeline.coding.corpus import CodingOptions
from pipeline.core import files
from pipeline.core.errors import QualcodeError
from pipeline.core.files import LOCK_NAME, SWITCH_NAME, output_lock, settle_reports
from pipeline.outputs import report
from pipeline.review.log import Decision, ReviewLog, text_sha
from pipeline.workflows.run import run_project

ROOT = Path(__file__).resolve().parent.parent


def test_jobs_give_identical_results(tmp_path):
    args = dict(transcripts_dir=ROOT / "transcripts", codebook_path=ROOT / "codebook.yaml")
    one = run_project(out=tmp_path / "one", jobs=1, **args)
    two = run_project(out=tmp_path / "two", jobs=2, **args)
    pd.testing.assert_frame_equal(one.tags, two.tags)
    pd.testing.assert_frame_equal(one.segments, two.segments)
    assert (tmp_path / "one" / "matrix.csv").read_text() == (tmp_path / "two" / "matrix.csv").read_text()
    assert one.record["counts"]["transcripts"] == 14 and one.record["skipped"] == []


def test_installed_pipeline_can_replace_the_blank_one(tmp_path, fixtures):
    """`--spacy-model` takes any installed pipeline (a package name or a path); one without a sentence
    component gets the sentencizer, and lemma rules still work through its lemmatizer."""
    trained = spacy.blank("en")
    trained.add_pipe("lemmatizer", config={"mode": "lookup"})
    trained.initialize()
    trained.to_disk(tmp_path / "my_pipeline")
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    (transcripts / "a.txt").write_text("Respondent: I could not speak Norwegian. The language barrier was real.\n")
    result = run_project(
        transcripts_dir=transcripts,
        codebook_path=fixtures / "codebooks" / "minimal.yaml",
        out=tmp_path / "out",
        options=CodingOptions(spacy_model=str(tmp_path / "my_pipeline")),
    )
    assert result.tags["rule_id"].tolist() == ["lb.speak", "lb.lower"]
    assert result.record["options"]["spacy_model"] == str(tmp_path / "my_pipeline")
    assert len(result.segments) == 2


def test_run_record_names_each_transcripts_layout_and_codes_one_sided_speech(tmp_path, fixtures):
    """run.json says which layout was read from each file; a moderator-only think-aloud has coded participant
    speech, and ATLAS.ti labels are speakers, not segments."""
    transcripts = tmp_path / "t"
    transcripts.mkdir()
    for name in ("think_aloud.txt", "atlas_ti.md", "otter.txt", "plain.txt", "no_labels.txt", "zoom.vtt"):
        (transcripts / name).write_bytes((fixtures / "transcripts" / name).read_bytes())
    result = run_project(
        transcripts_dir=transcripts, codebook_path=fixtures / "codebooks" / "minimal.yaml", out=tmp_path / "out"
    )
    layouts = {t["source"]: t["layout"] for t in result.record["transcripts"]}
    assert layouts == {
        "think_aloud.txt": "one-sided",
        "atlas_ti.md": "stacked",
        "otter.txt": "stacked",
        "plain.txt": "inline",
        "no_labels.txt": "unlabelled",
        "zoom.vtt": "captions",
    }
    speakers = {t["source"]: t["speakers"] for t in result.record["transcripts"]}
    assert speakers["think_aloud.txt"] == ["MODERATOR=interviewer", "Participant=respondent"]
    assert speakers["atlas_ti.md"] == ["Interviewer=interviewer", "Participant=respondent"]
    segments = result.segments[result.segments["source"] == "atlas_ti.md"]
    assert not segments["text"].str.contains(r"\*|\\", regex=True).any()
    think_aloud = result.segments[result.segments["source"] == "think_aloud.txt"]
    assert set(think_aloud["role"]) == {"interviewer", "respondent"}
    assert not think_aloud["text"].str.contains("MODERATOR").any()


REPORT_SET = [
    "findings_matrix.html",
    "findings_matrix.md",
    "matrix.csv",
    "metadata.csv",
    "run.json",
    "segments.csv",
    "tags.csv",
]


def _report_set(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in REPORT_SET}


def _log(out: Path) -> tuple[int, list]:
    """The review log's file (by inode: never replaced) and its decisions."""
    return (out / "review.sqlite").stat().st_ino, ReviewLog(out / "review.sqlite").frame().astype(str).values.tolist()


@pytest.fixture
def two_runs(tmp_path, fixtures):
    """A finished run of one transcript with a review log beside it, and the transcripts of a second run."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (first / "a.txt").write_text("Respondent: The language barrier was real.\n")
    shutil.copytree(first, second)
    (second / "b.txt").write_text("Respondent: I could not speak Norwegian.\n")
    out = tmp_path / "reports"
    codebook = fixtures / "codebooks" / "minimal.yaml"
    run_project(transcripts_dir=first, codebook_path=codebook, out=out)
    decision = Decision("ana", "a", 12, 42, text_sha("The language barrier was real."), "accept", "language_barrier")
    ReviewLog.open(out / "review.sqlite").append(decision)
    return {"transcripts_dir": second, "codebook_path": codebook, "out": out}


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_run_interrupted_while_writing_leaves_the_previous_set_whole(two_runs, monkeypatch, interruption):
    before = _report_set(two_runs["out"])
    log = _log(two_runs["out"])

    def fail(*args, **kwargs):  # tags.csv, segments.csv, metadata.csv and matrix.csv are written by now
        raise interruption

    monkeypatch.setattr(report, "render_markdown", fail)
    with pytest.raises(type(interruption)):
        run_project(**two_runs)
    assert _report_set(two_runs["out"]) == before
    assert _log(two_runs["out"]) == log
    assert sorted(p.name for p in two_runs["out"].iterdir()) == sorted([*REPORT_SET, "review.sqlite", LOCK_NAME])


def test_a_run_killed_while_switching_is_finished_by_the_next_reader(two_runs, monkeypatch):
    moved = []
    log = _log(two_runs["out"])

    replace = os.replace

    def killed_after_three(source, target):  # stands for a SIGKILL after the commit point, mid-switch
        if Path(source).parent.name == SWITCH_NAME:
            if len(moved) == 3:
                raise SystemExit("killed")
            moved.append(target)
        replace(source, target)

    monkeypatch.setattr(files.os, "replace", killed_after_three)
    with pytest.raises(SystemExit):
        run_project(**two_runs)
    monkeypatch.undo()
    out = two_runs["out"]
    assert (out / SWITCH_NAME).is_dir() and json.loads((out / "run.json").read_text())["counts"]["transcripts"] == 1
    settle_reports(out)  # what the review app, regenerate, annex and export do before reading
    assert not (out / SWITCH_NAME).exists()
    assert json.loads((out / "run.json").read_text())["counts"]["transcripts"] == 2
    assert set(pd.read_csv(out / "segments.csv")["transcript_id"]) == {"a", "b"}
    assert set(pd.read_csv(out / "tags.csv")["transcript_id"]) == {"a", "b"}
    assert _log(out) == log


def test_a_second_run_into_a_locked_folder_fails_naming_the_holder(two_runs):
    out = two_runs["out"]
    before = _report_set(out)
    with output_lock(out, purpose="qualcode run"):
        script = Path(sys.executable).with_name("qualcode")
        result = subprocess.run(
            [
                str(script),
                "run",
                "--transcripts",
                str(two_runs["transcripts_dir"]),
                "--codebook",
                str(two_runs["codebook_path"]),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {out}: in use by qualcode run (pid {os.getpid()} on {socket.gethostname()}, since ")
    assert _report_set(out) == before


def test_a_lock_left_by_a_dead_process_does_not_block(two_runs):
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_AND_WAIT, str(two_runs["out"])], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(QualcodeError, match=f"pid {holder.pid}"):
        run_project(**two_runs)
    holder.kill()
    holder.wait()
    assert f"pid {holder.pid}" in (two_runs["out"] / LOCK_NAME).read_text()  # its note is still there
    result = run_project(**two_runs)
    assert result.record["counts"]["transcripts"] == 2


LOCK_AND_WAIT = """
import sys, time
from pipeline.core.files import output_lock
with output_lock(sys.argv[1], purpose="qualcode run"):
    print("locked", flush=True)
    time.sleep(600)
"""

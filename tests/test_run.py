"""A whole run: identical results across processes, a swapped-in spaCy pipeline, and no lost files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import spacy

from pipeline.coding.corpus import CodingOptions
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

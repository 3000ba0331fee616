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

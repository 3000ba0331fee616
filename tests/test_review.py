"""Decisions applied to the tags table, `qualcode run` with a review log, reruns after codebook and transcript
edits, coder-file export, training labels and matrix regeneration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.coding.table import read_tags
from pipeline.core.errors import QualcodeError
from pipeline.measure.coder_files import load_coder_file
from pipeline.review.apply import apply_decisions, machine_tags, review_labels
from pipeline.review.corpus import load_corpus
from pipeline.review.export import export_coder_file
from pipeline.review.log import Decision, ReviewLog, derive_state, text_sha
from pipeline.workflows.regenerate import regenerate_reports
from pipeline.workflows.run import run_project

FIXTURE = Path(__file__).parent / "fixtures" / "review"
NEGATED = ("t1_north", 273, 322)  # "We never had a language problem with the doctors."
BARRIER = ("t1_north", 48, 103)  # "There was a real language barrier with the night staff."
SWAHILI = ("t1_north", 104, 137)  # "I could not speak Swahili at all."
CARDS = ("t1_north", 323, 361)  # "The cards were printed in month seven." (no tag)
SHORT = ("t2_south", 110, 156)  # "Only six weeks is too short to learn anything."


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review")
    shutil.copytree(FIXTURE / "transcripts", root / "transcripts")
    shutil.copy(FIXTURE / "codebook.yaml", root / "codebook.yaml")
    run_project(transcripts_dir=root / "transcripts", codebook_path=root / "codebook.yaml", out=root / "reports")
    return root


@pytest.fixture
def project(first_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of a finished run, so each test writes its own review log."""
    shutil.copytree(first_run, tmp_path / "p")
    return tmp_path / "p"


def decide(
    project: Path,
    span: tuple[str, int, int],
    action: str,
    *,
    before: str = "",
    after: str = "",
    reviewer: str = "ana",
    memo: str = "",
) -> int:
    text = (project / "transcripts" / f"{span[0]}.txt").read_text(encoding="utf-8")[span[1] : span[2]]
    log = ReviewLog.open(project / "reports" / "review.sqlite")
    return log.append(
        Decision(
            reviewer=reviewer,
            transcript_id=span[0],
            start_char=span[1],
            end_char=span[2],
            text_sha=text_sha(text),
            action=action,
            theme_before=before,  # type: ignore[arg-type]
            theme_after=after,
            memo=memo,
        )
    )


def rerun(project: Path, codebook: Path | None = None):
    return run_project(
        transcripts_dir=project / "transcripts",
        codebook_path=codebook or project / "codebook.yaml",
        out=project / "reports",
    )


def row(tags: pd.DataFrame, span: tuple[str, int, int], theme: str) -> pd.Series:
    match = tags[
        (tags.transcript_id == span[0])
        & (tags.start_char == span[1])
        & (tags.end_char == span[2])
        & (tags.theme == theme)
    ]
    assert len(match) == 1, f"expected one {theme} tag on {span}, found {len(match)}"
    return match.iloc[0]


def matrix_count(project: Path, theme: str, column: str = "n_tags") -> int:
    matrix = pd.read_csv(project / "reports" / "matrix.csv")
    return int(matrix[(matrix.theme == theme) & (matrix.side == "All")][column].iloc[0])


def test_fixture_spans_are_the_segments_the_pipeline_made(first_run: Path) -> None:
    tags = read_tags(first_run / "reports" / "tags.csv")
    assert row(tags, NEGATED, "language_barrier").negated
    assert row(tags, SHORT, "short_stay").evidence
    segments = pd.read_csv(first_run / "reports" / "segments.csv")
    assert ((segments.start_char == CARDS[1]) & (segments.end_char == CARDS[2])).any()


def test_run_without_a_log_leaves_the_tags_table_alone(first_run: Path) -> None:
    tags = read_tags(first_run / "reports" / "tags.csv")
    assert "review_status" not in tags.columns
    assert "review" not in json.loads((first_run / "reports" / "run.json").read_text())


def test_decisions_set_evidence_status_and_reviewer(project: Path) -> None:
    decide(project, BARRIER, "reject", before="language_barrier", reviewer="ben")
    decide(project, NEGATED, "accept", before="language_barrier")
    decide(project, CARDS, "add", after="short_stay", memo="implied by the timeline")
    decide(project, SWAHILI, "change", before="language_barrier", after="mentor")
    result = rerun(project)
    tags = result.tags
    rejected = row(tags, BARRIER, "language_barrier")
    assert (rejected.review_status, rejected.reviewer, rejected.evidence, rejected.machine_evidence) == (
        "rejected",
        "ben",
        False,
        True,
    )
    accepted = row(tags, NEGATED, "language_barrier")
    assert (accepted.review_status, accepted.evidence, accepted.machine_evidence) == ("accepted", True, False)
    added = row(tags, CARDS, "short_stay")
    assert (added.method, added.review_status, added.evidence, added.text) == (
        "human",
        "added",
        True,
        "The cards were printed in month seven.",
    )
    assert row(tags, SWAHILI, "language_barrier").review_status == "changed"
    assert not row(tags, SWAHILI, "language_barrier").evidence
    assert (row(tags, SWAHILI, "mentor").method, row(tags, SWAHILI, "mentor").evidence) == ("human", True)
    assert row(tags, SHORT, "short_stay").review_status == "unreviewed"
    review = result.record["review"]
    assert review["decisions"] == 4 and review["reviewers"] == ["ana", "ben"]
    assert review["by_status"] == {"accepted": 1, "rejected": 1, "changed": 1, "added": 2, "stale": 0, "unreviewed": 6}
    assert review["reviewed_tags"] == 5
    written = read_tags(project / "reports" / "tags.csv")
    assert written["review_status"].tolist() == tags["review_status"].tolist()


def test_rejected_tags_leave_the_matrix_and_it_says_how_many_were_reviewed(project: Path) -> None:
    before = matrix_count(project, "language_barrier")
    decide(project, BARRIER, "reject", before="language_barrier")
    decide(project, SWAHILI, "accept", before="language_barrier")
    rerun(project)
    assert matrix_count(project, "language_barrier") == before - 1
    assert matrix_count(project, "language_barrier", "n_reviewed") == 1
    html = (project / "reports" / "findings_matrix.html").read_text()
    assert "Reviewed tags: <strong>2</strong>" in html
    assert "1 of 2 tags reviewed" in html
    assert "Reviewed tags: 2 of" in (project / "reports" / "findings_matrix.md").read_text()


def test_rerun_after_codebook_edit_keeps_decisions_by_offsets(project: Path) -> None:
    decide(project, SWAHILI, "accept", before="language_barrier")
    decide(project, BARRIER, "reject", before="language_barrier")
    edited = project / "codebook.yaml"
    text = edited.read_text()
    text = text.replace('"speak swahili"', '"speak amharic"').replace(
        "label: Language barrier", "label: Language difficulties"
    )
    edited.write_text(text)
    tags = rerun(project).tags
    swahili = row(tags, SWAHILI, "language_barrier")  # the rule no longer finds it; the reviewer's accept stays
    assert (swahili.method, swahili.review_status, swahili.evidence) == ("human", "accepted", True)
    assert row(tags, BARRIER, "language_barrier").review_status == "rejected"
    assert not row(tags, BARRIER, "language_barrier").evidence


def test_decision_on_a_theme_removed_from_the_codebook_is_stale_not_dropped(project: Path) -> None:
    decide(project, SHORT, "reject", before="short_stay")
    decide(project, BARRIER, "reject", before="language_barrier")
    codebook = project / "codebook.yaml"
    text = codebook.read_text()
    start = text.index("  - id: short_stay")
    codebook.write_text(text[:start] + text[text.index("  - id: mentor") :])
    result = rerun(project)
    assert result.record["review"]["stale_decisions"] == 1
    assert result.record["review"]["by_status"]["rejected"] == 1
    assert "short_stay" not in set(result.tags.theme)
    assert ReviewLog(project / "reports" / "review.sqlite").count() == 2


def test_decision_on_changed_text_is_flagged_stale_and_the_rest_still_apply(project: Path) -> None:
    decide(project, BARRIER, "reject", before="language_barrier")
    decide(project, SHORT, "reject", before="short_stay")
    transcript = project / "transcripts" / "t1_north.txt"
    text = transcript.read_text()
    transcript.write_text(text.replace("a real language barrier", "a huge language barrier"))
    result = rerun(project)
    assert result.record["review"]["stale_decisions"] == 1
    assert row(result.tags, SHORT, "short_stay").review_status == "rejected"
    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    state = derive_state(
        ReviewLog(project / "reports" / "review.sqlite").frame(),
        segments=corpus.segments,
        texts=corpus.texts,
        theme_ids=corpus.codebook.theme_ids,
    )
    assert state.stale[["transcript_id", "start_char", "action", "reason"]].values.tolist() == [
        ["t1_north", 48, "reject", "the text at these offsets changed"]
    ]


def test_applying_twice_gives_the_same_table(project: Path) -> None:
    decide(project, CARDS, "add", after="mentor")
    decide(project, BARRIER, "reject", before="language_barrier")
    tags = rerun(project).tags
    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    state = derive_state(
        ReviewLog(project / "reports" / "review.sqlite").frame(),
        segments=corpus.segments,
        texts=corpus.texts,
        theme_ids=corpus.codebook.theme_ids,
    )
    again = apply_decisions(
        read_tags(project / "reports" / "tags.csv"), state, segments=corpus.segments, codebook=corpus.codebook
    )
    assert again[["segment_id", "theme", "evidence", "review_status"]].equals(
        tags[["segment_id", "theme", "evidence", "review_status"]]
    )
    assert len(machine_tags(again)) == len(tags) - 1


def test_a_reviewer_decision_overrides_the_precision_bar_and_undoing_it_restores_the_machine_reason(
    project: Path,
) -> None:
    """An accepted tag counts even when its method measured below the bar; a rejected one never counts; the
    machine's own reason comes back when the reviews are undone."""
    decide(project, BARRIER, "accept", before="language_barrier")
    decide(project, SHORT, "reject", before="short_stay")
    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    machine = read_tags(project / "reports" / "tags.csv")
    below = (machine.theme == "language_barrier") & machine.evidence  # as a run with a bar above its precision
    machine.loc[below, "evidence"] = False
    machine.loc[below, "evidence_reason"] = "below_precision_bar"
    state = derive_state(
        ReviewLog(project / "reports" / "review.sqlite").frame(),
        segments=corpus.segments,
        texts=corpus.texts,
        theme_ids=corpus.codebook.theme_ids,
    )
    reviewed = apply_decisions(machine, state, segments=corpus.segments, codebook=corpus.codebook)
    accepted = row(reviewed, BARRIER, "language_barrier")
    assert (accepted.evidence, accepted.evidence_reason, accepted.machine_evidence) == (True, "", False)
    other = reviewed[(reviewed.theme == "language_barrier") & (reviewed.review_status == "unreviewed")]
    assert (other.evidence_reason == "below_precision_bar").any() and not other.evidence.any()
    rejected = row(reviewed, SHORT, "short_stay")
    assert (rejected.evidence, rejected.evidence_reason) == (False, "rejected")
    undone = machine_tags(reviewed)
    assert row(undone, BARRIER, "language_barrier").evidence_reason == "below_precision_bar"
    assert (row(undone, SHORT, "short_stay").evidence, row(undone, SHORT, "short_stay").evidence_reason) == (True, "")
    assert row(undone, NEGATED, "language_barrier").evidence_reason == "negated"


def test_export_coder_file_per_reviewer_reads_back_as_gold(project: Path) -> None:
    decide(project, SWAHILI, "accept", before="language_barrier")
    decide(project, BARRIER, "reject", before="language_barrier")
    decide(project, CARDS, "add", after="short_stay")
    decide(project, SHORT, "change", before="short_stay", after="mentor")
    decide(project, NEGATED, "accept", before="language_barrier", reviewer="ben")
    out = project / "coded" / "ana.csv"
    path, n_codes, n_stale = export_coder_file(
        reviewer="ana",
        out=out,
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    assert (path, n_codes, n_stale) == (out, 3, 0)
    assert out.read_text().splitlines() == [
        "transcript_id,start_char,end_char,theme",
        "t1_north,104,137,language_barrier",
        "t1_north,323,361,short_stay",
        "t2_south,110,156,mentor",
    ]
    gold = load_coder_file(out)
    assert set(gold["coder"]) == {"ana"} and len(gold) == 3
    with pytest.raises(QualcodeError, match="no decisions by reviewer 'cy'"):
        export_coder_file(
            reviewer="cy",
            out=out,
            reports_dir=project / "reports",
            transcripts_dir=project / "transcripts",
            codebook_path=project / "codebook.yaml",
        )


def test_review_labels_give_positives_and_negatives(project: Path) -> None:
    decide(project, SWAHILI, "accept", before="language_barrier")
    decide(project, BARRIER, "reject", before="language_barrier")
    decide(project, SHORT, "change", before="short_stay", after="mentor")
    decide(project, CARDS, "memo", before="mentor", memo="maybe")
    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    state = derive_state(
        ReviewLog(project / "reports" / "review.sqlite").frame(),
        segments=corpus.segments,
        texts=corpus.texts,
        theme_ids=corpus.codebook.theme_ids,
    )
    labels = review_labels(state, segments=corpus.segments)
    assert labels[["segment_id", "theme", "label"]].values.tolist() == [
        ["t1_north:104-137", "language_barrier", True],
        ["t1_north:48-103", "language_barrier", False],
        ["t2_south:110-156", "mentor", True],
        ["t2_south:110-156", "short_stay", False],
    ]
    assert labels.loc[0, "text"] == "I could not speak Swahili at all."


def test_regenerate_rewrites_the_matrix_without_recoding(project: Path) -> None:
    before = matrix_count(project, "short_stay")
    decide(project, SHORT, "reject", before="short_stay")
    matrix, run = regenerate_reports(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    assert matrix_count(project, "short_stay") == before - 1
    assert run["review"]["by_status"]["rejected"] == 1
    assert json.loads((project / "reports" / "run.json").read_text())["review"]["decisions"] == 1
    tags = read_tags(project / "reports" / "tags.csv")
    assert row(tags, SHORT, "short_stay").review_status == "rejected"
    html = (project / "reports" / "findings_matrix.html").read_text()
    assert 'id="s-t2_south:110-156"' in html  # transcript pages are still rendered


def test_regenerate_refuses_when_the_codebook_changed(project: Path) -> None:
    codebook = project / "codebook.yaml"
    codebook.write_text(codebook.read_text().replace('version: "1"', 'version: "2"'))
    with pytest.raises(QualcodeError, match="codebook changed since the last run"):
        regenerate_reports(
            reports_dir=project / "reports", transcripts_dir=project / "transcripts", codebook_path=codebook
        )


def test_regenerate_refuses_when_a_transcript_changed(project: Path) -> None:
    transcript = project / "transcripts" / "t2_south.txt"
    transcript.write_text(transcript.read_text().replace("My mentor", "Our mentor"))
    with pytest.raises(QualcodeError, match="t2_south.txt: the transcript changed since the last run"):
        regenerate_reports(
            reports_dir=project / "reports",
            transcripts_dir=project / "transcripts",
            codebook_path=project / "codebook.yaml",
        )


def test_load_corpus_needs_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(QualcodeError, match="run `qualcode run` first"):
        load_corpus(
            reports_dir=tmp_path, transcripts_dir=FIXTURE / "transcripts", codebook_path=FIXTURE / "codebook.yaml"
        )


def test_decisions_merge_into_training_codes_and_win(project: Path) -> None:
    from pipeline.review.training import with_review_decisions

    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    segments = corpus.segments[corpus.segments.role != "interviewer"].reset_index(drop=True)
    # a coder coded t1_north with one span over two sentences; t2_south has no coder file
    gold = pd.DataFrame(
        {
            "coder": ["cy"],
            "transcript_id": ["t1_north"],
            "start_char": [48],
            "end_char": [137],
            "theme": ["language_barrier"],
            "segment_id": [""],
        }
    )
    decide(project, BARRIER, "reject", before="language_barrier")  # cut out of cy's span
    decide(project, CARDS, "add", after="mentor")  # a new positive in a coded transcript
    decide(project, SHORT, "change", before="short_stay", after="language_barrier")  # review-only transcript
    merged = with_review_decisions(
        segments,
        corpus.tags,
        gold,
        log_path=project / "reports" / "review.sqlite",
        transcripts_dir=project / "transcripts",
        theme_ids=corpus.codebook.theme_ids,
    )
    codes = merged.gold.sort_values(["transcript_id", "start_char", "theme"])
    assert codes[["coder", "transcript_id", "start_char", "end_char", "theme"]].values.tolist() == [
        ["cy", "t1_north", 103, 137, "language_barrier"],  # what is left of cy's span
        ["review", "t1_north", 323, 361, "mentor"],
        ["review", "t2_south", 110, 156, "language_barrier"],
    ]
    assert (merged.positives, merged.negatives, merged.not_applied) == (2, 2, 0)
    # every segment of the coded transcript; of t2_south only the reviewed one (no invented negatives)
    kept = merged.segments
    assert set(kept[kept.transcript_id == "t2_south"].segment_id) == {"t2_south:110-156"}
    assert set(kept[kept.transcript_id == "t1_north"].segment_id) == set(
        segments[segments.transcript_id == "t1_north"].segment_id
    )


def test_without_a_log_training_codes_are_unchanged(project: Path) -> None:
    from pipeline.review.training import with_review_decisions

    gold = pd.DataFrame(
        {
            "coder": ["cy"],
            "transcript_id": ["t1_north"],
            "start_char": [48],
            "end_char": [137],
            "theme": ["language_barrier"],
            "segment_id": [""],
        }
    )
    segments = pd.read_csv(project / "reports" / "segments.csv")
    merged = with_review_decisions(
        segments,
        pd.DataFrame(),
        gold,
        log_path=project / "reports" / "none.sqlite",
        transcripts_dir=project / "transcripts",
        theme_ids=["language_barrier"],
    )
    assert merged.gold.equals(gold) and merged.segments.equals(segments)


def _gold(transcript_id: str = "t1_north") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "coder": ["cy"],
            "transcript_id": [transcript_id],
            "start_char": [48],
            "end_char": [137],
            "theme": ["language_barrier"],
            "segment_id": [""],
        }
    )


def _merge(project: Path, gold: pd.DataFrame | None, transcripts: Path | None = None):
    from pipeline.review.training import with_review_decisions

    corpus = load_corpus(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
    )
    segments = corpus.segments[corpus.segments.role != "interviewer"].reset_index(drop=True)
    merged = with_review_decisions(
        segments,
        corpus.tags,
        gold,
        log_path=project / "reports" / "review.sqlite",
        transcripts_dir=transcripts or project / "transcripts",
        theme_ids=corpus.codebook.theme_ids,
    )
    return segments, merged


def test_an_empty_log_is_not_used_and_changes_nothing(project: Path) -> None:
    ReviewLog.open(project / "reports" / "review.sqlite")
    segments, merged = _merge(project, _gold())
    assert not merged.used and merged.why_not == "it holds no decisions"
    assert merged.gold.equals(_gold()) and merged.segments.equals(segments)


def test_decisions_only_on_coded_transcripts_merge(project: Path) -> None:
    decide(project, BARRIER, "reject", before="language_barrier")
    decide(project, CARDS, "add", after="mentor")
    _, merged = _merge(project, _gold())
    assert merged.used and (merged.decisions, merged.matching, merged.positives, merged.negatives) == (2, 2, 1, 1)
    codes = merged.gold.sort_values(["start_char"])[["coder", "start_char", "end_char", "theme"]].values.tolist()
    assert codes == [["cy", 103, 137, "language_barrier"], ["review", 323, 361, "mentor"]]


def test_a_log_of_other_transcripts_is_not_used(project: Path, tmp_path: Path) -> None:
    decide(project, BARRIER, "reject", before="language_barrier")
    other = tmp_path / "other"
    other.mkdir()
    (other / "x1.txt").write_text("Respondent: Nothing about languages here at all.\n", encoding="utf-8")
    _, merged = _merge(project, _gold(), transcripts=other)
    assert not merged.used and "none of its 1 decisions is on a transcript in" in merged.why_not
    same_names = tmp_path / "same_names"
    same_names.mkdir()
    (same_names / "t1_north.txt").write_text("Respondent: " + "Other words entirely. " * 20, encoding="utf-8")
    _, merged = _merge(project, _gold(), transcripts=same_names)
    assert not merged.used and "matches the text of a transcript" in merged.why_not
    assert merged.gold.equals(_gold())

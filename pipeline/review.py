"""Reviewers' decisions applied to the tags table: evidence, review status, coder files and training labels.

Accepted and added tags are evidence, rejected and changed-away tags are not; a change rejects the old
theme and adds the new one. The machine's own call is kept in `machine_evidence`, so reviews can be
re-applied (or undone) from any tags.csv without re-coding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .codebook import Codebook, load_codebook
from .coding import CodedTranscript
from .errors import QualcodeError
from .ingest import Transcript, discover
from .matrix import FindingsMatrix, build_matrix
from .records import Segment
from .report import write_reports
from .review_log import LOG_NAME, REVIEWED, ReviewState, derive_state, read_log
from .table import (CODEBOOK_HASH, CODEBOOK_VERSION, END_CHAR, EVIDENCE, HYPOTHETICAL, METHOD, NEGATED, ROLE,
                    SCORE, SEGMENT_COLUMNS, SEGMENT_ID, SOURCE, SPEAKER, START_CHAR, TAG_COLUMNS, TEXT, THEME,
                    TRANSCRIPT_ID, metadata_frame, read_tags, write_csv)

REVIEW_STATUS = "review_status"
REVIEWER = "reviewer"
MACHINE_EVIDENCE = "machine_evidence"
DECISION_ID = "decision_id"
REVIEW_COLUMNS = [REVIEW_STATUS, REVIEWER, DECISION_ID, MACHINE_EVIDENCE]
HUMAN_METHOD = "human"
CODER_COLUMNS = [TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME]
SPAN = [TRANSCRIPT_ID, START_CHAR, END_CHAR]


def machine_tags(tags: pd.DataFrame) -> pd.DataFrame:
    """The tags as the machine gave them: reviews undone (human rows dropped, machine evidence restored)."""
    if REVIEW_STATUS not in tags.columns:
        return tags.copy()
    machine = tags[tags[METHOD] != HUMAN_METHOD].copy()
    if MACHINE_EVIDENCE in machine.columns:
        machine[EVIDENCE] = machine[MACHINE_EVIDENCE].astype(str).str.lower().eq("true")
    return machine.drop(columns=[c for c in REVIEW_COLUMNS if c in machine.columns]).reset_index(drop=True)


def apply_decisions(
    tags: pd.DataFrame, state: ReviewState, *, segments: pd.DataFrame, codebook: Codebook
) -> pd.DataFrame:
    """The tags table with reviews applied: status and reviewer columns, evidence set by the decisions, and a
    `human` row for every added theme (or accepted theme the machine no longer gives)."""
    tags = machine_tags(tags)
    tags[MACHINE_EVIDENCE] = tags[EVIDENCE].astype(bool)
    tags[REVIEW_STATUS] = "unreviewed"
    tags[REVIEWER] = ""
    tags[DECISION_ID] = pd.array([pd.NA] * len(tags), dtype="Int64")
    row_of = {key: index for index, key in enumerate(zip(*(tags[c] for c in (*SPAN, THEME))))}
    segment_of = {key: row for key, row in zip(zip(*(segments[c] for c in SPAN)), segments.to_dict("records"))}
    human = []
    for decision in state.current.to_dict("records"):
        status = decision["status"]
        if status not in REVIEWED:
            continue
        key = (decision[TRANSCRIPT_ID], int(decision[START_CHAR]), int(decision[END_CHAR]), decision[THEME])
        index = row_of.get(key)
        if index is not None:
            shown = "accepted" if status == "added" else status
            tags.iloc[index, tags.columns.get_indexer([REVIEW_STATUS, REVIEWER, DECISION_ID])] = [
                shown, decision["reviewer"], decision["decision_id"]]
        elif status in ("accepted", "added") and key[:3] in segment_of:
            human.append(_human_row(segment_of[key[:3]], key[3], decision, codebook))
    if human:
        tags = pd.concat([tags, pd.DataFrame(human)], ignore_index=True)
    for key in _stale_keys(state):
        index = row_of.get(key)
        if index is not None and tags.at[index, REVIEW_STATUS] == "unreviewed":
            tags.at[index, REVIEW_STATUS] = "stale"
    respondent = tags[ROLE] != "interviewer"
    positive = tags[REVIEW_STATUS].isin(["accepted", "added"])
    negative = tags[REVIEW_STATUS].isin(["rejected", "changed"])
    tags[EVIDENCE] = (tags[EVIDENCE].astype(bool) & ~negative) | (positive & respondent)
    order = {tid: n for n, tid in enumerate(dict.fromkeys(tags[TRANSCRIPT_ID]))}
    tags = tags.sort_values([TRANSCRIPT_ID, START_CHAR, END_CHAR], key=lambda s: s.map(order) if s.name ==
                            TRANSCRIPT_ID else s, kind="stable").reset_index(drop=True)
    return tags[[*TAG_COLUMNS, *REVIEW_COLUMNS, *[c for c in tags.columns if c not in TAG_COLUMNS + REVIEW_COLUMNS]]]


def _human_row(segment: Mapping[str, Any], theme: str, decision: Mapping[str, Any], codebook: Codebook) -> dict:
    return {
        SEGMENT_ID: segment[SEGMENT_ID], TRANSCRIPT_ID: segment[TRANSCRIPT_ID], SOURCE: segment[SOURCE],
        SPEAKER: segment[SPEAKER], ROLE: segment[ROLE], START_CHAR: int(segment[START_CHAR]),
        END_CHAR: int(segment[END_CHAR]), TEXT: segment[TEXT], THEME: theme, METHOD: HUMAN_METHOD, "rule_id": "",
        "matched": "", "match_start": pd.NA, "match_end": pd.NA, SCORE: math.nan, "model": "", NEGATED: False,
        HYPOTHETICAL: False, "trigger": "", EVIDENCE: False, CODEBOOK_VERSION: codebook.version,
        CODEBOOK_HASH: codebook.hash, MACHINE_EVIDENCE: False, REVIEW_STATUS: decision["status"],
        REVIEWER: decision["reviewer"], DECISION_ID: decision["decision_id"],
    }


def _stale_keys(state: ReviewState) -> set[tuple]:
    keys = set()
    for row in state.stale.to_dict("records"):
        span = (row[TRANSCRIPT_ID], int(row[START_CHAR]), int(row[END_CHAR]))
        keys.update((*span, theme) for theme in (row["theme_before"], row["theme_after"]) if theme)
    return keys


def review_counts(state: ReviewState, tags: pd.DataFrame) -> dict[str, Any]:
    """What run.json records about reviews: decisions, reviewers, reviewed tags by status, stale decisions."""
    statuses = tags[REVIEW_STATUS].value_counts() if REVIEW_STATUS in tags else pd.Series(dtype=int)
    return {
        "decisions": state.n_decisions,
        "reviewers": sorted(set(state.current["reviewer"]) - {""}),
        "reviewed_tags": int(statuses.reindex(list(REVIEWED)).fillna(0).sum()),
        "by_status": {status: int(statuses.get(status, 0)) for status in (*REVIEWED, "stale", "unreviewed")},
        "stale_decisions": int(len(state.stale)),
    }


def transcript_texts(transcripts: Sequence[Transcript]) -> dict[str, str]:
    return {t.id: t.text for t in transcripts}


def apply_saved_reviews(
    out: Path, *, tags: pd.DataFrame, segments: pd.DataFrame, transcripts: Sequence[Transcript], codebook: Codebook
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """`qualcode run`'s hook: tags with the decisions of `<out>/review.sqlite` applied, and their counts
    (the tags unchanged and None when there is no review log)."""
    path = Path(out) / LOG_NAME
    if not path.exists():
        return tags, None
    state = derive_state(read_log(path), segments=segments, texts=transcript_texts(transcripts),
                         theme_ids=codebook.theme_ids)
    reviewed = apply_decisions(tags, state, segments=segments, codebook=codebook)
    return reviewed, review_counts(state, reviewed)


def coder_frame(state: ReviewState) -> pd.DataFrame:
    """One reviewer's positive codes as a coder file table: accepted, added and changed-to themes."""
    current = state.current
    positive = current[current["status"].isin(["accepted", "added"])]
    return positive[CODER_COLUMNS].sort_values(CODER_COLUMNS).reset_index(drop=True)


def review_labels(state: ReviewState, *, segments: pd.DataFrame) -> pd.DataFrame:
    """Training labels from decisions: one row per segment x theme, `label` True (accepted, added) or False
    (rejected, changed away), with the segment's id and text."""
    current = state.current[state.current["status"].isin(REVIEWED)]
    labelled = current.merge(segments[[*SPAN, SEGMENT_ID, TEXT]], on=SPAN, how="inner")
    labelled = labelled.assign(label=labelled["status"].isin(["accepted", "added"]))
    return labelled[[SEGMENT_ID, *SPAN, TEXT, THEME, "label"]].sort_values([SEGMENT_ID, THEME]).reset_index(drop=True)


@dataclass(frozen=True)
class Corpus:
    """A finished run as the review app and regeneration need it: tags, segments, transcripts, codebook."""

    codebook: Codebook
    transcripts: list[Transcript]
    tags: pd.DataFrame
    segments: pd.DataFrame
    run: dict[str, Any]

    @property
    def texts(self) -> dict[str, str]:
        return transcript_texts(self.transcripts)


def load_corpus(*, reports_dir: Path, transcripts_dir: Path, codebook_path: Path) -> Corpus:
    """Read the reports of the last `qualcode run` (machine tags, segments, run.json) and the transcripts."""
    reports_dir = Path(reports_dir)
    needed = [reports_dir / name for name in ("tags.csv", "segments.csv", "run.json")]
    missing = [p for p in needed if not p.exists()]
    if missing:
        raise QualcodeError("no finished run here: run `qualcode run` first", path=missing[0])
    codebook = load_codebook(codebook_path)
    if not Path(transcripts_dir).is_dir():
        raise QualcodeError("transcripts folder not found", path=transcripts_dir)
    transcripts, _ = discover(Path(transcripts_dir))
    segments = pd.read_csv(reports_dir / "segments.csv", dtype={TEXT: str, SPEAKER: str}, keep_default_na=False)
    segments = segments.reindex(columns=SEGMENT_COLUMNS)
    for column in (TEXT, SPEAKER):
        segments[column] = segments[column].astype(str).str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)
    try:
        run = json.loads((reports_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QualcodeError(f"cannot read run record: {exc}", path=reports_dir / "run.json") from exc
    return Corpus(codebook=codebook, transcripts=transcripts, tags=machine_tags(read_tags(reports_dir / "tags.csv")),
                  segments=segments, run=run)


def regenerate_reports(
    *, reports_dir: Path, transcripts_dir: Path, codebook_path: Path
) -> tuple[FindingsMatrix, dict[str, Any]]:
    """Rewrite the matrix and reports from the last run's tags plus the review log, without re-coding.

    Refuses (QualcodeError) when the codebook or a transcript changed since the run: then `qualcode run`.
    """
    corpus = load_corpus(reports_dir=reports_dir, transcripts_dir=transcripts_dir, codebook_path=codebook_path)
    ran_with = corpus.run.get("codebook", {}).get("hash")
    if ran_with and ran_with != corpus.codebook.hash:
        raise QualcodeError("the codebook changed since the last run: run `qualcode run` instead",
                            path=codebook_path)
    coded = _coded(corpus)
    by = corpus.run.get("options", {}).get("by", "side")
    metadata = metadata_frame([c.transcript for c in coded])
    tags, counts = apply_saved_reviews(Path(reports_dir), tags=corpus.tags, segments=corpus.segments,
                                       transcripts=corpus.transcripts, codebook=corpus.codebook)
    matrix = build_matrix(tags, metadata, corpus.codebook, by=by if by in metadata.columns else "side")
    evidence = tags[tags[EVIDENCE]]
    run = dict(corpus.run)
    run["counts"] = {**run.get("counts", {}), "tags": int(len(tags)), "evidence_tags": int(len(evidence)),
                     "evidence_tags_by_theme": {k: int(v) for k, v in
                                                evidence[THEME].value_counts().sort_index().items()}}
    if counts is not None:
        run["review"] = counts
    write_reports(reports_dir, coded=coded, tags=tags, segments=corpus.segments, metadata=metadata, matrix=matrix,
                  codebook=corpus.codebook, run=run)
    return matrix, run


def _coded(corpus: Corpus) -> list[CodedTranscript]:
    """The run's transcripts with their segments (from segments.csv), checked against the files' text."""
    by_transcript = {tid: frame for tid, frame in corpus.segments.groupby(TRANSCRIPT_ID, sort=False)}
    coded = []
    for transcript in corpus.transcripts:
        frame = by_transcript.get(transcript.id)
        if frame is None:
            continue
        segments = [Segment(**{**row, "start_char": int(row[START_CHAR]), "end_char": int(row[END_CHAR]),
                               "turn_index": int(row["turn_index"])}) for row in frame.to_dict("records")]
        changed = next((s for s in segments if transcript.text[s.start_char:s.end_char] != s.text), None)
        if changed is not None:
            raise QualcodeError(f"the transcript changed since the last run (characters {changed.start_char}-"
                                f"{changed.end_char}): run `qualcode run` instead", path=transcript.path)
        coded.append(CodedTranscript(transcript=transcript, segments=segments))
    return coded


def export_coder_file(
    *, reviewer: str, out: Path, reports_dir: Path, transcripts_dir: Path, codebook_path: Path
) -> tuple[Path, int, int]:
    """Write one reviewer's current codes as a coder file for `qualcode agree`; (path, codes, stale skipped)."""
    log = Path(reports_dir) / LOG_NAME
    if not log.exists():
        raise QualcodeError("no review log: review tags with `qualcode review` first", path=log)
    corpus = load_corpus(reports_dir=reports_dir, transcripts_dir=transcripts_dir, codebook_path=codebook_path)
    decisions = read_log(log)
    if reviewer not in set(decisions["reviewer"]):
        known = ", ".join(sorted(set(decisions["reviewer"]))) or "none"
        raise QualcodeError(f"no decisions by reviewer {reviewer!r} (reviewers: {known})", path=log)
    state = derive_state(decisions, segments=corpus.segments, texts=corpus.texts,
                         theme_ids=corpus.codebook.theme_ids, reviewer=reviewer)
    codes = coder_frame(state)
    path = write_csv(codes, out)
    return path, len(codes), len(state.stale)


REVIEW_CODER = "review"


@dataclass(frozen=True)
class ReviewTraining:
    """Training data with the reviewers' decisions merged in: the segments to learn from and the codes."""

    segments: pd.DataFrame
    gold: pd.DataFrame
    positives: int = 0
    negatives: int = 0
    not_applied: int = 0


def with_review_decisions(
    segments: pd.DataFrame, rule_tags: pd.DataFrame, gold: pd.DataFrame | None, *, log_path: Path,
    transcripts_dir: Path, theme_ids: Sequence[str],
) -> ReviewTraining:
    """Merge review decisions into coder codes for `qualcode train`, the decisions winning.

    In a coder's transcript an accepted or added theme becomes a code, and a rejected one is cut out of the
    coder's spans (a negative). A transcript no coder coded adds only its reviewed segments: decided themes
    as decided, other themes as the rules tagged them (so no unreviewed segment becomes a negative).
    """
    columns = ["coder", TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]
    gold = gold.copy() if gold is not None else pd.DataFrame(columns=columns)
    if not Path(log_path).exists():
        return ReviewTraining(segments=segments, gold=gold)
    transcripts, _ = discover(Path(transcripts_dir))
    state = derive_state(read_log(log_path), segments=segments, texts=transcript_texts(transcripts),
                         theme_ids=theme_ids)
    labels = review_labels(state, segments=segments)
    coded = set(gold[TRANSCRIPT_ID])
    for row in labels[~labels["label"]].itertuples(index=False):
        gold = _cut(gold, row.transcript_id, int(row.start_char), int(row.end_char), row.theme)
    positives = labels[labels["label"]]
    reviewed_only = labels[~labels[TRANSCRIPT_ID].isin(coded)]
    decided = set(zip(labels[SEGMENT_ID], labels[THEME]))
    machine = rule_tags[rule_tags[EVIDENCE] & rule_tags[SEGMENT_ID].isin(set(reviewed_only[SEGMENT_ID]))]
    machine = machine[[(s, t) not in decided for s, t in zip(machine[SEGMENT_ID], machine[THEME])]]
    added = pd.concat([positives[[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]],
                       machine[[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]]], ignore_index=True)
    added.insert(0, "coder", REVIEW_CODER)
    merged = pd.concat([gold, added], ignore_index=True) if len(added) else gold
    for column in (START_CHAR, END_CHAR):
        merged[column] = merged[column].astype("int64")
    keep = segments[TRANSCRIPT_ID].isin(coded) | segments[SEGMENT_ID].isin(set(labels[SEGMENT_ID]))
    return ReviewTraining(segments=segments[keep].reset_index(drop=True), gold=merged.reset_index(drop=True),
                          positives=int(labels["label"].sum()), negatives=int((~labels["label"]).sum()),
                          not_applied=len(state.stale))


def _cut(gold: pd.DataFrame, transcript_id: str, start: int, end: int, theme: str) -> pd.DataFrame:
    """Coder spans of `theme` with [start, end) removed: what is left of each before and after it."""
    hit = ((gold[TRANSCRIPT_ID] == transcript_id) & (gold[THEME] == theme)
           & (gold[START_CHAR] < end) & (start < gold[END_CHAR]))
    if not hit.any():
        return gold
    pieces = []
    for row in gold[hit].to_dict("records"):
        if row[START_CHAR] < start:
            pieces.append({**row, END_CHAR: start, SEGMENT_ID: ""})
        if end < row[END_CHAR]:
            pieces.append({**row, START_CHAR: end, SEGMENT_ID: ""})
    return pd.concat([gold[~hit], pd.DataFrame(pieces, columns=gold.columns)], ignore_index=True)

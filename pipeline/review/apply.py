"""Reviewers' decisions applied to the tags table: evidence, review status, coder files and training labels.

Accepted and added tags are evidence, rejected and changed-away tags are not (`evidence_reason` "rejected"),
whatever the machine's call or its precision bar; a change rejects the old theme and adds the new one. The
machine's own call is kept in `machine_evidence`, so reviews can be re-applied (or undone) from any tags.csv
without re-coding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.model import Codebook
from pipeline.coding.table import (
    CODEBOOK_HASH,
    CODEBOOK_VERSION,
    END_CHAR,
    EVIDENCE,
    EVIDENCE_REASON,
    HYPOTHETICAL,
    MATCH_END,
    MATCH_START,
    MATCHED,
    METHOD,
    MODEL,
    NEGATED,
    ROLE,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    SOURCE,
    SPEAKER,
    START_CHAR,
    TAG_COLUMNS,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    TRIGGER,
)
from pipeline.ingest.records import Transcript
from pipeline.review.log import LOG_NAME, REVIEWED, ReviewState, derive_state, read_log

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
        if EVIDENCE_REASON in machine.columns:
            machine[EVIDENCE_REASON] = machine_reasons(machine)
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
                shown,
                decision["reviewer"],
                decision["decision_id"],
            ]
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
    if EVIDENCE_REASON not in tags.columns:
        tags[EVIDENCE_REASON] = machine_reasons(tags.assign(**{EVIDENCE: tags[MACHINE_EVIDENCE]}))
    tags[EVIDENCE_REASON] = tags[EVIDENCE_REASON].fillna("").astype(str).mask(negative, "rejected")
    tags.loc[positive & respondent, EVIDENCE_REASON] = ""
    order = {tid: n for n, tid in enumerate(dict.fromkeys(tags[TRANSCRIPT_ID]))}
    tags = tags.sort_values(
        [TRANSCRIPT_ID, START_CHAR, END_CHAR],
        key=lambda s: s.map(order) if s.name == TRANSCRIPT_ID else s,
        kind="stable",
    ).reset_index(drop=True)
    return tags[[*TAG_COLUMNS, *REVIEW_COLUMNS, *[c for c in tags.columns if c not in TAG_COLUMNS + REVIEW_COLUMNS]]]


def machine_reasons(tags: pd.DataFrame) -> pd.Series:
    """Why each machine tag is not evidence, from its columns: interviewer, negated, hypothetical, else (not
    evidence for none of those) below_precision_bar; "" for evidence."""
    reasons = pd.Series("", index=tags.index, dtype=object)
    reasons[~tags[EVIDENCE].astype(bool)] = "below_precision_bar"
    reasons[tags[HYPOTHETICAL].astype(bool)] = "hypothetical"
    reasons[tags[NEGATED].astype(bool)] = "negated"
    reasons[tags[ROLE] == "interviewer"] = "interviewer"
    return reasons


def _human_row(segment: Mapping[str, Any], theme: str, decision: Mapping[str, Any], codebook: Codebook) -> dict:
    return {
        SEGMENT_ID: segment[SEGMENT_ID],
        TRANSCRIPT_ID: segment[TRANSCRIPT_ID],
        SOURCE: segment[SOURCE],
        SPEAKER: segment[SPEAKER],
        ROLE: segment[ROLE],
        START_CHAR: int(segment[START_CHAR]),
        END_CHAR: int(segment[END_CHAR]),
        TEXT: segment[TEXT],
        THEME: theme,
        METHOD: HUMAN_METHOD,
        RULE_ID: "",
        MATCHED: "",
        MATCH_START: pd.NA,
        MATCH_END: pd.NA,
        SCORE: math.nan,
        MODEL: "",
        NEGATED: False,
        HYPOTHETICAL: False,
        TRIGGER: "",
        EVIDENCE: False,
        EVIDENCE_REASON: "interviewer" if segment[ROLE] == "interviewer" else "",
        CODEBOOK_VERSION: codebook.version,
        CODEBOOK_HASH: codebook.hash,
        MACHINE_EVIDENCE: False,
        REVIEW_STATUS: decision["status"],
        REVIEWER: decision["reviewer"],
        DECISION_ID: decision["decision_id"],
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


def apply_saved_reviews(
    out: Path, *, tags: pd.DataFrame, segments: pd.DataFrame, transcripts: Sequence[Transcript], codebook: Codebook
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """`qualcode run`'s hook: tags with the decisions of `<out>/review.sqlite` applied, and their counts
    (the tags unchanged and None when there is no review log)."""
    path = Path(out) / LOG_NAME
    if not path.exists():
        return tags, None
    state = derive_state(
        read_log(path), segments=segments, texts=transcript_texts(transcripts), theme_ids=codebook.theme_ids
    )
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


def transcript_texts(transcripts: Sequence[Transcript]) -> dict[str, str]:
    return {t.id: t.text for t in transcripts}

"""Reviewer decisions as training labels: accepted and added tags are positives, rejected ones negatives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.coding.table import (
    END_CHAR,
    EVIDENCE,
    SEGMENT_ID,
    START_CHAR,
    THEME,
    TRANSCRIPT_ID,
)
from pipeline.ingest.read import read_folder
from pipeline.review.apply import review_labels, transcript_texts
from pipeline.review.log import derive_state, read_log, text_sha

REVIEW_CODER = "review"


@dataclass(frozen=True)
class ReviewTraining:
    """Training data with the reviewers' decisions merged in: the segments to learn from and the codes; when
    the log was not used (`used` False), the segments and codes as given and why not."""

    segments: pd.DataFrame
    gold: pd.DataFrame
    positives: int = 0
    negatives: int = 0
    not_applied: int = 0
    decisions: int = 0
    matching: int = 0
    used: bool = False
    why_not: str = ""


def with_review_decisions(
    segments: pd.DataFrame,
    rule_tags: pd.DataFrame,
    gold: pd.DataFrame | None,
    *,
    log_path: Path,
    transcripts_dir: Path,
    theme_ids: Sequence[str],
) -> ReviewTraining:
    """Merge review decisions into coder codes for `qualcode train`, the decisions winning.

    In a coder's transcript an accepted or added theme becomes a code, and a rejected one is cut out of the
    coder's spans (a negative). A transcript no coder coded adds only its reviewed segments: decided themes
    as decided, other themes as the rules tagged them (so no unreviewed segment becomes a negative).

    The log is used only if it belongs to these transcripts: at least one decision names a transcript here
    and the text at its offsets still hashes as when it was decided. Otherwise nothing is merged (why_not).
    """
    columns = ["coder", TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]
    gold = gold.copy() if gold is not None else pd.DataFrame(columns=columns)
    if not Path(log_path).exists():
        return ReviewTraining(segments=segments, gold=gold, why_not="there is no review log")
    decisions = read_log(log_path)
    if decisions.empty:
        return ReviewTraining(segments=segments, gold=gold, why_not="it holds no decisions")
    transcripts, _ = read_folder(transcripts_dir, allow_empty=True)
    texts = transcript_texts(transcripts)
    matching = sum(
        row.transcript_id in texts
        and text_sha(texts[row.transcript_id][int(row.start_char) : int(row.end_char)]) == row.text_sha
        for row in decisions.itertuples(index=False)
    )
    if not matching:
        known = decisions[TRANSCRIPT_ID].isin(list(texts)).any()
        return ReviewTraining(
            segments=segments,
            gold=gold,
            decisions=len(decisions),
            why_not=(
                f"none of its {len(decisions)} decisions matches the text of a transcript in {transcripts_dir}"
                if known
                else f"none of its {len(decisions)} decisions is on a transcript in {transcripts_dir}"
            )
            + " (a log of another project?)",
        )
    state = derive_state(decisions, segments=segments, texts=texts, theme_ids=theme_ids)
    labels = review_labels(state, segments=segments)
    coded = set(gold[TRANSCRIPT_ID])
    for row in labels[~labels["label"]].itertuples(index=False):
        gold = _cut(gold, row.transcript_id, int(row.start_char), int(row.end_char), row.theme)
    positives = labels[labels["label"]]
    reviewed_only = labels[~labels[TRANSCRIPT_ID].isin(coded)]
    decided = set(zip(labels[SEGMENT_ID], labels[THEME]))
    machine = rule_tags[rule_tags[EVIDENCE] & rule_tags[SEGMENT_ID].isin(set(reviewed_only[SEGMENT_ID]))]
    undecided = [(s, t) not in decided for s, t in zip(machine[SEGMENT_ID], machine[THEME])]
    machine = machine[pd.Series(undecided, index=machine.index, dtype=bool)]  # an empty list would pick columns
    added = pd.concat(
        [
            positives[[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]],
            machine[[TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME, SEGMENT_ID]],
        ],
        ignore_index=True,
    )
    added.insert(0, "coder", REVIEW_CODER)
    merged = pd.concat([gold, added], ignore_index=True) if len(added) else gold
    for column in (START_CHAR, END_CHAR):
        merged[column] = merged[column].astype("int64")
    keep = segments[TRANSCRIPT_ID].isin(coded) | segments[SEGMENT_ID].isin(set(labels[SEGMENT_ID]))
    return ReviewTraining(
        segments=segments[keep].reset_index(drop=True),
        gold=merged.reset_index(drop=True),
        positives=int(labels["label"].sum()),
        negatives=int((~labels["label"]).sum()),
        not_applied=len(state.stale),
        decisions=len(decisions),
        matching=matching,
        used=True,
    )


def _cut(gold: pd.DataFrame, transcript_id: str, start: int, end: int, theme: str) -> pd.DataFrame:
    """Coder spans of `theme` with [start, end) removed: what is left of each before and after it."""
    hit = (
        (gold[TRANSCRIPT_ID] == transcript_id)
        & (gold[THEME] == theme)
        & (gold[START_CHAR] < end)
        & (start < gold[END_CHAR])
    )
    if not hit.any():
        return gold
    pieces = []
    for row in gold[hit].to_dict("records"):
        if row[START_CHAR] < start:
            pieces.append({**row, END_CHAR: start, SEGMENT_ID: ""})
        if end < row[END_CHAR]:
            pieces.append({**row, START_CHAR: end, SEGMENT_ID: ""})
    return pd.concat([gold[~hit], pd.DataFrame(pieces, columns=gold.columns)], ignore_index=True)

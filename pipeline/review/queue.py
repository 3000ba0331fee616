"""What reviewers see first: the review queue (least certain tags first, then themes with fewest reviews),
its filters, and per-theme agreement between the machine and the reviewers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from pipeline.codebook.model import Codebook
from pipeline.coding.table import (
    END_CHAR,
    HYPOTHETICAL,
    MATCHED,
    METHOD,
    NEGATED,
    RULE_ID,
    SCORE,
    START_CHAR,
    THEME,
    TRANSCRIPT_ID,
    TRIGGER,
)
from pipeline.measure.agreement import theme_scores
from pipeline.review.apply import HUMAN_METHOD, MACHINE_EVIDENCE, REVIEW_STATUS
from pipeline.review.log import REVIEWED, STATUSES

DEFAULT_THRESHOLD = 0.5
CERTAINTY = "certainty"
THEME_REVIEWED = "theme_reviewed"
RULE_WITH_TRIGGER, RULE_SINGLE_MATCH, RULE_SEVERAL_MATCHES, RULE_MODEL_DISAGREE = 0.5, 0.6, 0.9, 0.25


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters; empty values mean "any". `status` "all" shows reviewed tags too."""

    theme: str = ""
    transcript: str = ""
    status: str = "unreviewed"
    method: str = ""
    min_score: float | None = None
    max_score: float | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilter:
        """Filters from a query string; ValueError names a bad value."""
        status = args.get("status", "unreviewed") or "unreviewed"
        if status not in (*STATUSES, "all"):
            raise ValueError(f"unknown status {status!r}")
        return cls(
            theme=args.get("theme", ""),
            transcript=args.get("transcript", ""),
            status=status,
            method=args.get("method", ""),
            min_score=_score(args.get("min_score")),
            max_score=_score(args.get("max_score")),
        )

    def query(self) -> dict[str, str]:
        """The non-default filters as query parameters, to carry them from page to page."""
        values = {k: ("" if v is None else str(v)) for k, v in asdict(self).items()}
        return {k: v for k, v in values.items() if v and not (k == "status" and v == "unreviewed")}

    def apply(self, queue: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=queue.index)
        if self.theme:
            keep &= queue[THEME] == self.theme
        if self.transcript:
            keep &= queue[TRANSCRIPT_ID] == self.transcript
        if self.status != "all":
            keep &= queue[REVIEW_STATUS] == self.status
        if self.method:
            keep &= queue[METHOD] == self.method
        if self.min_score is not None:
            keep &= queue[SCORE].ge(self.min_score).fillna(False)
        if self.max_score is not None:
            keep &= queue[SCORE].le(self.max_score).fillna(False)
        return queue[keep]


def _score(value: str | None) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"score {value!r} is not between 0 and 1")
    return number


def certainty(row: Mapping[str, Any], *, threshold: float = DEFAULT_THRESHOLD) -> float:
    """How sure the machine was of a tag, 0 (a coin toss) to 1: the weakest of its signals.

    A classifier score counts by its distance from the theme's threshold; a rule tag by its strength (a
    context trigger nearby 0.5, one matched phrase 0.6, several 0.9); a rule the classifier scores below
    threshold 0.25. Human tags are 1.
    """
    method = str(row[METHOD])
    if method == HUMAN_METHOD:
        return 1.0
    signals = []
    score = row[SCORE]
    has_score = score is not None and not (isinstance(score, float) and math.isnan(score))
    if has_score:
        signals.append(abs(float(score) - threshold) / max(threshold, 1 - threshold))
    if "rule" in method:
        if row[NEGATED] or row[HYPOTHETICAL] or str(row[TRIGGER] or ""):
            signals.append(RULE_WITH_TRIGGER)
        else:
            rules = [r for r in str(row[RULE_ID] or "").split(";") if r]
            phrases = [m for m in str(row[MATCHED] or "").split(" | ") if m]
            signals.append(RULE_SINGLE_MATCH if len(rules) <= 1 and len(phrases) <= 1 else RULE_SEVERAL_MATCHES)
        if has_score and float(score) < threshold:
            signals.append(RULE_MODEL_DISAGREE)
    return round(min(signals), 4) if signals else 1.0


def build_queue(reviewed_tags: pd.DataFrame, *, thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Every tag in review order: least certain first, then themes with the fewest reviewed tags, then text order."""
    thresholds = thresholds or {}
    queue = reviewed_tags.copy()
    queue[CERTAINTY] = [
        certainty(row, threshold=float(thresholds.get(row[THEME], DEFAULT_THRESHOLD)))
        for row in queue.to_dict("records")
    ]
    reviewed_per_theme = queue[queue[REVIEW_STATUS].isin(REVIEWED)][THEME].value_counts()
    queue[THEME_REVIEWED] = queue[THEME].map(reviewed_per_theme).fillna(0).astype(int)
    transcript_order = {tid: n for n, tid in enumerate(dict.fromkeys(queue[TRANSCRIPT_ID]))}
    queue["_transcript"] = queue[TRANSCRIPT_ID].map(transcript_order)
    queue = queue.sort_values([CERTAINTY, THEME_REVIEWED, "_transcript", START_CHAR, END_CHAR, THEME], kind="stable")
    return queue.drop(columns="_transcript").reset_index(drop=True)


def machine_agreement(reviewed_tags: pd.DataFrame, decisions: pd.DataFrame, *, codebook: Codebook) -> pd.DataFrame:
    """Per theme, the machine's call (evidence or not) against the reviewers' on every reviewed tag: Cohen's
    kappa, precision, recall (from pipeline.agreement), confusion counts and the number of decisions."""
    reviewed = reviewed_tags[reviewed_tags[REVIEW_STATUS].isin(REVIEWED)]
    rows = []
    for theme in codebook.themes:
        own = reviewed[reviewed[THEME] == theme.id]
        human = own[REVIEW_STATUS].isin(["accepted", "added"]).to_numpy()
        machine = own[MACHINE_EVIDENCE].astype(bool).to_numpy()
        nan = math.nan
        scores = theme_scores(human, machine) if len(own) else {"kappa": nan, "precision": nan, "recall": nan}
        touched = (decisions["theme_before"] == theme.id) | (decisions["theme_after"] == theme.id)
        rows.append(
            {
                THEME: theme.id,
                "label": theme.label,
                "decisions": int(touched.sum()),
                "reviewed_tags": len(own),
                "tags": int((reviewed_tags[THEME] == theme.id).sum()),
                "agree": int((human == machine).sum()),
                "machine_only": int((machine & ~human).sum()),
                "reviewer_only": int((human & ~machine).sum()),
                "kappa": scores["kappa"],
                "precision": scores["precision"],
                "recall": scores["recall"],
            }
        )
    return pd.DataFrame(rows)

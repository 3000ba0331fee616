""" "How these tags were made": the method and its measured accuracy, in words every report prints.

Built from run.json alone (its `tagging` block, written by `qualcode run` from the model card), so the
matrix, the transcript pages and every annex format say the same thing about the same run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.classifier.precision import NO_EVIDENCE, SET_LABELS

HEADING = "How these tags were made"


@dataclass(frozen=True)
class TaggingStatement:
    """The method in a few lines, and per theme the measured accuracy of the tags that count as its evidence."""

    lines: tuple[str, ...]
    per_theme: Mapping[str, str] = field(default_factory=dict)
    short: str = ""
    precision: Mapping[str, float | None] = field(default_factory=dict)

    def precision_text(self, theme: str) -> str:
        """The measured precision of a theme's evidence tags, "n/a" when unmeasured or nothing counts."""
        value = self.precision.get(theme)
        return "n/a" if value is None else f"{value:.2f}"

    def theme_text(self, theme: str) -> str:
        """One theme's line ("accuracy not recorded" for a run.json from before the tagging block)."""
        return self.per_theme.get(theme, "tag accuracy not recorded")


def _figure(value: Any) -> str:
    return "unmeasured" if value is None else f"{float(value):.2f}"


def _theme_text(figures: Mapping[str, Any], *, bar: float) -> str:
    source = figures.get("evidence_from", "rules")
    if source == NO_EVIDENCE:
        measured = [
            f"{name} {_figure(figures.get(key))}"
            for name, key in (("rules", "rules_precision"), ("classifier", "classifier_precision"))
            if figures.get(key) is not None
        ]
        return f"no unreviewed tag counts: measured precision {', '.join(measured)} is under the bar {bar:.2f}"
    if figures.get("precision") is None:
        return f"evidence from {SET_LABELS.get(source, source)}; accuracy unmeasured"
    return (
        f"evidence from {SET_LABELS.get(source, source)}: precision {_figure(figures['precision'])}, "
        f"recall {_figure(figures.get('recall'))}, F1 {_figure(figures.get('f1'))} (grouped CV)"
    )


def tagging_statement(run: Mapping[str, Any], *, reviewed: int, total: int) -> TaggingStatement:
    """The statement for a run record; `reviewed` of `total` tags carry a reviewer's decision."""
    tagging = run.get("tagging")
    share = f" ({100 * reviewed / total:.0f}%)" if total else ""
    review = (
        f"Reviewed: {reviewed} of {total} tags{share} carry a person's decision; reviewer-accepted tags always "
        "count, rejected ones never."
    )
    if not tagging:
        return TaggingStatement(
            lines=(
                "Not recorded: this run.json is from a qualcode without a tagging record; run `qualcode run` again.",
                review,
            ),
            short="method not recorded",
        )
    bar = float(tagging["min_precision"])
    if tagging.get("model"):
        made = (
            f"Made by: {tagging['rules']}; and the classifier {tagging['model']}, combined with the rules as "
            f"{tagging['combine']}."
        )
        short = f"rules + classifier ({tagging['combine']}), precision bar {bar:.2f}"
    else:
        made = f"Made by: rules only ({tagging['rules']}); no classifier model."
        short = "rules only, accuracy unmeasured" if not tagging.get("measured") else "rules only"
    if tagging.get("measured"):
        trained = tagging.get("trained_on") or {}
        macro = tagging.get("macro") or {}
        modes = "; ".join(
            f"{name}: precision {_figure(m.get('precision'))}, recall {_figure(m.get('recall'))}, "
            f"F1 {_figure(m.get('f1'))}"
            for name, m in macro.items()
            if name in ("rules", "classifier", "union")
        )
        accuracy = (
            f"Measured accuracy ({tagging['measured_by']}; {trained.get('segments', '?')} segments of "
            f"{trained.get('transcripts', '?')} transcripts coded by {', '.join(trained.get('coders', [])) or '?'}), "
            f"macro over themes: {modes or 'per theme only'}."
        )
        bar_line = (
            f"Precision bar {bar:.2f}: {tagging['evidence_rule']} {tagging['below_precision_bar_tags']} tags fell "
            "below it: they stay in tags.csv with evidence False and evidence_reason below_precision_bar."
        )
    else:
        accuracy = (
            "Measured accuracy: none. The rules' accuracy is unmeasured (no model card); measure it against human "
            "coders with `qualcode evaluate --gold coded`, or train a model with `qualcode train`."
        )
        bar_line = f"Precision bar {bar:.2f}: not applied, as no method's precision was measured."
    per_theme = {theme: _theme_text(figures, bar=bar) for theme, figures in (tagging.get("per_theme") or {}).items()}
    precision = {
        theme: figures.get("precision") if figures.get("evidence_from") != NO_EVIDENCE else None
        for theme, figures in (tagging.get("per_theme") or {}).items()
    }
    return TaggingStatement(
        lines=(made, bar_line, accuracy, review), per_theme=per_theme, short=short, precision=precision
    )

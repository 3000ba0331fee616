"""The precision bar: an unreviewed machine tag is evidence only if its method measured precise enough for its theme.

The figures are a model card's out-of-fold precision by cross-validation grouped by transcript
(`combine_measured.per_theme`, written by `qualcode train`). The rule, per theme and tag method:
- `classifier` tags count when the classifier's measured precision is at least the bar;
- `rule` tags count when the rules' measured precision is at least the bar, or when the rules were never
  measured for the theme (no card, or no coded segment of it): then the reports say it is unmeasured;
- `rule+classifier` tags count when either method clears the bar (both found the segment).
Pure functions of card dicts (no scikit-learn), so reports can explain a run from its run.json alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MIN_PRECISION = 0.7
BELOW_PRECISION_BAR = "below_precision_bar"
RULES, CLASSIFIER, UNION, RULES_AND_CLASSIFIER = "rules", "classifier", "union", "rules_and_classifier"
NO_EVIDENCE = "none"
SET_LABELS = {
    RULES: "rules",
    CLASSIFIER: "classifier",
    UNION: "rules or classifier",
    RULES_AND_CLASSIFIER: "rules and classifier both",
    NO_EVIDENCE: "no unreviewed tag (below the bar)",
}
EVIDENCE_RULE = (
    "An unreviewed machine tag counts as evidence only if the method that made it measured a precision of at "
    "least {bar:.2f} for its theme (out-of-fold, cross-validation grouped by transcript, from the model card): "
    "classifier tags by the classifier's precision, rule tags by the rules' precision (kept when the rules were "
    "never measured), rule+classifier tags by either. Reviewer-accepted tags always count; negated, "
    "hypothetical and interviewer mentions never do."
)


def measured_per_theme(card: Mapping[str, Any] | None) -> dict[str, dict[str, dict[str, Any]]]:
    """{set: {theme: {precision, recall, f1, ...}}} from a card's nested grouped CV; a card trained before these
    were recorded gives only its classifier `metrics` (out-of-fold, thresholds chosen on the same folds)."""
    if not card:
        return {}
    measured = (card.get("combine_measured") or {}).get("per_theme")
    if measured:
        return dict(measured)
    return {CLASSIFIER: dict(card["metrics"])} if card.get("metrics") else {}


def measured_by(card: Mapping[str, Any] | None) -> str:
    """How the card's figures were measured, in words for the reports ("" without a card)."""
    if not card:
        return ""
    cv = card.get("cv") or {}
    folds = (card.get("combine_measured") or {}).get("folds", cv.get("folds"))
    if (card.get("combine_measured") or {}).get("per_theme"):
        return f"nested {folds}-fold cross-validation grouped by transcript, against the human coders"
    return (
        f"{folds}-fold cross-validation grouped by transcript, thresholds chosen on the same folds (slightly "
        "optimistic; retrain with `qualcode train` to measure every method)"
    )


def method_precision(measured: Mapping[str, Mapping[str, Any]], theme: str, method_set: str) -> float | None:
    """Measured precision of one method (`rules` or `classifier`) for a theme; None when never measured."""
    figures = (measured.get(method_set) or {}).get(theme)
    return None if figures is None else float(figures["precision"])


def clears_bar(precision: float | None, bar: float, *, unmeasured: bool) -> bool:
    """Whether a measured precision reaches the bar; `unmeasured` is the answer when there is no measurement."""
    return unmeasured if precision is None else precision >= bar


def passes(measured: Mapping[str, Mapping[str, Any]], theme: str, method: str, *, bar: float) -> bool:
    """Whether an unreviewed tag of this method (rule, classifier, rule+classifier) clears the bar for `theme`."""
    rules_ok = clears_bar(method_precision(measured, theme, RULES), bar, unmeasured=True)
    classifier_ok = clears_bar(method_precision(measured, theme, CLASSIFIER), bar, unmeasured=False)
    if method == "classifier":
        return classifier_ok
    if method == "rule+classifier":
        return rules_ok or classifier_ok
    return rules_ok


def evidence_set(measured: Mapping[str, Mapping[str, Any]], theme: str, *, mode: str, learned: bool, bar: float) -> str:
    """Which measured set of segments a theme's unreviewed evidence is, given the combine mode and the bar."""
    rules_ok = passes(measured, theme, "rule", bar=bar)
    classifier_ok = learned and passes(measured, theme, "classifier", bar=bar)
    if not learned or mode == RULES:
        return RULES if rules_ok else NO_EVIDENCE
    if mode == UNION:
        return {(True, True): UNION, (False, True): CLASSIFIER, (True, False): RULES}.get(
            (rules_ok, classifier_ok), NO_EVIDENCE
        )
    return CLASSIFIER if classifier_ok else (RULES_AND_CLASSIFIER if rules_ok else NO_EVIDENCE)


def theme_accuracy(
    card: Mapping[str, Any] | None, themes: Sequence[str], *, mode: str, learned: Sequence[str], bar: float
) -> dict[str, dict[str, Any]]:
    """Per theme: its evidence set and that set's measured precision, recall and F1 (None where unmeasured), and
    the rules' and classifier's own precision, for run.json and every report."""
    measured = measured_per_theme(card)
    result = {}
    for theme in themes:
        chosen = evidence_set(measured, theme, mode=mode, learned=theme in learned, bar=bar)
        figures = (measured.get(chosen) or {}).get(theme) or {}
        result[theme] = {
            "evidence_from": chosen,
            "precision": figures.get("precision"),
            "recall": figures.get("recall"),
            "f1": figures.get("f1"),
            "rules_precision": method_precision(measured, theme, RULES),
            "classifier_precision": method_precision(measured, theme, CLASSIFIER) if theme in learned else None,
        }
    return result

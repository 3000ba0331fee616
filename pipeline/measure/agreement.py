"""Segment-level agreement between coders (people or the machine): per theme precision, recall, F1, Cohen's
kappa, Krippendorff's alpha and percent agreement, macro and micro, with cluster-bootstrap intervals.

Labels are DataFrames indexed by segment id with one column per theme: True (coded), False (not coded) or
missing (the coder did not code that segment's transcript). Point estimates come from scikit-learn and the
`krippendorff` package. Intervals resample whole transcripts (segments of one interview are not independent)
and recompute the same statistics from confusion counts, which add up over transcripts; a test checks those
counts reproduce the libraries' values exactly.

Edge cases, by definition:
- a theme nobody used (no positives from any coder): kappa and alpha are undefined (NaN, with a note),
  percent agreement is 1.0, precision/recall/F1 are NaN;
- identical ratings with variation: kappa = alpha = 1.0;
- identical constant ratings (no variation at all): kappa and alpha NaN, never 1.0 (chance agreement is 1);
- the reference has positives but the candidate none: precision 0 (no credit for silence), recall 0, F1 0;
- the reference has no positives but the candidate some: precision 0, recall NaN, F1 0.
Macro figures average the themes the reference used (support > 0), ignoring NaN; micro figures pool every
segment x theme cell of every theme.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from pipeline.coding.table import THEME

COMPARE_METRICS = ("precision", "recall", "f1", "kappa", "alpha", "percent_agreement")
SUMMARY_METRICS = ("precision", "recall", "f1", "kappa", "alpha")
NOBODY_USED = "nobody used this theme: kappa and alpha undefined (NaN), percent agreement 1.0"
NO_VARIATION = "every segment coded with this theme by every coder: kappa and alpha undefined (NaN)"
REFERENCE_UNUSED = "the reference never used this theme: recall undefined"


@dataclass(frozen=True)
class BootstrapOptions:
    """Cluster bootstrap by transcript: `n_resamples` resamples with a fixed `seed`, percentile intervals."""

    n_resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


# --- point estimates (the libraries) ---------------------------------------------------------------


def cohen_kappa(first: Sequence[bool], second: Sequence[bool]) -> float:
    """Cohen's kappa of two binary codings; NaN when both are the same constant (chance agreement is 1)."""
    a, b = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if len(a) == 0 or (len(set(a.tolist())) == 1 and np.array_equal(a, b)):
        return math.nan
    return float(cohen_kappa_score(a, b, labels=[False, True]))


def krippendorff_alpha(ratings: np.ndarray) -> float:
    """Nominal Krippendorff's alpha of a coders x segments matrix of 0/1 with NaN for missing; NaN when fewer
    than two values are pairable or only one value occurs."""
    ratings = np.asarray(ratings, dtype=float)
    pairable = ratings[:, (~np.isnan(ratings)).sum(axis=0) >= 2]
    values = set(pairable[~np.isnan(pairable)].tolist())
    if pairable.shape[1] == 0 or len(values) < 2:
        return math.nan
    return float(krippendorff.alpha(reliability_data=pairable, level_of_measurement="nominal", value_domain=[0.0, 1.0]))


def percent_agreement(ratings: np.ndarray) -> float:
    """Share of segments (coded by at least two coders) on which every coder made the same call."""
    ratings = np.asarray(ratings, dtype=float)
    pairable = ratings[:, (~np.isnan(ratings)).sum(axis=0) >= 2]
    if pairable.shape[1] == 0:
        return math.nan
    ones = np.nansum(pairable, axis=0)
    present = (~np.isnan(pairable)).sum(axis=0)
    return float(np.mean((ones == 0) | (ones == present)))


def theme_scores(reference: Sequence[bool], candidate: Sequence[bool]) -> dict[str, Any]:
    """Point estimates for one theme: candidate against reference, with the edge cases in the module docstring."""
    ref, cand = np.asarray(reference, dtype=bool), np.asarray(candidate, dtype=bool)
    support, predicted = int(ref.sum()), int(cand.sum())
    precision, recall, f1, _ = precision_recall_fscore_support(
        ref, cand, labels=[True], average=None, zero_division=0.0
    )
    scores: dict[str, Any] = {
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
        "kappa": cohen_kappa(ref, cand),
        "alpha": krippendorff_alpha(np.vstack([ref, cand]).astype(float)),
        "percent_agreement": float(np.mean(ref == cand)) if len(ref) else math.nan,
        "support": support,
        "predicted": predicted,
        "segments": int(len(ref)),
        "note": "",
    }
    if support == 0:
        scores["recall"] = math.nan
        scores["note"] = REFERENCE_UNUSED
        if predicted == 0:
            scores.update(precision=math.nan, f1=math.nan, note=NOBODY_USED)
    elif support == predicted == len(ref) and len(ref):
        scores["note"] = NO_VARIATION
    return scores


# --- cluster bootstrap (confusion counts add up over transcripts) ------------------------------------


def cluster_resamples(groups: Sequence[Any], *, options: BootstrapOptions) -> tuple[np.ndarray, np.ndarray]:
    """(weights, cluster index per segment): weights[r, g] is how often transcript g is drawn in resample r."""
    codes, uniques = pd.factorize(pd.Series(list(groups)), sort=True)
    n_clusters = len(uniques)
    rng = np.random.default_rng(options.seed)
    draws = rng.integers(0, n_clusters, size=(options.n_resamples, n_clusters))
    weights = np.zeros((options.n_resamples, n_clusters))
    np.add.at(weights, (np.repeat(np.arange(options.n_resamples), n_clusters), draws.ravel()), 1.0)
    return weights, np.asarray(codes)


def _by_cluster(values: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum a segments x themes array within each cluster -> clusters x themes."""
    out = np.zeros((n_clusters, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def scores_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    """The pairwise statistics from confusion counts (any shape), with the same edge cases as `theme_scores`."""
    n = tp + fp + fn + tn
    support, predicted = tp + fn, tp + fp
    precision = np.where(predicted > 0, _divide(tp, predicted), np.where(support > 0, 0.0, np.nan))
    recall = _divide(tp, support)
    f1 = _divide(2 * tp, 2 * tp + fp + fn)
    observed = _divide(tp + tn, n)
    chance = _divide(predicted * support + (fn + tn) * (fp + tn), n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(np.isclose(chance, 1.0) | np.isnan(chance), np.nan, (observed - chance) / (1 - chance))
    # Nominal alpha for two coders: pairable values n = 2N, ones n1, zeros n0, disagreeing units o.
    ones, zeros = 2 * tp + fp + fn, 2 * tn + fp + fn
    alpha = 1 - _divide((ones + zeros - 1) * (fp + fn), ones * zeros)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": kappa,
        "alpha": alpha,
        "percent_agreement": observed,
    }


def _interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0; NaN where every resample is NaN."""
    tail = 100 * (1 - confidence) / 2
    valid = ~np.isnan(samples).all(axis=0)
    low = np.full(samples.shape[1:], np.nan)
    high = np.full(samples.shape[1:], np.nan)
    if valid.any():
        low[valid], high[valid] = np.nanpercentile(samples[:, valid], [tail, 100 - tail], axis=0)
    return low, high


def _nanmean_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the last axis of `values` where `mask`, ignoring NaN; NaN when nothing is left."""
    use = mask & ~np.isnan(values)
    total = np.where(use, values, 0.0).sum(axis=-1)
    count = use.sum(axis=-1)
    return _divide(total, count)


# --- candidate against reference --------------------------------------------------------------------


@dataclass
class Comparison:
    """A candidate coding measured against a reference: per theme, macro and micro, with intervals."""

    per_theme: pd.DataFrame
    macro: dict[str, Any]
    micro: dict[str, Any]
    bootstrap: BootstrapOptions | None = None
    transcripts: int = 0

    def to_json(self) -> dict[str, Any]:
        """{"macro": {...}, "micro": {...}, "per_theme": {theme: {..., "support"}}}; NaN as null."""
        per_theme = {
            theme: {key: _plain(value) for key, value in row.items()}
            for theme, row in self.per_theme.to_dict(orient="index").items()
        }
        return {"macro": _plain_dict(self.macro), "micro": _plain_dict(self.micro), "per_theme": per_theme}


def compare(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    *,
    groups: pd.Series,
    themes: Sequence[str] | None = None,
    bootstrap: BootstrapOptions | None = BootstrapOptions(),
) -> Comparison:
    """Measure `candidate` against `reference` (bool frames, same segment index) on `themes`; `groups` maps
    each segment id to its transcript, the unit the bootstrap resamples."""
    themes = list(themes if themes is not None else reference.columns)
    index = reference.index
    ref = _bool_matrix(reference, index, themes)
    cand = _bool_matrix(candidate, index, themes)
    rows = {theme: theme_scores(ref[:, j], cand[:, j]) for j, theme in enumerate(themes)}
    per_theme = pd.DataFrame.from_dict(
        rows, orient="index", columns=[*COMPARE_METRICS, "support", "predicted", "segments", "note"]
    )
    supported = per_theme["support"].to_numpy() > 0
    macro: dict[str, Any] = {m: _nanmean(per_theme.loc[supported, m]) for m in COMPARE_METRICS}
    macro["themes"] = int(supported.sum())
    micro = theme_scores(ref.ravel(), cand.ravel())
    micro = {**{m: micro[m] for m in COMPARE_METRICS}, "support": micro["support"], "predicted": micro["predicted"]}
    group_of = groups.reindex(index)
    if bootstrap is not None and len(index) and bootstrap.n_resamples > 0:
        _add_compare_intervals(ref, cand, group_of.to_numpy(), per_theme, macro, micro, bootstrap)
    return Comparison(
        per_theme=per_theme, macro=macro, micro=micro, bootstrap=bootstrap, transcripts=int(group_of.nunique())
    )


def _add_compare_intervals(
    ref: np.ndarray,
    cand: np.ndarray,
    groups: np.ndarray,
    per_theme: pd.DataFrame,
    macro: dict[str, Any],
    micro: dict[str, Any],
    options: BootstrapOptions,
) -> None:
    weights, codes = cluster_resamples(groups, options=options)
    n_clusters = weights.shape[1]
    cells = {
        "tp": ref & cand,
        "fp": ~ref & cand,
        "fn": ref & ~cand,
        "tn": ~ref & ~cand,
    }
    counts = {name: weights @ _by_cluster(value.astype(float), codes, n_clusters) for name, value in cells.items()}
    theme_samples = scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
    micro_samples = scores_from_counts(*(counts[name].sum(axis=1) for name in ("tp", "fp", "fn", "tn")))
    supported = (counts["tp"] + counts["fn"]) > 0
    for metric in COMPARE_METRICS:
        low, high = _interval(theme_samples[metric], options.confidence)
        per_theme[f"{metric}_ci"] = [_pair(lo, hi) for lo, hi in zip(low, high)]
        macro_low, macro_high = _interval(_nanmean_where(theme_samples[metric], supported)[:, None], options.confidence)
        macro[f"{metric}_ci"] = _pair(macro_low[0], macro_high[0])
        micro_low, micro_high = _interval(micro_samples[metric][:, None], options.confidence)
        micro[f"{metric}_ci"] = _pair(micro_low[0], micro_high[0])


# --- any number of coders ---------------------------------------------------------------------------


@dataclass
class Agreement:
    """Agreement among coders: per theme percent agreement and alpha across all coders, Cohen's kappa per pair."""

    coders: list[str]
    per_theme: pd.DataFrame
    pairs: pd.DataFrame
    overall: dict[str, Any] = field(default_factory=dict)
    bootstrap: BootstrapOptions | None = None

    def to_json(self) -> dict[str, Any]:
        per_theme = {
            theme: {k: _plain(v) for k, v in row.items()}
            for theme, row in self.per_theme.to_dict(orient="index").items()
        }
        pairs = [{k: _plain(v) for k, v in row.items()} for row in self.pairs.to_dict(orient="records")]
        return {"coders": self.coders, "overall": _plain_dict(self.overall), "per_theme": per_theme, "pairs": pairs}


def agree(
    labels: Mapping[str, pd.DataFrame],
    *,
    groups: pd.Series,
    themes: Sequence[str],
    bootstrap: BootstrapOptions | None = BootstrapOptions(),
) -> Agreement:
    """Agreement among two or more coders' labels (frames over the same segments; missing = not coded by that
    coder): per theme percent agreement and Krippendorff's alpha across all, Cohen's kappa for each pair."""
    coders = list(labels)
    if len(coders) < 2:
        raise ValueError("agreement needs at least two coders")
    index = next(iter(labels.values())).index
    themes = list(themes)
    # ratings[c, u, t]: 1.0, 0.0 or NaN
    ratings = np.stack([_float_matrix(labels[c], index, themes) for c in coders])
    group_of = groups.reindex(index).to_numpy()
    weights, codes = cluster_resamples(group_of, options=bootstrap) if bootstrap and len(index) else (None, None)
    rows = []
    for j, _theme in enumerate(themes):
        matrix = ratings[:, :, j]
        present = ~np.isnan(matrix)
        row: dict[str, Any] = {
            "percent_agreement": percent_agreement(matrix),
            "alpha": krippendorff_alpha(matrix),
            "segments": int((present.sum(axis=0) >= 2).sum()),
        }
        for c, coder in enumerate(coders):
            row[f"used_by_{coder}"] = int(np.nansum(matrix[c]))
        row["note"] = _agreement_note(matrix)
        rows.append(row)
    per_theme = pd.DataFrame(rows, index=themes)
    overall = {
        "percent_agreement": percent_agreement(ratings.reshape(len(coders), -1)),
        "alpha": krippendorff_alpha(ratings.reshape(len(coders), -1)),
        "themes": len(themes),
        "segments": int(len(index)),
    }
    if weights is not None:
        _add_agreement_intervals(ratings, weights, codes, per_theme, overall, bootstrap)
    pairs = _pairwise(coders, ratings, themes, weights, codes, bootstrap)
    return Agreement(coders=coders, per_theme=per_theme, pairs=pairs, overall=overall, bootstrap=bootstrap)


def _agreement_note(matrix: np.ndarray) -> str:
    values = set(matrix[~np.isnan(matrix)].tolist())
    if values == {0.0} or not values:
        return NOBODY_USED
    if values == {1.0}:
        return NO_VARIATION
    return ""


def _multi_counts(ratings: np.ndarray) -> dict[str, np.ndarray]:
    """Per segment x theme additive pieces of alpha and percent agreement for coders x segments x themes."""
    present = (~np.isnan(ratings)).sum(axis=0)
    ones = np.nansum(ratings, axis=0)
    zeros = present - ones
    pairable = present >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        disagreement = np.where(pairable, ones * zeros / np.where(pairable, present - 1, 1), 0.0)
    return {
        "o01": disagreement,
        "ones": np.where(pairable, ones, 0.0),
        "zeros": np.where(pairable, zeros, 0.0),
        "agreed": (pairable & ((ones == 0) | (zeros == 0))).astype(float),
        "units": pairable.astype(float),
    }


def _alpha_from(o01: np.ndarray, ones: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    return 1 - _divide((ones + zeros - 1) * o01, ones * zeros)


def _add_agreement_intervals(
    ratings: np.ndarray,
    weights: np.ndarray,
    codes: np.ndarray,
    per_theme: pd.DataFrame,
    overall: dict[str, Any],
    options: BootstrapOptions,
) -> None:
    n_clusters = weights.shape[1]
    pieces = {k: weights @ _by_cluster(v, codes, n_clusters) for k, v in _multi_counts(ratings).items()}
    alpha = _alpha_from(pieces["o01"], pieces["ones"], pieces["zeros"])
    agreed = _divide(pieces["agreed"], pieces["units"])
    for name, samples in (("alpha", alpha), ("percent_agreement", agreed)):
        low, high = _interval(samples, options.confidence)
        per_theme[f"{name}_ci"] = [_pair(lo, hi) for lo, hi in zip(low, high)]
    pooled = {k: v.sum(axis=1) for k, v in pieces.items()}
    for name, samples in (
        ("alpha", _alpha_from(pooled["o01"], pooled["ones"], pooled["zeros"])),
        ("percent_agreement", _divide(pooled["agreed"], pooled["units"])),
    ):
        low, high = _interval(samples[:, None], options.confidence)
        overall[f"{name}_ci"] = _pair(low[0], high[0])


def _pairwise(
    coders: list[str],
    ratings: np.ndarray,
    themes: list[str],
    weights: np.ndarray | None,
    codes: np.ndarray | None,
    options: BootstrapOptions | None,
) -> pd.DataFrame:
    """Cohen's kappa and percent agreement for each pair of coders, per theme and pooled over themes."""
    rows = []
    for a, b in itertools.combinations(range(len(coders)), 2):
        both = ~np.isnan(ratings[a]) & ~np.isnan(ratings[b])  # segments x themes
        first, second = np.nan_to_num(ratings[a]) > 0, np.nan_to_num(ratings[b]) > 0
        samples = None
        if weights is not None:
            cells = {
                "tp": first & second & both,
                "fp": ~first & second & both,
                "fn": first & ~second & both,
                "tn": ~first & ~second & both,
            }
            counts = {k: weights @ _by_cluster(v.astype(float), codes, weights.shape[1]) for k, v in cells.items()}
            per = scores_from_counts(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
            pooled = scores_from_counts(*(counts[k].sum(axis=1) for k in ("tp", "fp", "fn", "tn")))
            samples = {m: np.column_stack([per[m], pooled[m]]) for m in ("kappa", "percent_agreement")}
        for j, theme in enumerate([*themes, "(all themes pooled)"]):
            mask = both[:, j] if j < len(themes) else both.ravel()
            x = (first[:, j] if j < len(themes) else first.ravel())[mask]
            y = (second[:, j] if j < len(themes) else second.ravel())[mask]
            row: dict[str, Any] = {
                THEME: theme,
                "coder_a": coders[a],
                "coder_b": coders[b],
                "kappa": cohen_kappa(x, y),
                "percent_agreement": float(np.mean(x == y)) if len(x) else math.nan,
                "segments": int(mask.sum()),
                "used_by_a": int(x.sum()),
                "used_by_b": int(y.sum()),
                "used_by_both": int((x & y).sum()),
            }
            if samples is not None:
                for metric in ("kappa", "percent_agreement"):
                    low, high = _interval(samples[metric][:, [j]], options.confidence)  # type: ignore[union-attr]
                    row[f"{metric}_ci"] = _pair(low[0], high[0])
            rows.append(row)
    return pd.DataFrame(rows)


# --- helpers ------------------------------------------------------------------------------------------


def _bool_matrix(frame: pd.DataFrame, index: pd.Index, themes: Sequence[str]) -> np.ndarray:
    """segments x themes bool array; a theme missing from the frame is all False."""
    aligned = frame.reindex(index=index, columns=list(themes))
    return aligned.fillna(False).astype(bool).to_numpy()


def _float_matrix(frame: pd.DataFrame, index: pd.Index, themes: Sequence[str]) -> np.ndarray:
    """segments x themes float array: 1.0 / 0.0, NaN where the coder did not code the segment."""
    aligned = frame.reindex(index=index, columns=list(themes))
    values = aligned.to_numpy(dtype=object)
    out = np.full(values.shape, np.nan)
    known = ~pd.isna(aligned).to_numpy()
    out[known] = values[known].astype(bool).astype(float)
    return out


def _nanmean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _pair(low: float, high: float) -> list[float | None]:
    return [_plain(low), _plain(high)]


def _plain(value: Any) -> Any:
    """JSON-safe scalars: NaN -> None, numpy -> Python."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _plain_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in values.items()}

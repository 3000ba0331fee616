"""Agreement metrics against hand-computed cases: precision/recall/F1, Cohen's kappa, Krippendorff's alpha,
their edge cases, macro/micro, and the cluster bootstrap by transcript."""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest

from pipeline.measure.agreement import (
    NO_VARIATION,
    NOBODY_USED,
    BootstrapOptions,
    agree,
    cohen_kappa,
    compare,
    krippendorff_alpha,
    percent_agreement,
    scores_from_counts,
    theme_scores,
)


def table(both: int, only_first: int, only_second: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Two codings with the given 2x2 table (first = reference)."""
    first = [True] * both + [True] * only_first + [False] * only_second + [False] * neither
    second = [True] * both + [False] * only_first + [True] * only_second + [False] * neither
    return first, second


def frames(columns: dict[str, tuple[list[bool], list[bool]]], *, per_transcript: int = 5):
    """Reference and candidate frames over the same segments, and segment -> transcript groups."""
    n = len(next(iter(columns.values()))[0])
    index = pd.Index([f"s{i}" for i in range(n)], name="segment_id")
    reference = pd.DataFrame({theme: pair[0] for theme, pair in columns.items()}, index=index)
    candidate = pd.DataFrame({theme: pair[1] for theme, pair in columns.items()}, index=index)
    groups = pd.Series([f"t{i // per_transcript}" for i in range(n)], index=index)
    return reference, candidate, groups


def test_precision_recall_f1_by_hand():
    # reference 1 1 0 0 1 0 / candidate 1 0 0 1 1 0: TP 2, FP 1, FN 1, TN 2
    scores = theme_scores([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0])
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["percent_agreement"] == pytest.approx(4 / 6)
    assert (scores["support"], scores["predicted"]) == (3, 3)


def test_kappa_on_a_two_by_two_table_by_hand():
    # 50 segments:            coder B yes   coder B no
    #         coder A yes          20            5        (A yes: 25 -> 0.5)
    #         coder A no           10           15        (B yes: 30 -> 0.6)
    # observed agreement po = (20 + 15) / 50 = 0.70
    # chance agreement   pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.50
    # kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40
    first, second = table(20, 5, 10, 15)
    assert cohen_kappa(first, second) == pytest.approx(0.40)
    assert theme_scores(first, second)["kappa"] == pytest.approx(0.40)


def test_alpha_on_krippendorffs_binary_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", binary data, two observers, 10 units:
    # coincidences o(0,1) = o(1,0) = 4, n0 = 14, n1 = 6, n = 20: alpha = 1 - 19 * 4 / (14 * 6) = 0.095
    first = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    second = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha(np.array([first, second], dtype=float)) == pytest.approx(1 - 76 / 84)
    assert round(theme_scores(first, second)["alpha"], 3) == 0.095


def test_alpha_with_three_coders_and_missing_values_matches_the_library():
    ratings = np.array(
        [
            [1, 0, 0, 1, np.nan, 0, 1, 0],
            [1, 0, 1, 1, 0, np.nan, 1, 0],
            [np.nan, 0, 1, 1, 0, 0, 0, 0],
        ]
    )
    expected = krippendorff.alpha(reliability_data=ratings, level_of_measurement="nominal")
    assert krippendorff_alpha(ratings) == pytest.approx(expected)


def test_theme_nobody_used():
    scores = theme_scores([False] * 8, [False] * 8)
    assert math.isnan(scores["kappa"]) and math.isnan(scores["alpha"])
    assert math.isnan(scores["precision"]) and math.isnan(scores["recall"]) and math.isnan(scores["f1"])
    assert scores["percent_agreement"] == 1.0
    assert scores["note"] == NOBODY_USED


def test_perfect_agreement_with_variation_is_one():
    scores = theme_scores([1, 0, 1, 0, 0], [1, 0, 1, 0, 0])
    assert scores["kappa"] == 1.0 and scores["alpha"] == pytest.approx(1.0)
    assert scores["f1"] == 1.0 and scores["percent_agreement"] == 1.0


def test_identical_constant_ratings_are_undefined_not_one():
    scores = theme_scores([True] * 6, [True] * 6)
    assert math.isnan(scores["kappa"]) and math.isnan(scores["alpha"])
    assert scores["f1"] == 1.0 and scores["note"] == NO_VARIATION


@pytest.mark.parametrize(
    ("reference", "candidate", "precision", "recall", "f1"),
    [
        ([1, 1, 0, 0], [0, 0, 0, 0], 0.0, 0.0, 0.0),  # the candidate never finds a theme the reference used
        ([0, 0, 0, 0], [1, 0, 0, 0], 0.0, math.nan, 0.0),  # the candidate finds a theme the reference never used
    ],
)
def test_one_sided_silence(reference, candidate, precision, recall, f1):
    scores = theme_scores(reference, candidate)
    for name, expected in (("precision", precision), ("recall", recall), ("f1", f1)):
        assert math.isnan(scores[name]) if math.isnan(expected) else scores[name] == expected, name


def test_percent_agreement_counts_segments_where_every_coder_agrees():
    ratings = np.array([[1, 0, 1, np.nan], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=float)
    # segments: all agree, disagree, disagree, agree (two coders present)
    assert percent_agreement(ratings) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_reproduce_the_library_values(seed):
    """The bootstrap recomputes statistics from confusion counts; on the full sample they equal sklearn/krippendorff."""
    rng = np.random.default_rng(seed)
    first = rng.random(60) < 0.3
    second = first ^ (rng.random(60) < 0.2)
    tp, fp = float((first & second).sum()), float((~first & second).sum())
    fn, tn = float((first & ~second).sum()), float((~first & ~second).sum())
    from_counts = scores_from_counts(np.array(tp), np.array(fp), np.array(fn), np.array(tn))
    library = theme_scores(first, second)
    for metric, value in from_counts.items():
        assert float(value) == pytest.approx(library[metric]), metric


def test_macro_averages_themes_the_reference_used_and_micro_pools_every_cell():
    reference, candidate, groups = frames(
        {
            "a": table(20, 5, 10, 15),  # kappa 0.40
            "b": table(10, 0, 0, 40),  # kappa 1.00
            "c": table(0, 0, 2, 48),  # reference never used it: kappa 0, not in the macro
        }
    )
    result = compare(reference, candidate, groups=groups, bootstrap=None)
    assert result.per_theme.loc["a", "kappa"] == pytest.approx(0.40)
    assert result.macro["kappa"] == pytest.approx((0.40 + 1.0) / 2)
    assert result.macro["themes"] == 2
    pooled = theme_scores(reference.to_numpy().ravel(), candidate.to_numpy().ravel())
    assert result.micro["kappa"] == pytest.approx(pooled["kappa"])
    assert result.micro["support"] == 20 + 5 + 10


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic_for_a_seed():
    reference, candidate, groups = frames({"a": table(20, 5, 10, 15), "b": table(12, 3, 4, 31)})
    options = BootstrapOptions(n_resamples=400, seed=7)
    first = compare(reference, candidate, groups=groups, bootstrap=options)
    again = compare(reference, candidate, groups=groups, bootstrap=options)
    other = compare(reference, candidate, groups=groups, bootstrap=BootstrapOptions(n_resamples=400, seed=8))
    for metric in ("precision", "recall", "f1", "kappa", "alpha"):
        low, high = first.macro[f"{metric}_ci"]
        assert low <= first.macro[metric] <= high, metric
        assert first.macro[f"{metric}_ci"] == again.macro[f"{metric}_ci"]
        low, high = first.per_theme.at["a", f"{metric}_ci"]
        assert low <= first.per_theme.at["a", metric] <= high, metric
    assert first.macro["kappa_ci"] != other.macro["kappa_ci"]


def test_bootstrap_resamples_whole_transcripts():
    """With one transcript all intervals collapse to the estimate: resampling it changes nothing."""
    reference, candidate, groups = frames({"a": table(5, 2, 1, 12)}, per_transcript=100)
    result = compare(reference, candidate, groups=groups, bootstrap=BootstrapOptions(n_resamples=50, seed=0))
    low, high = result.per_theme.at["a", "kappa_ci"]
    assert low == pytest.approx(result.per_theme.at["a", "kappa"]) == pytest.approx(high)


def test_to_json_has_no_nan():
    reference, candidate, groups = frames({"a": table(3, 1, 1, 5), "unused": table(0, 0, 0, 10)})
    payload = compare(reference, candidate, groups=groups, bootstrap=BootstrapOptions(n_resamples=50)).to_json()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["per_theme"]["unused"]["kappa"] is None
    assert set(payload) == {"macro", "micro", "per_theme"}
    assert payload["per_theme"]["a"]["support"] == 4


def test_agree_three_coders_pairwise_kappa_and_alpha_with_missing_coding():
    index = pd.Index([f"s{i}" for i in range(8)])
    a = pd.DataFrame({"x": [1, 1, 0, 0, 1, 0, 0, 0]}, index=index).astype(bool)
    b = pd.DataFrame({"x": [1, 1, 0, 1, 1, 0, 0, 0]}, index=index).astype(bool)
    c = pd.DataFrame({"x": [1, 0, 0, 0, 1, 0, None, None]}, index=index, dtype=object)  # c did not code t3
    groups = pd.Series(["t0", "t0", "t1", "t1", "t2", "t2", "t3", "t3"], index=index)
    result = agree({"a": a, "b": b, "c": c}, groups=groups, themes=["x"], bootstrap=BootstrapOptions(n_resamples=100))
    pairs = result.pairs.set_index(["theme", "coder_a", "coder_b"])
    assert pairs.at[("x", "a", "b"), "kappa"] == pytest.approx(cohen_kappa(a["x"], b["x"]))
    # a x c compares only the 6 segments c coded
    assert pairs.at[("x", "a", "c"), "segments"] == 6
    assert pairs.at[("x", "a", "c"), "kappa"] == pytest.approx(cohen_kappa(a["x"][:6], c["x"][:6].astype(bool)))
    matrix = np.array([a["x"], b["x"], [1, 0, 0, 0, 1, 0, np.nan, np.nan]], dtype=float)
    assert result.per_theme.at["x", "alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    )
    low, high = result.per_theme.at["x", "alpha_ci"]
    assert low <= result.per_theme.at["x", "alpha"] <= high
    assert len(result.pairs) == 3 * 2  # three pairs, one theme plus the pooled row


def test_agree_needs_two_coders():
    with pytest.raises(ValueError):
        agree({"a": pd.DataFrame({"x": [True]})}, groups=pd.Series(["t"]), themes=["x"])

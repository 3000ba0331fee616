"""Evaluation by cross-validation grouped by transcript: no leakage, the keyword and TF-IDF baselines, the
`evaluate` and `agree` commands (JSON shape, HTML report), and the bench adapters on the real proctoring data
when present."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pipeline.measure.evaluate as evaluate_module
from pipeline.cli import app
from pipeline.codebook.load import load_codebook
from pipeline.core.errors import QualcodeError
from pipeline.measure.evaluate import (
    METHODS,
    EvaluationOptions,
    Fold,
    check_no_leakage,
    evaluate_project,
    keyword_matches,
    keyword_terms,
    render_html,
    transcript_folds,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "evaluate"
CODEBOOK = FIXTURE / "codebook.yaml"
TRANSCRIPTS = FIXTURE / "transcripts"
CODED = FIXTURE / "coded"
PROCTORING = ROOT.parent / "shared" / "data" / "proctoring"
needs_proctoring = pytest.mark.skipif(
    not PROCTORING.is_dir(), reason=f"real coded data not present at {PROCTORING} (see ../shared/data)"
)
OPTIONS = EvaluationOptions(folds=3, seed=0, resamples=200, coders=("anna",), min_positive=2)


def invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


# --- grouped folds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_transcripts", "folds", "expected_folds"), [(12, 5, 5), (6, 3, 3), (3, 5, 3), (2, 5, 2)])
def test_folds_never_share_a_transcript_between_train_and_test(n_transcripts, folds, expected_folds):
    segments = [f"t{i}" for i in range(n_transcripts) for _ in range(4)]  # four segments per transcript
    result = transcript_folds(segments, folds=folds, seed=0)
    assert len(result) == expected_folds
    tested = []
    for fold in result:
        assert not set(fold.train) & set(fold.test)
        assert set(fold.train) | set(fold.test) == set(segments)
        tested.extend(fold.test)
    assert sorted(tested) == sorted(set(segments))  # every transcript is tested exactly once


def test_folds_are_deterministic_for_a_seed():
    segments = [f"t{i}" for i in range(10)]
    assert transcript_folds(segments, folds=5, seed=3) == transcript_folds(segments, folds=5, seed=3)


def test_one_transcript_cannot_be_cross_validated():
    with pytest.raises(QualcodeError, match="at least 2 transcripts"):
        transcript_folds(["t1", "t1", "t1"], folds=5, seed=0)


def test_leakage_check_refuses_a_fold_that_shares_a_transcript():
    with pytest.raises(QualcodeError, match="t2"):
        check_no_leakage([Fold(1, train=("t1", "t2"), test=("t2", "t3"))])


# --- keyword baseline ---------------------------------------------------------------------------------


def test_keyword_terms_are_label_words_and_rule_phrases():
    terms = keyword_terms(load_codebook(CODEBOOK))
    assert terms["language_barrier"] == ["language", "barrier", "language barrier", "language problem"]
    assert terms["funding_cuts"] == ["funding", "cuts"]


@pytest.mark.parametrize(
    ("text", "theme", "found"),
    [
        ("We had a LANGUAGE problem.", "language_barrier", True),  # case-insensitive
        ("We never had a language problem.", "language_barrier", True),  # no negation
        ("Our languages differed.", "language_barrier", True),  # substring, no word boundary or lemma
        ("My mentors were kind.", "mentor_support", True),
        ("Nobody guided me.", "mentor_support", False),  # no meaning, only strings
        ("They gave me generic work.", "generic_tasks", True),  # the label word "generic"
    ],
)
def test_keyword_baseline_is_a_plain_text_search(text, theme, found):
    segments = pd.DataFrame({"segment_id": ["s1"], "text": [text]})
    assert bool(keyword_matches(segments, load_codebook(CODEBOOK)).at["s1", theme]) is found


# --- evaluate on a small project ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation_and_training_calls():
    calls: list[set[str]] = []
    real = evaluate_module.train_classifier

    def recording(segments, labels, **kwargs):
        calls.append(set(segments["transcript_id"]))
        assert set(labels.index) <= set(segments["segment_id"])  # no label of another segment is handed over
        return real(segments, labels, **kwargs)

    evaluate_module.train_classifier = recording
    try:
        evaluation = evaluate_project(
            transcripts_dir=TRANSCRIPTS, codebook_path=CODEBOOK, gold_dir=CODED, options=OPTIONS
        )
    finally:
        evaluate_module.train_classifier = real
    return evaluation, calls


def test_the_classifier_never_sees_a_test_transcript(evaluation_and_training_calls):
    evaluation, calls = evaluation_and_training_calls
    assert len(calls) == len(evaluation.folds) == 3
    for fold, trained_on in zip(evaluation.folds, calls):
        assert trained_on == set(fold.train)
        assert not trained_on & set(fold.test)
    assert any(fold.learned for fold in evaluation.folds)  # the classifier did learn something


def test_evaluation_compares_every_method_on_every_segment(evaluation_and_training_calls):
    evaluation, _ = evaluation_and_training_calls
    assert list(evaluation.methods) == list(METHODS)
    rules = evaluation.methods["rules"].per_theme
    # the gold (anna): 5 language, 5 generic, 4 mentor segments of 24; nobody coded funding cuts
    assert rules["support"].to_dict() == {
        "language_barrier": 5,
        "generic_tasks": 5,
        "mentor_support": 4,
        "funding_cuts": 0,
    }
    assert set(rules["segments"]) == {24}
    # rules tag t2's "language barrier" and not the negated "never had a language problem": 1 TP, 0 FP of 5
    assert rules.at["language_barrier", "precision"] == 1.0
    assert rules.at["language_barrier", "recall"] == pytest.approx(1 / 5)
    # the keyword search also counts the negated mention and "language was hard": 2 TP, 1 FP
    keywords = evaluation.methods["keyword_baseline"].per_theme
    assert keywords.at["language_barrier", "recall"] == pytest.approx(2 / 5)
    assert keywords.at["language_barrier", "precision"] == pytest.approx(2 / 3)
    assert evaluation.best_mode in ("rules", "classifier", "union")


def test_html_report_is_self_contained_and_escaped(evaluation_and_training_calls):
    evaluation, _ = evaluation_and_training_calls
    labels = dict(evaluation.theme_labels)
    evaluation.theme_labels["language_barrier"] = "<script>alert(1)</script>"
    try:
        html = render_html(evaluation)
    finally:
        evaluation.theme_labels = labels
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == 2 and "<rect" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


@pytest.fixture(scope="module")
def evaluate_cli(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate")
    result = invoke(
        "evaluate",
        "--gold",
        CODED,
        "--coder",
        "anna",
        "--transcripts",
        TRANSCRIPTS,
        "--codebook",
        CODEBOOK,
        "--folds",
        "3",
        "--min-positive",
        "2",
        "--resamples",
        "200",
        "--out",
        out,
        "--json",
        out / "evaluation.json",
    )
    return result, out


def test_evaluate_json_has_the_documented_shape(evaluate_cli):
    _, out = evaluate_cli
    figures = json.loads((out / "evaluation.json").read_text())
    assert set(figures) == {"rules", "classifier", "combined", "keyword_baseline", "tfidf_baseline"}
    for method in figures.values():
        assert set(method) == {"macro", "micro", "per_theme"}
        for average in ("macro", "micro"):
            assert {"precision", "recall", "f1", "kappa", "alpha"} <= set(method[average])
            low, high = method[average]["kappa_ci"]
            assert low <= method[average]["kappa"] <= high
        assert set(method["per_theme"]) == {"language_barrier", "generic_tasks", "mentor_support", "funding_cuts"}
        for theme in method["per_theme"].values():
            assert {"precision", "recall", "f1", "kappa", "alpha", "support"} <= set(theme)
        assert method["per_theme"]["funding_cuts"]["kappa"] is None  # nobody used it: undefined, not 1


def test_evaluate_command_prints_a_table_and_writes_the_report(evaluate_cli):
    result, out = evaluate_cli
    assert "macro" in result.output and "language_barrier" in result.output
    assert "best combine mode" in result.output
    assert (out / "evaluation.html").read_text().startswith("<!DOCTYPE html>")


def test_evaluate_names_an_unknown_coder(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--gold",
            str(CODED),
            "--coder",
            "zoe",
            "--transcripts",
            str(TRANSCRIPTS),
            "--codebook",
            str(CODEBOOK),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, QualcodeError) and "zoe" in str(result.exception)


# --- agree ---------------------------------------------------------------------------------------------


def test_agree_with_three_coders(tmp_path):
    out = tmp_path / "agree.json"
    result = invoke(
        "agree",
        CODED / "anna.csv",
        CODED / "ben.csv",
        CODED / "cara.csv",
        "--transcripts",
        TRANSCRIPTS,
        "--codebook",
        CODEBOOK,
        "--json",
        out,
        "--resamples",
        "200",
    )
    figures = json.loads(out.read_text())
    assert figures["coders"] == ["anna", "ben", "cara"]
    pairs = {(p["theme"], p["coder_a"], p["coder_b"]): p for p in figures["pairs"]}
    assert len(pairs) == 3 * 5  # 3 pairs x (4 themes + pooled)
    # language_barrier, anna x ben over 24 segments: both 4, anna only 1 (t5), ben only 0, neither 19.
    # po = 23/24; pe = (5*4 + 19*20) / 24^2 = 400/576; kappa = (552 - 400) / (576 - 400) = 152/176
    assert pairs[("language_barrier", "anna", "ben")]["kappa"] == pytest.approx(152 / 176)
    # cara coded the negated mention in t3 and a span inside t1's first segment (overlap counts)
    assert figures["per_theme"]["language_barrier"]["used_by_cara"] == 6
    # alpha across the three coders, by the krippendorff package on the 3 x 24 matrix
    language = np.zeros((3, 24))
    segment = {"t1": 0, "t2": 4, "t3": 8, "t4": 12, "t5": 16, "t6": 20}  # first respondent segment of each
    for row, transcripts in enumerate(
        [["t1", "t2", "t4", "t5", "t6"], ["t1", "t2", "t4", "t6"], ["t1", "t2", "t3", "t4", "t5", "t6"]]
    ):
        for transcript in transcripts:
            language[row, segment[transcript]] = 1
    expected = krippendorff.alpha(reliability_data=language, level_of_measurement="nominal")
    assert figures["per_theme"]["language_barrier"]["alpha"] == pytest.approx(expected)
    assert figures["per_theme"]["funding_cuts"]["alpha"] is None
    assert "Cohen's kappa for each pair" in result.output and "× ben" in result.output


def test_agree_accepts_a_qualcode_tags_table_as_a_machine_coder(tmp_path):
    reports = tmp_path / "reports"
    invoke("run", "--transcripts", TRANSCRIPTS, "--codebook", CODEBOOK, "--out", reports)
    out = tmp_path / "agree.json"
    invoke(
        "agree",
        CODED / "anna.csv",
        reports / "tags.csv",
        "--transcripts",
        TRANSCRIPTS,
        "--codebook",
        CODEBOOK,
        "--json",
        out,
        "--resamples",
        "0",
    )
    figures = json.loads(out.read_text())
    assert figures["machine_coders"] == ["tags"]
    pairs = {(p["theme"], p["coder_a"], p["coder_b"]): p for p in figures["pairs"]}
    # the rules' evidence tags: language barrier only in t2 (the t3 mention is negated)
    assert pairs[("language_barrier", "anna", "tags")]["used_by_b"] == 1
    assert pairs[("language_barrier", "anna", "tags")]["used_by_both"] == 1


def test_agree_needs_two_files():
    result = CliRunner().invoke(
        app, ["agree", str(CODED / "anna.csv"), "--transcripts", str(TRANSCRIPTS), "--codebook", str(CODEBOOK)]
    )
    assert result.exit_code != 0 and "two coder files" in str(result.exception)


# --- the real proctoring data (skipped when ../shared/data is absent) ---------------------------------------


def bench_datasets():
    spec = importlib.util.spec_from_file_location("bench_datasets", ROOT / "bench" / "datasets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def counts_from_csv(path: Path, datasets) -> dict[str, int]:
    """Answers per top-level code, read straight from one coder's CSV (independent of qualcode)."""
    counts: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        for row in reader:
            if not row[1].strip():
                continue
            codes = {datasets.theme_id(cell) for name, cell in zip(header, row) if name.startswith("Code") and cell}
            for code in codes:
                counts[code] = counts.get(code, 0) + 1
    return counts


@needs_proctoring
def test_adapter_writes_one_transcript_per_answer_and_both_coders(tmp_path):
    datasets = bench_datasets()
    project = datasets.build_project(datasets.find_questions(PROCTORING)["N3"], out=tmp_path)
    assert project.answers == 99
    assert project.coded_answers == {"primary": 99, "secondary": 20}  # the secondary coder coded a sample
    text = next(project.transcripts.glob("*.txt")).read_text()
    assert text.startswith("Respondent: ") and text.count("\n") == 1
    assert not any(ROOT in path.parents for path in project.root.rglob("*"))


@needs_proctoring
def test_interviews_adapter_puts_each_question_before_its_answer_and_codes_whole_answers(tmp_path):
    datasets = bench_datasets()
    project = datasets.build_interviews(PROCTORING, out=tmp_path)
    assert project.respondents == 26  # the educators who used proctoring answered the "Yes only" questions
    codebook = load_codebook(project.codebook)
    assert all(not theme.rules and not theme.examples.positive for theme in codebook.themes)
    spans = pd.read_csv(project.coded / "primary.csv")
    assert set(spans["theme"]) == set(codebook.theme_ids) and len(codebook.themes) == 22  # codes on 5+ answers
    for transcript_id, rows in spans.groupby("transcript_id"):
        text = (project.transcripts / f"{transcript_id}.txt").read_text()
        for start, end in zip(rows["start_char"], rows["end_char"]):
            assert text[:start].endswith("\n\nRespondent: ") or text[:start] == "Respondent: "
            assert text[end:].startswith("\n\n")  # a span is one whole answer
        assert text.startswith("Interviewer: ")
    counts = counts_from_csv(datasets.find_questions(PROCTORING)["Q11"].primary, datasets)
    assert (spans["theme"] == "stop_cheating").sum() == counts["stop_cheating"]  # code given to 10 answers


def test_tfidf_baseline_learns_from_the_training_text_only():
    train = pd.DataFrame(
        {
            "segment_id": list("abcdef"),
            "text": ["my mentor helped", "mentor support", "the mentor", "rain", "snow", "x"],
        }
    )
    labels = pd.DataFrame({"mentor": [True, True, True, False, False, False], "never": [False] * 6})
    test = pd.DataFrame({"segment_id": ["g", "h"], "text": ["a mentor", "sunny weather"]})
    predicted = evaluate_module.tfidf_baseline_predictions(train, labels, test)
    assert predicted.index.tolist() == ["g", "h"]
    assert predicted["mentor"].tolist() == [True, False]
    assert not predicted["never"].any()  # no positive in training: never predicted


@needs_proctoring
def test_agree_reproduces_the_coders_per_code_counts_on_q8(tmp_path):
    datasets = bench_datasets()
    files = datasets.find_questions(PROCTORING)["Q8"]
    project = datasets.build_project(files, out=tmp_path)
    out = tmp_path / "agree.json"
    invoke(
        "agree",
        project.coded / "primary.csv",
        project.coded / "secondary.csv",
        "--transcripts",
        project.transcripts,
        "--codebook",
        project.codebook,
        "--unit",
        "turn",
        "--json",
        out,
        "--resamples",
        "0",
    )
    figures = json.loads(out.read_text())
    for coder, path in (("primary", files.primary), ("secondary", files.secondary)):
        expected = counts_from_csv(path, datasets)
        used = {
            theme: row[f"used_by_{coder}"] for theme, row in figures["per_theme"].items() if row[f"used_by_{coder}"]
        }
        assert used == expected
    pooled = next(p for p in figures["pairs"] if p["theme"] == "(all themes pooled)")
    assert pooled["segments"] == 26 * len(figures["per_theme"])
    assert 0.6 < pooled["kappa"] <= 1.0

"""The classifier step: thresholds, grouped CV, training, skops round trip and its safety checks, combining
with the rules, and the train / run --model / suggest commands on small fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.classifier.combine import ModelTagger, combine, resolve_combine
from pipeline.classifier.features import (
    CONTEXT_COLUMNS,
    NEARBY,
    PROMPT,
    TURN,
    feature_frame,
    informative_context,
    segment_context,
    text_rule_features,
)
from pipeline.classifier.model import (
    BOTH_METHOD,
    CLASSIFIER_METHOD,
    ThemeModel,
    card_hash,
    card_path,
    passage_scores,
)
from pipeline.classifier.persist import MODEL_TYPES, load_model, model_types, save_model
from pipeline.classifier.train import choose_threshold, grouped_folds, train_classifier
from pipeline.cli import app
from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import code_corpus, code_transcript
from pipeline.coding.table import read_tags
from pipeline.core.errors import ModelError, QualcodeError
from pipeline.ingest.read import discover
from pipeline.measure.coder_files import load_gold, segment_labels
from pipeline.workflows.train import code_project, suggest_segments, train_project

CLASSIFY = Path(__file__).resolve().parent / "fixtures" / "classify"
TRAIN = {"min_positive": 2, "cv_folds": 3, "random_state": 0}


@pytest.fixture(scope="module")
def project():
    return code_project(transcripts_dir=CLASSIFY / "transcripts", codebook_path=CLASSIFY / "codebook.yaml")


@pytest.fixture(scope="module")
def gold() -> pd.DataFrame:
    return load_gold(CLASSIFY / "coded")


@pytest.fixture(scope="module")
def labels(project, gold) -> pd.DataFrame:
    return segment_labels(project.segments, gold, themes=project.codebook.theme_ids)


@pytest.fixture(scope="module")
def model(project, labels) -> ThemeModel:
    return train_classifier(
        project.segments, labels, codebook=project.codebook, rules=project.rules, nlp=project.nlp, **TRAIN
    )


# --- thresholds and folds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        # F1 at 0.1: .667, at 0.35: .8 (2 TP, 1 FP), at 0.4: .5, at 0.8: .667
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.35),
        # F1 .667 at both 0.9 (1 TP) and 0.2 (2 TP, 2 FP): the tie goes to the higher threshold
        ([0.9, 0.6, 0.5, 0.2], [1, 0, 0, 1], 0.9),
        # every positive above every negative: the lowest positive score separates them
        ([0.05, 0.2, 0.7, 0.95], [0, 0, 1, 1], 0.7),
    ],
)
def test_threshold_maximises_f1_and_ties_go_higher(scores, labels, expected):
    assert choose_threshold(scores, labels) == pytest.approx(expected)


def test_threshold_needs_a_positive():
    with pytest.raises(ValueError):
        choose_threshold([0.2, 0.4], [0, 0])


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_grouped_folds_never_put_a_transcript_in_train_and_test(project, folds):
    groups = project.segments["transcript_id"].to_numpy()
    splits = grouped_folds(groups, folds=folds)
    assert len(splits) == min(folds, len(set(groups)))
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == list(range(len(groups)))  # every segment is tested exactly once
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(groups)


def test_grouped_folds_need_two_transcripts():
    with pytest.raises(ModelError, match="at least 2 transcripts"):
        grouped_folds(["only"] * 4, folds=5)


# --- features and training -------------------------------------------------------------------


def test_rule_features_count_only_evidence(project):
    features = project.rules
    assert features.loc["c_engineer:160-218", "language_barrier"]
    assert not features.loc["b_teacher:252-309", "language_barrier"]  # "we never had a language problem"
    assert features.sum().to_dict() == {
        "language_barrier": 1,
        "generic_tasks": 2,
        "mentor_support": 3,
        "budget_cuts": 1,
    }


def test_context_is_the_question_the_neighbours_and_the_turn(project):
    segments = project.segments.set_index("segment_id")
    second = segments.loc["a_nurse:98-169"]  # "Everybody on the ward spoke Swahili ..."
    assert second["text"].startswith("Everybody on the ward")
    assert second[PROMPT] == "Tell me about your first months abroad."
    assert second[NEARBY] == "The first weeks were confusing. My mentor Asha showed me where everything was."
    assert second[TURN].startswith("The first weeks were confusing. Everybody") and second[TURN].endswith("myself.")
    later = segments.loc[segments.index.str.startswith("a_nurse:")].iloc[-1]  # answer to the second question
    assert later[PROMPT] == "Was the budget a problem?"


def test_context_of_segments_without_turns_is_empty():
    frame = segment_context(pd.DataFrame({"segment_id": ["t:0-2"], "transcript_id": ["t"], "text": ["hi"]}))
    assert all(frame.at[0, column] == "" for column in CONTEXT_COLUMNS)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a", "", "", "a")], []),  # a whole answer: its turn is its text, and there is nothing around it
        ([("a", "q?", "", "a")], [PROMPT]),
        ([("a", "", "b", "a b"), ("b", "", "a", "a b")], [NEARBY, TURN]),
    ],
)
def test_only_context_that_adds_to_the_text_is_used(rows, expected):
    frame = pd.DataFrame(rows, columns=["text", PROMPT, NEARBY, TURN])
    assert informative_context(frame) == expected


def test_feature_frame_fills_missing_context_with_empty_text():
    segments = pd.DataFrame({"segment_id": ["s1"], "text": ["hello"]})
    frame = feature_frame(segments, pd.DataFrame({"x": [False]}, index=["s1"]), themes=["x"])
    assert frame.loc[0, list(CONTEXT_COLUMNS)].tolist() == ["", "", ""] and frame.at[0, "rule_x"] == 0.0


def test_passage_scores_move_each_segment_towards_its_turn_mean():
    segments = pd.DataFrame({"transcript_id": ["t", "t", "t", "u"], "turn_index": [1, 1, 3, 1]})
    scores = np.array([[0.9], [0.1], [0.4], [0.2]])
    blended = passage_scores(scores, segments, weight=0.5)
    assert blended[:, 0].tolist() == pytest.approx([0.7, 0.3, 0.4, 0.2])  # turn (t, 1) has mean 0.5
    assert passage_scores(scores, segments, weight=0.0) is scores
    assert passage_scores(scores, segments.drop(columns="turn_index"), weight=0.5) is scores


def test_example_texts_get_rule_features_from_the_rule_pipeline(project):
    hits = text_rule_features(
        ["we had a language barrier", "we never had a language barrier", "my mentor"],
        nlp=project.nlp,
        themes=project.codebook.theme_ids,
    )
    assert hits["language_barrier"].tolist() == [True, False, False]
    assert hits["mentor_support"].tolist() == [False, False, True]


def test_training_learns_themes_and_leaves_rare_ones_to_rules(model, project, labels):
    assert model.themes_ == ["language_barrier", "generic_tasks", "mentor_support"]
    assert model.left_to_rules_ == ["budget_cuts"]
    card = model.card
    assert card["left_to_rules"] == ["budget_cuts"]
    assert card["codebook"] == {"name": project.codebook.name, "version": "0.1", "hash": project.codebook.hash}
    assert card["training_data"]["coded_positives"] == labels.sum().to_dict()
    # examples, near misses, and each theme's definition and include note (4 definitions, no include notes)
    assert (
        card["training_data"]["examples"]
        == sum(
            len(t.examples.positive)
            + len(t.examples.near_miss)
            + len([x for x in (t.definition, t.include) if x.strip()])
            for t in project.codebook.themes
        )
        == 14 + 4
    )
    assert set(card["metrics"]) == set(model.themes_)
    for theme, metrics in card["metrics"].items():
        assert set(metrics) == {"precision", "recall", "f1", "support", "threshold"}
        assert metrics["support"] == labels[theme].sum()
        assert metrics["threshold"] == pytest.approx(model.thresholds_[theme], abs=1e-6)
    assert card["cv"]["folds"] == 3 and card["random_state"] == 0
    assert card["versions"]["scikit-learn"]


def test_in_sample_the_model_finds_segments_without_the_codebooks_words(model, project):
    predicted = model.predict(project.segments, project.rules)
    # no rule matches these sentences; the coders marked them
    assert predicted.loc["b_teacher:58-119", "generic_tasks"]  # "filing papers nobody needed"
    assert predicted.loc["b_teacher:417-463", "mentor_support"]  # "She guided me through ..."
    assert predicted.loc["e_statistician:140-187", "language_barrier"]


def test_training_is_deterministic_for_a_seed(model, project, labels):
    again = train_classifier(
        project.segments, labels, codebook=project.codebook, rules=project.rules, nlp=project.nlp, **TRAIN
    )
    pd.testing.assert_frame_equal(
        again.scores(project.segments, project.rules), model.scores(project.segments, project.rules), check_exact=True
    )
    assert {k: v for k, v in again.card.items() if k != "created"} == {
        k: v for k, v in model.card.items() if k != "created"
    }


def test_training_data_hash_changes_with_a_label(model, project, labels):
    flipped = labels.copy()
    flipped.loc["a_nurse:66-97", "mentor_support"] = True
    other = train_classifier(
        project.segments, flipped, codebook=project.codebook, rules=project.rules, nlp=project.nlp, **TRAIN
    )
    assert other.card["training_data"]["hash"] != model.card["training_data"]["hash"]


def test_too_few_coded_segments_is_a_clear_error(project, labels):
    with pytest.raises(ModelError, match="min_positive"):
        train_classifier(
            project.segments, labels, codebook=project.codebook, rules=project.rules, nlp=project.nlp, min_positive=100
        )


def test_train_refuses_a_coded_span_beyond_the_end_of_its_transcript(project, gold):
    """A coder file that does not fit the transcripts (an edited file, the wrong folder) stops training with
    the coder and span named, instead of training on labels that point at nothing."""
    first = gold.iloc[0]
    wrong = gold.copy()
    wrong.loc[wrong.index[0], "end_char"] = project.lengths[first.transcript_id] + 10
    with pytest.raises(QualcodeError, match=rf"coder '{first.coder}' codes {first.transcript_id}:.*beyond the end"):
        train_project(project, wrong, measure=False, **TRAIN)


def test_a_codebook_without_rules_is_carried_by_the_classifier(gold):
    codebook = load_codebook(CLASSIFY / "norules.yaml")
    assert not any(theme.rules for theme in codebook.themes)
    project = code_project(transcripts_dir=CLASSIFY / "transcripts", codebook_path=CLASSIFY / "norules.yaml")
    assert project.tags.empty and not project.rules.any().any()
    labels = segment_labels(project.segments, gold, themes=codebook.theme_ids)
    model = train_classifier(project.segments, labels, codebook=codebook, rules=project.rules, nlp=project.nlp, **TRAIN)
    transcript = next(t for t in discover(CLASSIFY / "transcripts")[0] if t.id == "c_engineer")
    coded = code_transcript(
        transcript, nlp=project.nlp, codebook=codebook, tagger=ModelTagger(model, codebook, "union")
    )
    found = {(t.segment.segment_id, t.theme) for t in coded.tags}
    assert {t.method for t in coded.tags} == {CLASSIFIER_METHOD}
    assert ("c_engineer:160-218", "language_barrier") in found
    assert ("c_engineer:219-269", "mentor_support") in found


# --- saving and loading ----------------------------------------------------------------------


def test_skops_round_trip_gives_identical_scores_and_card(model, project, tmp_path: Path):
    path = save_model(model, tmp_path / "m.skops")
    assert zipfile.is_zipfile(path)
    card = json.loads(card_path(path).read_text(encoding="utf-8"))
    assert card["codebook"]["hash"] == project.codebook.hash
    loaded = load_model(path, codebook=project.codebook)
    pd.testing.assert_frame_equal(
        loaded.scores(project.segments, project.rules), model.scores(project.segments, project.rules), check_exact=True
    )
    assert loaded.thresholds_ == model.thresholds_ and loaded.left_to_rules_ == model.left_to_rules_
    assert loaded.card == card and loaded.card_hash == model.card_hash
    assert loaded.label == f"m.skops@{model.card_hash}"


def test_loading_for_another_codebook_is_refused(model, tmp_path: Path):
    path = save_model(model, tmp_path / "m.skops")
    with pytest.raises(ModelError, match="trained for codebook") as caught:
        load_model(path, codebook=load_codebook(CLASSIFY / "norules.yaml"))
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    "payload",
    [
        {"format": "qualcode-classifier/1", "when": date(2024, 1, 1)},  # datetime.date: not a trusted module
        {"format": "qualcode-classifier/1", "call": eval},  # builtins.eval: a function, not a class
        {"format": "qualcode-classifier/1", "call": np.load},  # numpy.load: a function, not a class
    ],
)
def test_an_untrusted_type_is_refused(payload, project, tmp_path: Path):
    import skops.io as sio

    path = tmp_path / "evil.skops"
    sio.dump(payload, path)
    with pytest.raises(ModelError, match="refusing to load"):
        load_model(path, codebook=project.codebook)


@pytest.mark.parametrize("estimator", ["logistic", "svm"])
def test_a_saved_model_lists_its_exact_types_in_the_card(estimator, project, labels, tmp_path: Path):
    trained = train_classifier(
        project.segments,
        labels,
        codebook=project.codebook,
        rules=project.rules,
        nlp=project.nlp,
        estimator=estimator,
        **TRAIN,
    )
    path = save_model(trained, tmp_path / "m.skops")
    card = json.loads(card_path(path).read_text())
    assert card["model_types"] == model_types(path.read_bytes())
    assert set(card["model_types"]) <= MODEL_TYPES
    assert load_model(path, codebook=project.codebook).card == card


def test_the_bundled_model_loads():
    """models/classifier.skops loads, and its card lists the exact types the file holds (checked on load)."""
    root = Path(__file__).resolve().parent.parent
    bundled = load_model(root / "models" / "classifier.skops", codebook=load_codebook(root / "codebook.yaml"))
    assert bundled.card["model_types"] and bundled.themes_


def _inject(model_file: Path, key: str, node: dict) -> None:
    """Add `key: node` to the payload dict in the skops file's schema.json, as an attacker editing the zip would."""
    with zipfile.ZipFile(model_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"][key] = node
    schema["key_types"]["content"].append(dict(schema["key_types"]["content"][0]))
    members["schema.json"] = json.dumps(schema).encode("utf-8")
    with zipfile.ZipFile(model_file, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _json_node(value) -> dict:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(value)}


def _netcdf_writer(target: Path) -> dict:
    """A node that, when constructed, calls scipy.io.netcdf_file(target, "w"): it truncates `target`."""
    arguments = [_json_node(str(target)), _json_node("w")]
    return {
        "__class__": "netcdf_file",
        "__module__": "scipy.io",
        "__loader__": "ConstructorFromReduceNode",
        "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": arguments},
    }


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(_netcdf_writer, id="scipy.io.netcdf_file"),
        pytest.param(
            lambda target: {"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode"},
            id="builtins.eval",
        ),
        pytest.param(  # a type the model does hold, built another way: its constructor instead of __setstate__
            lambda target: {
                "__class__": "Pipeline",
                "__module__": "sklearn.pipeline",
                "__loader__": "ConstructorFromReduceNode",
                "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": []},
            },
            id="Pipeline-by-constructor",
        ),
    ],
)
def test_a_tampered_model_is_refused_before_anything_in_it_runs(node, model, project, tmp_path: Path):
    victim = tmp_path / "review.sqlite"
    victim.write_bytes(b"the reviewers' decisions")
    path = save_model(model, tmp_path / "m.skops")  # the genuine card stays beside it
    _inject(path, "extra", node(victim))
    with pytest.raises(ModelError, match="refusing to load") as caught:
        load_model(path, codebook=project.codebook)
    assert caught.value.path == str(path)
    assert victim.read_bytes() == b"the reviewers' decisions"


def test_a_tampered_model_with_a_rewritten_card_is_still_refused(model, project, tmp_path: Path):
    victim = tmp_path / "review.sqlite"
    victim.write_bytes(b"decisions")
    path = save_model(model, tmp_path / "m.skops")
    _inject(path, "extra", _netcdf_writer(victim))
    card = json.loads(card_path(path).read_text())
    card["model_types"] = [*card.get("model_types", []), "ConstructorFromReduceNode:scipy.io.netcdf_file"]
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="refusing to load"):
        load_model(path, codebook=project.codebook)
    assert victim.read_bytes() == b"decisions"


def test_a_plain_run_with_a_tampered_default_model_fails_and_writes_nothing(model, tmp_path: Path):
    """`qualcode run` in a project whose models/classifier.skops was altered (its genuine card kept)."""
    shutil.copytree(CLASSIFY / "transcripts", tmp_path / "transcripts")
    shutil.copy(CLASSIFY / "codebook.yaml", tmp_path / "codebook.yaml")
    victim = tmp_path / "reports" / "review.sqlite"
    victim.parent.mkdir()
    victim.write_bytes(b"decisions")
    path = save_model(model, tmp_path / "models" / "classifier.skops")
    _inject(path, "extra", _netcdf_writer(victim))
    script = Path(sys.executable).with_name("qualcode")
    result = subprocess.run([str(script), "run"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: models/classifier.skops: refusing to load")
    assert "scipy.io.netcdf_file" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert victim.read_bytes() == b"decisions"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["review.sqlite"]


def test_missing_damaged_or_mismatched_files_are_model_errors(model, project, tmp_path: Path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "absent.skops", codebook=project.codebook)
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable skops"):
        load_model(tmp_path / "junk.skops", codebook=project.codebook)
    path = save_model(model, tmp_path / "m.skops")
    card_path(path).write_text(card_path(path).read_text().replace('"random_state": 0', '"random_state": 7'))
    with pytest.raises(ModelError, match="does not match"):
        load_model(path, codebook=project.codebook)


# --- combining with the rules ----------------------------------------------------------------


def test_combine_modes():
    index = pd.Index(["s1", "s2", "s3"], name="segment_id")
    rules = pd.DataFrame({"a": [True, False, False], "b": [True, False, False], "c": [False, True, False]}, index=index)
    predicted = pd.DataFrame({"a": [False, True, False], "b": [False, True, True]}, index=index)
    union = combine(rules, predicted, mode="union", left_to_rules=["c"])
    assert union.to_dict("list") == {"a": [True, True, False], "b": [True, True, True], "c": [False, True, False]}
    classifier = combine(rules, predicted, mode="classifier", left_to_rules=["b"])  # b left to rules: keeps rules
    assert classifier.to_dict("list") == {
        "a": [False, True, False],
        "b": [True, False, False],
        "c": [False, True, False],
    }
    assert combine(rules, predicted, mode="rules", left_to_rules=[]).equals(rules)
    with pytest.raises(QualcodeError, match="unknown combine mode"):
        combine(rules, predicted, mode="both", left_to_rules=[])


def _with_thresholds(model: ThemeModel, value: float) -> ThemeModel:
    return ThemeModel(
        pipeline=model.pipeline_,
        themes=model.themes_,
        feature_themes=model.feature_themes_,
        thresholds={t: value for t in model.themes_},
        left_to_rules=model.left_to_rules_,
        card=model.card,
        source="test.skops",
    )


@pytest.fixture(scope="module")
def teacher(project):
    transcripts, _ = discover(CLASSIFY / "transcripts")
    return next(t for t in transcripts if t.id == "b_teacher")


def test_union_tags_one_row_per_segment_and_theme_and_keeps_negated_rule_tags(model, project, teacher):
    always = _with_thresholds(model, 0.0)  # the classifier says yes to every learned theme
    coded = code_transcript(
        teacher, nlp=project.nlp, codebook=project.codebook, tagger=ModelTagger(always, project.codebook, "union")
    )
    keys = [(t.segment.segment_id, t.theme) for t in coded.tags]
    assert len(keys) == len(set(keys))
    respondent = [s for s in coded.segments if s.role != "interviewer"]
    by_key = {(t.segment.segment_id, t.theme): t for t in coded.tags}
    negated = by_key[("b_teacher:252-309", "language_barrier")]
    assert negated.method == "rule" and negated.negated and not negated.counts_as_evidence
    both = by_key[("b_teacher:120-161", "generic_tasks")]
    assert both.method == BOTH_METHOD and both.rule_id == "gt.phrases" and both.matched == "generic tasks"
    assert both.score is not None and both.model == always.label
    only = by_key[("b_teacher:58-119", "generic_tasks")]
    assert only.method == CLASSIFIER_METHOD and only.rule_id == "" and 0.0 <= only.score <= 1.0
    assert len(keys) == len(respondent) * len(model.themes_)  # every learned theme on every respondent segment
    assert not any(t.segment.role == "interviewer" for t in coded.tags)


def test_classifier_mode_drops_rule_only_tags_of_learned_themes_but_not_of_rule_themes(model, project):
    never = _with_thresholds(model, 1.01)  # the classifier says no to everything
    nurse = next(t for t in discover(CLASSIFY / "transcripts")[0] if t.id == "a_nurse")
    rules_only = code_transcript(nurse, nlp=project.nlp, codebook=project.codebook)
    union = code_transcript(
        nurse, nlp=project.nlp, codebook=project.codebook, tagger=ModelTagger(never, project.codebook, "union")
    )
    classifier = code_transcript(
        nurse, nlp=project.nlp, codebook=project.codebook, tagger=ModelTagger(never, project.codebook, "classifier")
    )
    assert [(t.segment.segment_id, t.theme, t.method) for t in union.tags] == [
        (t.segment.segment_id, t.theme, t.method) for t in rules_only.tags
    ]
    assert all(t.score is not None for t in union.tags if t.theme in model.themes_)
    assert [(t.segment.segment_id, t.theme) for t in classifier.tags] == [("a_nurse:363-425", "budget_cuts")]
    rules_mode = code_transcript(
        nurse, nlp=project.nlp, codebook=project.codebook, tagger=ModelTagger(never, project.codebook, "rules")
    )
    assert rules_mode.tags == rules_only.tags


def test_auto_combine_is_the_cards_best_mode(model):
    card = dict(model.card)
    assert resolve_combine(model, "auto") == "union"  # no measurement in the card
    measured = ThemeModel(
        pipeline=model.pipeline_,
        themes=model.themes_,
        feature_themes=model.feature_themes_,
        thresholds=model.thresholds_,
        left_to_rules=model.left_to_rules_,
        card={**card, "best_combine": "classifier"},
    )
    assert resolve_combine(measured, "auto") == "classifier"
    assert resolve_combine(measured, "rules") == "rules"


def test_suggestions_skip_coded_segments_and_sort_by_distance_to_threshold(model, project, gold):
    found = suggest_segments(project, model, gold=gold, n=50)
    coded = segment_labels(project.segments, gold, themes=sorted(set(gold["theme"]))).any(axis=1)
    assert not set(found["segment_id"]) & set(coded[coded].index)
    assert len(found) == int((~coded).sum())
    assert found["distance"].is_monotonic_increasing
    scores = model.scores(project.segments, project.rules)
    first = found.iloc[0]
    assert first["score"] == pytest.approx(scores.loc[first["segment_id"]].max(), abs=1e-4)
    assert first["threshold"] == pytest.approx(model.thresholds_[first["theme"]], abs=1e-4)


# --- the commands, through the real entry point ----------------------------------------------


@pytest.fixture(scope="module")
def trained_cli(tmp_path_factory):
    """`qualcode train` on the fixtures, run once for the command tests."""
    folder = tmp_path_factory.mktemp("train")
    model = folder / "models" / "classifier.skops"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--transcripts",
            str(CLASSIFY / "transcripts"),
            "--codebook",
            str(CLASSIFY / "codebook.yaml"),
            "--gold",
            str(CLASSIFY / "coded"),
            "--model",
            str(model),
            "--min-positive",
            "2",
            "--folds",
            "2",
            "--seed",
            "3",
            "--reports",
            str(folder / "reports"),
        ],
    )  # no review log: the coder files alone
    return folder, model, result


def test_cli_train_saves_model_and_card_and_reports(trained_cli):
    _, model, result = trained_cli
    assert result.exit_code == 0, result.output
    assert model.is_file() and card_path(model).is_file()
    card = json.loads(card_path(model).read_text())
    assert card["random_state"] == 3 and card["left_to_rules"] == ["budget_cuts"]
    assert card["best_combine"] in ("rules", "classifier", "union")
    assert set(card["combine_measured"]["macro_f1"]) == {"rules", "classifier", "union"}
    assert card["training_data"]["coders"] == ["alice", "bob"]
    assert "unknown code 'career_growth'" in result.output
    assert "left to rules" in result.output and "budget_cuts" in result.output
    assert f"best: {card['best_combine']}" in result.output
    for theme in ("language_barrier", "generic_tasks", "mentor_support"):
        assert theme in result.output


def test_cli_run_with_model_tags_with_the_classifier(trained_cli, tmp_path: Path):
    _, model, _ = trained_cli
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--transcripts",
            str(CLASSIFY / "transcripts"),
            "--codebook",
            str(CLASSIFY / "codebook.yaml"),
            "--model",
            str(model),
            "--combine",
            "union",
            "--min-precision",
            "0.55",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads(card_path(model).read_text())
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["min_precision"] == 0.55 and run["tagging"]["min_precision"] == 0.55
    assert run["tagging"]["model"] == f"classifier.skops@{card_hash(card)}" and run["tagging"]["combine"] == "union"
    precision = card["combine_measured"]["per_theme"]["classifier"]
    classifier_tags = read_tags(out / "tags.csv").query("method == 'classifier'")
    assert len(classifier_tags)
    for _, tag in classifier_tags.iterrows():  # an unreviewed classifier tag counts only if its theme clears 0.55
        assert tag["evidence"] == (precision.get(tag["theme"], {}).get("precision", 0) >= 0.55)
        assert tag["evidence_reason"] == ("" if tag["evidence"] else "below_precision_bar")
    assert run["tagging"]["below_precision_bar_tags"] == int((~classifier_tags["evidence"]).sum()) + int(
        read_tags(out / "tags.csv").query("method != 'classifier'")["evidence_reason"].eq("below_precision_bar").sum()
    )
    tags = read_tags(out / "tags.csv")
    assert {"rule", CLASSIFIER_METHOD, BOTH_METHOD} <= set(tags["method"])
    learned = tags[tags["method"] != "rule"]
    assert learned["score"].notna().all()
    assert set(learned["model"]) == {f"classifier.skops@{card_hash(card)}"}
    assert not tags.duplicated(["segment_id", "theme"]).any()
    record = json.loads((out / "run.json").read_text())["classifier"]
    assert record["model"] == str(model) and record["combine"] == "union" and record["card_hash"] == card_hash(card)
    assert "classifier: " in result.output and "as union" in result.output


def test_cli_run_uses_the_default_model_only_when_it_fits_the_codebook(trained_cli, tmp_path: Path):
    folder, _, _ = trained_cli
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(folder)  # models/classifier.skops is here
    try:
        fits = runner.invoke(
            app,
            [
                "run",
                "--transcripts",
                str(CLASSIFY / "transcripts"),
                "--codebook",
                str(CLASSIFY / "codebook.yaml"),
                "--out",
                str(tmp_path / "a"),
            ],
        )
        other = runner.invoke(
            app,
            [
                "run",
                "--transcripts",
                str(CLASSIFY / "transcripts"),
                "--codebook",
                str(CLASSIFY / "norules.yaml"),
                "--out",
                str(tmp_path / "b"),
            ],
        )
        refused = runner.invoke(
            app,
            [
                "run",
                "--transcripts",
                str(CLASSIFY / "transcripts"),
                "--codebook",
                str(CLASSIFY / "norules.yaml"),
                "--combine",
                "classifier",
                "--out",
                str(tmp_path / "c"),
            ],
        )
    finally:
        os.chdir(cwd)
    assert fits.exit_code == 0, fits.output
    card = json.loads(card_path(folder / "models" / "classifier.skops").read_text())
    assert json.loads((tmp_path / "a" / "run.json").read_text())["classifier"]["combine"] == card["best_combine"]
    assert "classifier: models/classifier.skops" in fits.output
    assert other.exit_code == 0, other.output
    assert "rules only (models/classifier.skops was trained for another codebook" in other.output
    assert json.loads((tmp_path / "b" / "run.json").read_text())["classifier"]["model"] is None
    assert refused.exit_code != 0 and isinstance(refused.exception, QualcodeError)


@pytest.mark.parametrize(
    "choice",
    [
        [],
        ["--combine", "union"],
        ["--model", "models/classifier.skops", "--combine", "classifier"],
        ["--combine", "rules"],
    ],
    ids=["default-model-auto", "default-model-union", "explicit-model", "rules"],
)
def test_cli_tag_codes_a_file_as_run_does(trained_cli, tmp_path: Path, choice: list[str]):
    folder, _, _ = trained_cli
    runner = CliRunner()
    codebook = ["--codebook", str(CLASSIFY / "codebook.yaml")]
    cwd = os.getcwd()
    os.chdir(folder)  # models/classifier.skops is here: the default model of run and tag
    try:
        ran = runner.invoke(
            app, ["run", "--transcripts", str(CLASSIFY / "transcripts"), *codebook, *choice, "--out", "out"]
        )
        assert ran.exit_code == 0, ran.output
        run_tags = read_tags(folder / "out" / "tags.csv")
        learned = run_tags[run_tags["method"] != "rule"]
        source = (learned if len(learned) else run_tags)["source"].iloc[0]  # a transcript the classifier tagged
        tagged = runner.invoke(app, ["tag", str(CLASSIFY / "transcripts" / source), *codebook, *choice])
    finally:
        os.chdir(cwd)
    assert tagged.exit_code == 0, tagged.output
    expected = run_tags[run_tags["source"] == source].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_tags(StringIO(tagged.stdout)), expected)
    assert (len(learned) == 0) == (choice == ["--combine", "rules"])


def test_cli_run_explicit_model_for_another_codebook_fails(trained_cli, tmp_path: Path):
    _, model, _ = trained_cli
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--transcripts",
            str(CLASSIFY / "transcripts"),
            "--codebook",
            str(CLASSIFY / "norules.yaml"),
            "--model",
            str(model),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0 and isinstance(result.exception, ModelError)


def test_cli_suggest_lists_uncoded_segments_as_csv(trained_cli):
    _, model, _ = trained_cli
    result = CliRunner().invoke(
        app,
        [
            "suggest",
            "--n",
            "4",
            "--transcripts",
            str(CLASSIFY / "transcripts"),
            "--codebook",
            str(CLASSIFY / "codebook.yaml"),
            "--model",
            str(model),
            "--gold",
            str(CLASSIFY / "coded"),
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    found = pd.read_csv(StringIO(result.stdout))
    assert list(found.columns) == [
        "segment_id",
        "transcript_id",
        "start_char",
        "end_char",
        "theme",
        "score",
        "threshold",
        "distance",
        "text",
    ]
    assert len(found) == 4 and found["distance"].is_monotonic_increasing
    gold = load_gold(CLASSIFY / "coded")
    for row in found.itertuples():
        assert not (
            (gold.transcript_id == row.transcript_id)
            & (gold.start_char < row.end_char)
            & (row.start_char < gold.end_char)
        ).any()
    table = CliRunner().invoke(
        app,
        [
            "suggest",
            "--n",
            "2",
            "--transcripts",
            str(CLASSIFY / "transcripts"),
            "--codebook",
            str(CLASSIFY / "codebook.yaml"),
            "--model",
            str(model),
            "--gold",
            str(CLASSIFY / "coded"),
        ],
    )
    assert table.exit_code == 0 and found.iloc[0]["segment_id"] in table.stdout


def test_coding_with_a_model_gives_the_same_tags_in_worker_processes(model, project):
    transcripts, _ = discover(CLASSIFY / "transcripts")
    one = [
        c.tags
        for c in code_corpus(
            transcripts, codebook=project.codebook, tagger=ModelTagger(model, project.codebook, "union")
        )
    ]
    two = [
        c.tags
        for c in code_corpus(
            transcripts, codebook=project.codebook, tagger=ModelTagger(model, project.codebook, "union"), jobs=2
        )
    ]
    assert one == two
    assert any(t.method == CLASSIFIER_METHOD for tags in one for t in tags)


def test_cli_train_uses_a_review_log_only_if_it_belongs_to_the_transcripts(tmp_path: Path):
    """A reports/review.sqlite of another project in the working folder: noted and not used by default,
    refused when named with --reports; a log with decisions on these transcripts is used and named."""
    from pipeline.review.log import Decision, ReviewLog, text_sha

    def decide(log: Path, transcript: str, text: str, start: int, end: int) -> None:
        ReviewLog.open(log).append(
            Decision(
                reviewer="ana",
                transcript_id=transcript,
                start_char=start,
                end_char=end,
                text_sha=text_sha(text[start:end]),
                action="accept",
                theme_before="language_barrier",
            )
        )

    elsewhere = tmp_path / "reports" / "review.sqlite"
    decide(elsewhere, "t1_north", "x" * 200, 48, 103)  # another project's transcript
    arguments = [
        "train",
        "--transcripts",
        str(CLASSIFY / "transcripts"),
        "--codebook",
        str(CLASSIFY / "codebook.yaml"),
        "--gold",
        str(CLASSIFY / "coded"),
        "--min-positive",
        "2",
        "--folds",
        "2",
    ]
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        # --min-positive 100 stops it right after the log is judged (no theme has that many): no need to train
        ignored = runner.invoke(app, [*arguments, "--min-positive", "100", "--model", str(tmp_path / "a.skops")])
        refused = runner.invoke(app, [*arguments, "--model", str(tmp_path / "b.skops"), "--reports", "reports"])
    finally:
        os.chdir(cwd)
    assert "review log reports/review.sqlite not used: none of its 1 decisions is on a transcript" in ignored.output
    assert isinstance(ignored.exception, ModelError) and "min_positive" in str(ignored.exception)
    assert isinstance(refused.exception, QualcodeError) and "review log not used" in str(refused.exception)
    assert not (tmp_path / "b.skops").exists()

    own = tmp_path / "own" / "review.sqlite"
    text = (CLASSIFY / "transcripts" / "c_engineer.txt").read_text(encoding="utf-8")
    decide(own, "c_engineer", text, 160, 218)
    used = runner.invoke(app, [*arguments, "--model", str(tmp_path / "c.skops"), "--reports", str(own.parent)])
    assert used.exit_code == 0, used.output
    assert f"review decisions from {own} (1 of 1 on these transcripts): 1 positive" in used.output
    card = json.loads(card_path(tmp_path / "c.skops").read_text())
    assert card["training_data"]["review_log"] == {"path": str(own), "decisions": 1}
    assert "review" in card["training_data"]["coders"]


# --- the precision bar -----------------------------------------------------------------------


def _measured(model: ThemeModel, *, classifier: dict, rules: dict, threshold: float = 0.0) -> ThemeModel:
    """The model with a card whose grouped-CV precision per theme is given (a theme left out is unmeasured)."""
    per_theme = {
        "classifier": {t: {"precision": p, "recall": 0.5, "f1": 0.5} for t, p in classifier.items()},
        "rules": {t: {"precision": p, "recall": 0.5, "f1": 0.5} for t, p in rules.items()},
    }
    return ThemeModel(
        pipeline=model.pipeline_,
        themes=model.themes_,
        feature_themes=model.feature_themes_,
        thresholds={t: threshold for t in model.themes_},
        left_to_rules=model.left_to_rules_,
        card={**model.card, "combine_measured": {"per_theme": per_theme}},
        source="test.skops",
    )


@pytest.mark.parametrize(
    ("classifier_precision", "rules_precision", "bar", "classifier_counts", "both_counts"),
    [
        (0.9, 0.3, 0.7, True, True),  # the classifier clears the bar: its tags count, and so do tags both found
        (0.5, 0.3, 0.7, False, False),  # neither method clears it: nothing unreviewed counts
        (0.5, 0.8, 0.7, False, True),  # the rules clear it: tags both found count, classifier-only ones do not
        (0.5, None, 0.7, False, True),  # rules never measured: rule tags keep their status
        (0.7, 0.3, 0.7, True, True),  # at the bar counts
        (0.1, 0.1, 0.0, True, True),  # bar 0: every tag counts, as before the bar existed
    ],
)
def test_the_precision_bar_decides_which_unreviewed_tags_are_evidence(
    model, project, teacher, classifier_precision, rules_precision, bar, classifier_counts, both_counts
):
    measured = _measured(
        model,
        classifier={"generic_tasks": classifier_precision},
        rules={} if rules_precision is None else {"generic_tasks": rules_precision},
    )
    coded = code_transcript(
        teacher,
        nlp=project.nlp,
        codebook=project.codebook,
        tagger=ModelTagger(measured, project.codebook, "union", min_precision=bar),
    )
    by_key = {(t.segment.segment_id, t.theme): t for t in coded.tags}
    only, both = by_key[("b_teacher:58-119", "generic_tasks")], by_key[("b_teacher:120-161", "generic_tasks")]
    assert (only.method, both.method) == (CLASSIFIER_METHOD, BOTH_METHOD)
    assert only.counts_as_evidence is classifier_counts and both.counts_as_evidence is both_counts
    for tag in (only, both):
        assert tag.evidence_reason == ("" if tag.counts_as_evidence else "below_precision_bar")
    negated = by_key[("b_teacher:252-309", "language_barrier")]
    assert negated.evidence_reason == "negated"  # ConText's verdict comes first, whatever the bar


@pytest.mark.parametrize(("rules_precision", "counts"), [(0.3, False), (0.9, True), (None, True)])
def test_rule_tags_answer_to_the_rules_measured_precision(model, project, rules_precision, counts):
    nurse = next(t for t in discover(CLASSIFY / "transcripts")[0] if t.id == "a_nurse")
    themes = project.codebook.theme_ids
    rules = {} if rules_precision is None else {t: rules_precision for t in themes}
    measured = _measured(model, classifier={t: 0.0 for t in model.themes_}, rules=rules)
    coded = code_transcript(
        nurse, nlp=project.nlp, codebook=project.codebook, tagger=ModelTagger(measured, project.codebook, "rules")
    )
    plain = code_transcript(nurse, nlp=project.nlp, codebook=project.codebook)
    machine = [t for t in plain.tags if t.counts_as_evidence]
    assert machine and len(coded.tags) == len(plain.tags)
    barred = [
        t for t in coded.tags if (t.segment.segment_id, t.theme) in {(m.segment.segment_id, m.theme) for m in machine}
    ]
    assert all(t.counts_as_evidence is counts for t in barred)


def test_the_card_records_precision_and_recall_of_every_method(trained_cli):
    _, model, _ = trained_cli
    measured = json.loads(card_path(model).read_text())["combine_measured"]
    assert set(measured["per_theme"]) == {"rules", "classifier", "union", "rules_and_classifier"}
    for name, themes in measured["per_theme"].items():
        assert set(themes) == set(measured["themes_scored"])
        for figures in themes.values():
            assert 0.0 <= figures["precision"] <= 1.0 and 0.0 <= figures["recall"] <= 1.0
            assert figures["tagged"] >= 0 and figures["coded"] >= 1
        assert measured["macro"][name]["f1"] == pytest.approx(np.mean([f["f1"] for f in themes.values()]), abs=1e-4)
    assert measured["per_theme"]["union"].keys() == measured["per_theme_f1"]["union"].keys()
    union = measured["per_theme"]["union"]
    assert {t: f["f1"] for t, f in union.items()} == measured["per_theme_f1"]["union"]

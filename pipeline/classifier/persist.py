"""Save and load models with skops (never pickle), refusing any type a qualcode model does not hold.

A skops file is a zip whose schema.json names, for every object, its type and how skops rebuilds it (its
loader). Before anything in a file is built, every (loader, type) pair in it must be one that qualcode
models hold (`MODEL_TYPES`) and, when the card beside it lists the pairs saved (`model_types`), one of
those. A type is never trusted for its module alone: `scipy.io.netcdf_file` is a SciPy class that writes files.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from pipeline.classifier.model import MODEL_FORMAT, ThemeModel, card_json, card_path
from pipeline.codebook.model import Codebook
from pipeline.core.errors import ModelError
from pipeline.core.files import atomic_write_bytes, atomic_write_text

CARD_TYPES = "model_types"  # the card key listing the (loader:type) pairs the model file was saved with
_NUMPY_SCALARS = sorted({f"numpy.{t.__name__}" for t in np.sctypeDict.values() if t.__module__ == "numpy"})
# Every (loader:type) pair a qualcode model holds, with the logistic or the calibrated-SVM estimator (measured
# on saved models; tests/test_classify.py checks both). Numpy scalars and dtypes are data, not code.
MODEL_TYPES = frozenset(
    {
        "DictNode:builtins.dict",
        "ListNode:builtins.list",
        "TupleNode:builtins.tuple",
        "SliceNode:builtins.slice",
        "JsonNode:builtins.str",
        "TypeNode:builtins.str",
        "NdArrayNode:numpy.ndarray",
        *(f"{loader}:{scalar}" for loader in ("NdArrayNode", "TypeNode") for scalar in _NUMPY_SCALARS),
        *(
            f"ObjectNode:sklearn.{name}"
            for name in (
                "pipeline.Pipeline",
                "compose._column_transformer.ColumnTransformer",
                "feature_extraction.text.TfidfVectorizer",
                "feature_extraction.text.TfidfTransformer",
                "preprocessing._function_transformer.FunctionTransformer",
                "preprocessing._label.LabelBinarizer",
                "multiclass.OneVsRestClassifier",
                "linear_model._logistic.LogisticRegression",
                "svm._classes.LinearSVC",
                "calibration.CalibratedClassifierCV",
                "calibration._CalibratedClassifier",
                "calibration._SigmoidCalibration",
            )
        ),
    }
)


def save_model(model: ThemeModel, path: str | Path) -> Path:
    """Write the model with skops (never pickle) and its card beside it as `<path>.card.json`."""
    path = Path(path)
    payload = {
        "format": MODEL_FORMAT,
        "pipeline": model.pipeline_,
        "themes": model.themes_,
        "feature_themes": model.feature_themes_,
        "thresholds": model.thresholds_,
        "left_to_rules": model.left_to_rules_,
        "passage_weight": model.passage_weight_,
        "card": model.card,
    }
    import skops.io as sio  # imported when needed: it imports all of scikit-learn (seconds)

    held = model_types(sio.dumps(payload))
    foreign = sorted(set(held) - MODEL_TYPES)
    if foreign:  # never write a model that loading would refuse
        raise ModelError(f"the model holds type(s) qualcode does not load: {', '.join(foreign)}", path=path)
    model.card[CARD_TYPES] = held  # the card is JSON inside the payload: listing types adds none
    data = sio.dumps(payload, compression=zipfile.ZIP_DEFLATED)
    if model_types(data) != held:
        raise ModelError("the model's types changed between two saves", path=path)
    atomic_write_bytes(path, data)
    atomic_write_text(card_path(path), card_json(model.card))
    model.source = path.name
    return path


def load_model(path: str | Path, *, codebook: Codebook) -> ThemeModel:
    """Load a skops model after checking that it holds only the types a qualcode model holds (and its card lists),
    before anything in it is built, and that it was made for this codebook."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found (train one with `qualcode train`)", path=path)
    try:
        held = model_types(path.read_bytes())
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors (zip, json, key) for files it cannot read
        raise ModelError(f"not a readable skops model file ({type(exc).__name__}: {exc})", path=path) from None
    saved = _saved_types(path)
    allowed = MODEL_TYPES if saved is None else MODEL_TYPES & set(saved)
    refused = sorted(set(held) - allowed)
    refused += sorted(name for name in untrusted if not any(t.endswith(":" + name) for t in (*allowed, *refused)))
    if refused:
        raise ModelError(
            f"refusing to load type(s) a qualcode model does not hold: {', '.join(refused)} "
            "(the file was altered or is not a qualcode model)",
            path=path,
        )
    try:  # skops itself refuses anything untrusted beyond the types checked above
        payload = sio.load(path, trusted=untrusted)
    except Exception as exc:  # same: a damaged file fails in many ways, all meaning "cannot use it"
        raise ModelError(f"cannot load model ({type(exc).__name__}: {exc})", path=path) from None
    if not (
        isinstance(payload, dict)
        and payload.get("format") == MODEL_FORMAT
        and isinstance(payload.get("pipeline"), Pipeline)
    ):
        raise ModelError(f"not a qualcode classifier ({MODEL_FORMAT})", path=path)
    card = payload["card"]
    trained_for = card.get("codebook", {})
    if trained_for.get("hash") != codebook.hash:
        raise ModelError(
            f"model was trained for codebook {trained_for.get('name')!r} version {trained_for.get('version')} "
            f"(hash {trained_for.get('hash')}), not {codebook.path or codebook.name} (hash {codebook.hash}); "
            "retrain with `qualcode train`",
            path=path,
        )
    beside = card_path(path)
    if beside.is_file() and beside.read_text(encoding="utf-8") != card_json(card):
        raise ModelError(f"model card {beside.name} does not match the card saved in the model", path=path)
    return ThemeModel(
        pipeline=payload["pipeline"],
        themes=payload["themes"],
        feature_themes=payload["feature_themes"],
        thresholds=payload["thresholds"],
        left_to_rules=payload["left_to_rules"],
        card=card,
        source=path.name,
        passage_weight=float(payload.get("passage_weight", 0.0)),
    )


def model_types(data: bytes) -> list[str]:
    """Every (loader:type) pair named in a skops file's schema.json, sorted: what loading it would build.

    Read as plain JSON, so nothing in the file is imported or run.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    return sorted({f"{node['__loader__']}:{node['__module__']}.{node['__class__']}" for node in _nodes(schema)})


def _nodes(state: Any) -> Iterator[dict[str, Any]]:
    """Every node of a skops schema: each dict with a `__loader__`, however deeply nested."""
    stack = [state]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _saved_types(path: Path) -> list[str] | None:
    """The (loader:type) pairs the card beside the model says were saved; None for cards older than the list."""
    beside = card_path(path)
    if not beside.is_file():
        return None
    try:
        listed = json.loads(beside.read_text(encoding="utf-8")).get(CARD_TYPES)
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"cannot read the model card {beside.name}: {exc}", path=path) from None
    if listed is not None and not (isinstance(listed, list) and all(isinstance(t, str) for t in listed)):
        raise ModelError(f"model card {beside.name}: {CARD_TYPES} must be a list of type names", path=path)
    return listed

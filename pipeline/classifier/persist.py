"""Save and load models with skops (never pickle), refusing untrusted types."""

from __future__ import annotations

import builtins
import importlib
import zipfile
from pathlib import Path
from typing import Any

from sklearn.pipeline import Pipeline

from pipeline.classifier.model import MODEL_FORMAT, ThemeModel, card_json, card_path
from pipeline.codebook.model import Codebook
from pipeline.core.errors import ModelError
from pipeline.core.files import atomic_write_bytes, atomic_write_text

TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "builtins")
REFUSED_TYPES = frozenset({"builtins.type", "builtins.object", "numpy.memmap"})  # classes that can do harm


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
        "card": model.card,
    }
    import skops.io as sio  # imported when needed: it imports all of scikit-learn (seconds)

    atomic_write_bytes(path, sio.dumps(payload, compression=zipfile.ZIP_DEFLATED))
    atomic_write_text(card_path(path), card_json(model.card))
    model.source = path.name
    return path


def load_model(path: str | Path, *, codebook: Codebook) -> ThemeModel:
    """Load a skops model after checking every type in it is a trusted class and it was made for this codebook."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found (train one with `qualcode train`)", path=path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors (zip, json, key) for files it cannot read
        raise ModelError(f"not a readable skops model file ({type(exc).__name__}: {exc})", path=path) from None
    refused = [name for name in untrusted if not trusted_type(name)]
    if refused:
        raise ModelError(f"refusing to load untrusted type(s): {', '.join(sorted(refused))}", path=path)
    try:
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
    )


def trusted_type(name: str) -> bool:
    """A type named in a skops file may load only if it is a class of scikit-learn, NumPy, SciPy or builtins
    (functions such as builtins.eval or numpy.load are refused)."""
    if name.split(".", 1)[0] not in TRUSTED_MODULES:
        return False
    return name not in REFUSED_TYPES and isinstance(_resolve(name), type)


def _resolve(name: str) -> Any:
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = builtins if parts[:cut] == ["builtins"] else importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        return found
    return None

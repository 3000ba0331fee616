"""Which classifier model a command codes with, and its combine mode: given, the default one if it fits the
codebook, or none (rules only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.codebook.model import Codebook
from pipeline.core.choices import Combine
from pipeline.core.errors import QualcodeError

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from pipeline.classifier.model import ThemeModel

DEFAULT_MODEL = Path("models/classifier.skops")


def classifier_setup(
    codebook: Codebook, *, model_path: Path | None, model: ThemeModel | None, combine: Combine
) -> tuple[ThemeModel | None, str]:
    """The model a run uses (loaded and checked against the codebook) and its combine mode, "auto" resolved."""
    if model is None and model_path is not None:
        from pipeline.classifier.persist import load_model

        model = load_model(model_path, codebook=codebook)
    if model is None:
        if combine not in ("auto", "rules"):
            raise QualcodeError(f"combine mode {combine!r} needs a classifier model (--model FILE)")
        return None, "rules"
    from pipeline.classifier.combine import resolve_combine

    return model, resolve_combine(model, combine)


def default_model(codebook: Codebook, *, path: Path = DEFAULT_MODEL) -> tuple[Path | None, str]:
    """The default model if it exists and its card says it was trained for this codebook; else None and why."""
    if not path.is_file():
        return None, f"no --model given and no {path}"
    card = path.with_name(path.name + ".card.json")  # classify.card_path, without importing sklearn
    if card.is_file():
        try:
            trained_for = json.loads(card.read_text(encoding="utf-8")).get("codebook", {}).get("hash")
        except (OSError, ValueError, AttributeError):
            trained_for = None
        if trained_for != codebook.hash:
            return None, (
                f"{path} was trained for another codebook (hash {trained_for}, this one {codebook.hash}); "
                "retrain with `qualcode train`"
            )
    return path, ""


def choose_model(codebook: Codebook, *, model_path: Path | None, combine: Combine) -> tuple[Path | None, str]:
    """The model a command codes with: `model_path`, else the default model if it fits the codebook (else None,
    and why). A combine mode that needs a model, with none to use, is an error."""
    if model_path is not None:
        return model_path, ""
    model_path, why_not = default_model(codebook)
    if why_not and combine in (Combine.CLASSIFIER, Combine.UNION):
        raise QualcodeError(f"--combine {combine} needs a model: {why_not}")
    return model_path, why_not

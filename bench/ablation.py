"""Which classifier choices help, measured by grouped cross-validation on every coded dataset at hand.

Each dataset is coded with the rules once (cached under the temp folder, keyed by the files' hashes), then
`evaluate` runs once per variant with bootstrap off. Prints the macro kappa / F1 of the classifier, combined and
both baselines per dataset and variant, and writes JSON. A choice is kept only if it helps across datasets.
Usage: python bench/ablation.py [--variants base no_context ...] [--datasets bundled interviews N3 ...] [--json F]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import PROCTORING, build_interviews, build_project, find_questions  # noqa: E402

from pipeline.codebook.load import load_codebook  # noqa: E402
from pipeline.coding.corpus import build_nlp  # noqa: E402
from pipeline.measure.coder_files import load_gold  # noqa: E402
from pipeline.measure.evaluate import EvaluationData, EvaluationOptions, evaluate, evaluation_data  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},  # the defaults: context columns, passage weight 0.5
    "no_context": {"use_context": False},
    "no_passage": {"passage_weight": 0.0},
    "sentence_only": {"use_context": False, "passage_weight": 0.0},  # the classifier before this work
    "passage_0.8": {"passage_weight": 0.8},
}
QUESTIONS = ("N2", "N3", "N4", "Q5", "Q8")
CACHE = Path(tempfile.gettempdir()) / "qualcode-ablation-cache"


def _fingerprint(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [path]:
            digest.update(file.name.encode() + Path(file).read_bytes())
    for module in ("pipeline/classifier/features.py", "pipeline/measure/evaluate.py", "pipeline/coding/segment.py"):
        digest.update((ROOT / module).read_bytes())
    return digest.hexdigest()[:16]


def _load(name: str, transcripts: Path, codebook_path: Path, gold_dir: Path, *, unit: str, coders: Any):
    """EvaluationData of one project, from the cache when the inputs are unchanged."""
    codebook = load_codebook(codebook_path)
    key = CACHE / f"{name.replace(' ', '_')}-{_fingerprint(transcripts, codebook_path, gold_dir)}"
    frames = ("segments", "labels", "rules", "keywords")
    if all((key / f"{f}.json").is_file() for f in frames):
        loaded = {f: pd.read_json(key / f"{f}.json", orient="table") for f in frames}
        return EvaluationData(**loaded), codebook
    options = EvaluationOptions(unit=unit, coders=coders, resamples=0)
    data, _ = evaluation_data(transcripts_dir=transcripts, codebook=codebook, gold=load_gold(gold_dir), options=options)
    key.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        getattr(data, frame).to_json(key / f"{frame}.json", orient="table", index=True)
    return data, codebook


def datasets(wanted: list[str], work: Path):
    """(name, data, codebook, unit) for each wanted dataset that is available."""
    questions = find_questions(PROCTORING) if PROCTORING.is_dir() else {}
    for name in wanted:
        if name == "bundled":
            data, codebook = _load(
                name, ROOT / "transcripts", ROOT / "codebook.yaml", ROOT / "coded", unit="sentence", coders=None
            )
            yield name, data, codebook, "sentence"
        elif name == "interviews" and questions:
            project = build_interviews(PROCTORING, out=work / name)
            data, codebook = _load(
                name, project.transcripts, project.codebook, project.coded, unit="sentence", coders=None
            )
            yield name, data, codebook, "sentence"
        elif name in questions:
            project = build_project(questions[name], out=work / name)
            data, codebook = _load(
                name, project.transcripts, project.codebook, project.coded, unit="turn", coders=("primary",)
            )
            yield name, data, codebook, "turn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--datasets", nargs="*", default=["bundled", "interviews", *QUESTIONS])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "ablation.json")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qualcode-ablation-") as folder:
        for name, data, codebook, unit in datasets(args.datasets, Path(folder)):
            nlp = build_nlp(codebook)
            for variant in args.variants:
                started = time.perf_counter()
                options = replace(EvaluationOptions(folds=args.folds, resamples=0, unit=unit), **VARIANTS[variant])
                evaluation = evaluate(data, codebook=codebook, nlp=nlp, options=options)
                macro = {m: evaluation.methods[m].macro for m in evaluation.methods}
                results.setdefault(name, {})[variant] = {
                    m: {"kappa": macro[m]["kappa"], "f1": macro[m]["f1"]} for m in macro
                }
                cells = "  ".join(f"{m} {macro[m]['kappa']:.3f}/{macro[m]['f1']:.3f}" for m in macro)
                print(f"{name:10} {variant:14} {cells}  ({time.perf_counter() - started:.0f} s)", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

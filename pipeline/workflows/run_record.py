"""A run's record for run.json: inputs and their hashes, versions, counts, skipped files, warnings, and how the
tags were made (rules, classifier, precision bar)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.classifier.precision import EVIDENCE_RULE, measured_by, measured_per_theme, theme_accuracy
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodingOptions
from pipeline.core.versions import package_versions
from pipeline.ingest.read import problems
from pipeline.ingest.records import Skipped
from pipeline.workflows.partitions import TagCounts

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from pipeline.classifier.model import ThemeModel


def full_record(
    *,
    started: datetime,
    codebook: Codebook,
    skipped: list[Skipped],
    options: CodingOptions,
    by: str,
    jobs: int,
    transcripts_dir: Path,
    min_precision: float,
    run_warnings: list[dict[str, str]],
    model: ThemeModel | None,
    model_path: Path | None,
    combine: str,
    transcript_records: list[dict[str, Any]],
    warnings: list[dict[str, str]],
    n_segments: int,
    counts: TagCounts,
    review: dict[str, Any] | None,
) -> dict[str, Any]:
    """run.json for a run: `run_record` with the precision bar, run warnings, reviews and the tagging facts."""
    record = run_record(
        codebook=codebook,
        transcript_records=transcript_records,
        warnings=warnings,
        n_segments=n_segments,
        skipped=skipped,
        tags=counts,
        options=options,
        by=by,
        jobs=jobs,
        transcripts_dir=transcripts_dir,
        started=started,
    )
    record["options"]["min_precision"] = min_precision
    record["warnings"].extend(run_warnings)
    if review is not None:
        record["review"] = review
    record["classifier"] = classifier_record(model, combine=combine, model_path=model_path, tags=counts)
    record["tagging"] = tagging_record(
        model, codebook=codebook, combine=combine, min_precision=min_precision, tags=counts
    )
    return record


def run_record(
    *,
    codebook: Codebook,
    transcript_records: list[dict[str, Any]],
    warnings: list[dict[str, str]],
    n_segments: int,
    skipped: list[Skipped],
    tags: TagCounts,
    options: CodingOptions,
    by: str,
    jobs: int,
    transcripts_dir: Path,
    started: datetime,
) -> dict[str, Any]:
    """The facts of a run for run.json: inputs and their hashes, versions, counts, skipped files (problems, and
    the files that are not transcripts), warnings."""
    ignored = [s for s in skipped if s.ignored]
    skipped = problems(skipped)
    reasons = tags.not_evidence_by_reason
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "codebook": {
            "path": str(codebook.path),
            "name": codebook.name,
            "version": codebook.version,
            "hash": codebook.hash,
            "themes": len(codebook.themes),
        },
        "options": {
            "transcripts": str(transcripts_dir),
            "by": by,
            "unit": options.unit,
            "jobs": jobs,
            "code_interviewer": options.code_interviewer,
            "spacy_model": options.spacy_model or "blank:en+sentencizer+lookup-lemmatizer",
        },
        "counts": {
            "transcripts": len(transcript_records),
            "skipped": len(skipped),
            "segments": n_segments,
            "tags": tags.tags,
            "evidence_tags": tags.evidence,
            "negated_or_hypothetical_tags": reasons["negated"] + reasons["hypothetical"],
            "not_evidence_by_reason": dict(sorted(reasons.items())),
            "evidence_tags_by_theme": dict(sorted(tags.evidence_by_theme.items())),
        },
        "transcripts": transcript_records,
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
        "not_transcripts": [{"source": s.source, "reason": s.reason} for s in ignored],
        "warnings": list(warnings),
    }


def classifier_record(
    model: ThemeModel | None, *, combine: str, model_path: Path | None, tags: TagCounts
) -> dict[str, Any]:
    """The classifier facts of a run for run.json: which model (path and card hash), how it was combined."""
    by_method = dict(sorted(tags.by_method.items()))
    if model is None:
        return {"model": None, "combine": combine, "tags_by_method": by_method}
    return {
        "model": str(model_path) if model_path else model.source,
        "card_hash": model.card_hash,
        "label": model.label,
        "combine": combine,
        "themes": model.themes_,
        "left_to_rules": model.left_to_rules_,
        "thresholds": model.thresholds_,
        "tags_by_method": by_method,
    }


def tagging_record(
    model: ThemeModel | None,
    *,
    codebook: Codebook,
    combine: str,
    min_precision: float,
    tags: TagCounts,
) -> dict[str, Any]:
    """How the tags were made and how accurate that measured, for run.json and every report's "How these tags
    were made" block: rules, model, combine mode, the precision bar, and the card's grouped-CV figures."""
    card = model.card if model is not None else None
    measured = (card or {}).get("combine_measured") or {}
    reasons = tags.by_reason
    return {
        "rules": f"{sum(len(t.rules) for t in codebook.themes)} rules of codebook {codebook.name} "
        f"v{codebook.version}, with negation and hypotheticals detected ConText-style",
        "model": model.label if model is not None else None,
        "combine": combine,
        "min_precision": min_precision,
        "evidence_rule": EVIDENCE_RULE.format(bar=min_precision),
        "measured": bool(measured_per_theme(card)),
        "measured_by": measured_by(card),
        "trained_on": (
            {
                "segments": card["training_data"]["segments"],
                "transcripts": card["training_data"]["transcripts"],
                "coders": card["training_data"].get("coders", []),
            }
            if card
            else None
        ),
        "macro": measured.get("macro", {}),
        "per_theme": theme_accuracy(
            card,
            codebook.theme_ids,
            mode=combine,
            learned=[t for t in model.themes_ if t not in model.left_to_rules_] if model is not None else [],
            bar=min_precision,
        ),
        "below_precision_bar_tags": reasons["below_precision_bar"],
    }

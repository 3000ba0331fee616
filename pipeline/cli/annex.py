"""`qualcode annex`: the findings annex (Word, Excel, HTML, Markdown) from a run's outputs and findings.yaml."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.app import CODEBOOK, app, console
from pipeline.core.choices import AnnexFormat
from pipeline.core.errors import QualcodeError


@app.command("annex")
def annex(
    format: AnnexFormat | None = typer.Option(
        None, "--format", help="docx, xlsx, html or md (default: from --out's suffix, else docx)."
    ),
    out: Path | None = typer.Option(None, "--out", help="The annex file (default: <reports>/annex.<format>)."),
    reports: Path = typer.Option(
        Path("reports"), "--reports", help="Folder of a run's outputs: tags.csv, metadata.csv, run.json."
    ),
    codebook: Path = CODEBOOK,
    transcripts: Path | None = typer.Option(
        None,
        "--transcripts",
        help="Transcripts folder, read for names in metadata and speaker labels (default: transcripts/ if it exists).",
    ),
    findings: Path | None = typer.Option(
        None, "--findings", help="The consultant's finding statements (default: findings.yaml if it exists)."
    ),
    names: Path | None = typer.Option(None, "--names", help="More names to redact: a text file, one per line."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Metadata field whose values are the stakeholder groups "
        "(default: side; without it, all interviews are one group).",
    ),
    redact: bool = typer.Option(True, "--redact/--no-redact", help="Replace personal names in quotes by role tags."),
    quotes: int = typer.Option(3, "--quotes", min=1, max=10, help="Quotes per finding."),
) -> None:
    """Write the findings annex: per ToR question, each finding with its evidence strength, groups and quotes."""
    from pipeline.codebook.load import load_codebook
    from pipeline.coding.table import write_csv
    from pipeline.ingest.read import read_folder
    from pipeline.outputs.annex.build import FORMATS, build_annex, read_run_outputs, write_annex
    from pipeline.outputs.annex.findings import load_findings
    from pipeline.outputs.annex.redact import (
        Redactor,
        names_from_metadata,
        names_from_tags,
        names_from_transcripts,
        read_names_list,
        redactions_frame,
    )

    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    if format is None:
        format = AnnexFormat(suffix) if suffix in FORMATS else AnnexFormat.DOCX
    if suffix in FORMATS and suffix != format:
        raise QualcodeError(f"--format {format} does not match the suffix of --out {out}")
    cb = load_codebook(codebook)
    outputs = read_run_outputs(reports)
    findings_path = (
        findings if findings is not None else (Path("findings.yaml") if Path("findings.yaml").is_file() else None)
    )
    statements = load_findings(findings_path, codebook=cb) if findings_path is not None else None
    redactor = None
    if redact:
        known = [*names_from_metadata(outputs.metadata), *names_from_tags(outputs.tags)]
        if transcripts is not None or Path("transcripts").is_dir():  # the default folder only if it exists
            found, _ = read_folder(transcripts or Path("transcripts"), allow_empty=True)
            known.extend(names_from_transcripts(found))
        if names is not None:
            known.extend(read_names_list(names))
        redactor = Redactor(known)
    result = build_annex(
        tags=outputs.tags,
        metadata=outputs.metadata,
        codebook=cb,
        findings=statements,
        run=outputs.run,
        by=by,
        redactor=redactor,
        quotes_per_finding=quotes,
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
    target = out if out is not None else reports / f"annex.{format}"
    write_annex(result, target, format=format)
    n_findings = sum(len(q.findings) for q in result.questions)
    n_drafts = sum(f.draft for q in result.questions for f in q.findings)
    console.print(
        f"annex written to {target} ({len(result.questions)} ToR questions, {n_findings} findings of "
        f"which {n_drafts} drafts, {len(result.quotes)} quotes)",
        highlight=False,
    )
    if redactor is not None:
        log = write_csv(redactions_frame(result.redactions), reports / "redactions.csv")
        console.print(
            f"{len(result.redactions)} names redacted; log {log} (it contains the names: do not share it)",
            highlight=False,
        )
    else:
        console.print("[yellow]names were not redacted (--no-redact)[/yellow]", highlight=False)

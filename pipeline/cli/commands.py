"""`qualcode run`, `validate` and `tag`: code transcripts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pipeline.classifier.precision import DEFAULT_MIN_PRECISION
from pipeline.cli.app import (
    CLASSIFIER_MODEL,
    CODEBOOK,
    COMBINE,
    SPACY_MODEL,
    TRANSCRIPTS,
    UNIT,
    TagFormat,
    app,
    console,
)
from pipeline.cli.progress import progress_bar
from pipeline.core.choices import DEFAULT_PARTITION_SIZE, Combine, Engine, Unit
from pipeline.core.heap import settle_heap


@app.command()
def run(
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    out: Path = typer.Option(Path("reports"), "--out", help="Folder the reports are written to."),
    by: str | None = typer.Option(
        None, "--by", help="Metadata field whose values are the matrix's stakeholder groups (default: side)."
    ),
    unit: Unit = UNIT,
    jobs: int = typer.Option(
        1,
        "--jobs",
        min=1,
        help="Worker processes (local engine) or LocalCluster workers (dask engine); results are identical for any N.",
    ),
    engine: Engine = typer.Option(
        Engine.LOCAL,
        "--engine",
        help=(
            "local (this machine's processes) or dask (dask.distributed: an embedded LocalCluster, or --scheduler; "
            "needs qualcode[scale]). Results are identical."
        ),
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a dask scheduler (e.g. tcp://10.0.0.5:8786), for --engine dask."
    ),
    partition_size: int = typer.Option(
        DEFAULT_PARTITION_SIZE,
        "--partition-size",
        min=1,
        help=(
            "At most this many transcripts per partition: a larger corpus (or any on dask) is coded and written a "
            "partition at a time, spilled as Parquet, so memory follows the partition, not the corpus."
        ),
    ),
    code_interviewer: bool = typer.Option(
        False, "--code-interviewer", help="Also tag interviewer turns (never counted as evidence)."
    ),
    spacy_model: str | None = SPACY_MODEL,
    model: Path | None = CLASSIFIER_MODEL,
    combine: Combine = COMBINE,
    min_precision: float = typer.Option(
        DEFAULT_MIN_PRECISION,
        "--min-precision",
        min=0.0,
        max=1.0,
        help=(
            "Precision bar: an unreviewed tag counts as evidence only if its method (classifier, rules) measured at "
            "least this precision for the theme in the model card's grouped CV (0 counts every tag)."
        ),
    ),
) -> None:
    """Code every transcript and write tags.csv, findings_matrix.html/.md and run.json to --out."""
    from pipeline.codebook.load import load_codebook
    from pipeline.coding.corpus import CodingOptions
    from pipeline.workflows.model_choice import choose_model
    from pipeline.workflows.run import run_project

    settle_heap()  # what the command imported stays out of full collections; collections come less often
    model, why_not = choose_model(load_codebook(codebook), model_path=model, combine=combine)
    options = CodingOptions(unit=unit, code_interviewer=code_interviewer, spacy_model=spacy_model)
    with progress_bar() as progress:
        task = progress.add_task("coding", total=None, unit="transcripts")

        def coded(n: int) -> None:
            progress.advance(task, n)
            if progress.tasks[0].finished:
                progress.update(task, description="coded; writing reports")

        result = run_project(
            transcripts_dir=transcripts,
            codebook_path=codebook,
            out=out,
            by=by,
            options=options,
            jobs=jobs,
            engine=engine,
            scheduler=scheduler,
            partition_size=partition_size,
            model_path=model,
            combine=combine,
            min_precision=min_precision,
            on_start=lambda n: progress.update(task, total=n),
            on_coded=coded,
        )
    counts = result.record["counts"]
    console.print(
        f"coded {counts['transcripts']} transcripts: {counts['segments']} segments, {counts['tags']} tags "
        f"({counts['evidence_tags']} evidence); skipped {counts['skipped']}",
        highlight=False,
        soft_wrap=True,
    )
    for skipped in result.record["skipped"]:
        console.print(
            f"[yellow]skipped[/yellow] {skipped['source']}: {skipped['reason']}", highlight=False, soft_wrap=True
        )
    for warning in result.record["warnings"]:
        console.print(
            f"[yellow]warning[/yellow] {warning['source']}: {warning['message']}", highlight=False, soft_wrap=True
        )
    classifier = result.record["classifier"]
    if classifier["model"]:
        console.print(
            f"classifier: {classifier['model']} (card {classifier['card_hash']}), combined with the rules "
            f"as {classifier['combine']}; left to rules: {', '.join(classifier['left_to_rules']) or 'none'}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(f"rules only ({why_not or 'combine mode rules'})", highlight=False, soft_wrap=True)
    tagging = result.record["tagging"]
    console.print(
        f"precision bar {tagging['min_precision']:.2f}: {tagging['below_precision_bar_tags']} tags below it are "
        "kept in tags.csv but not counted (evidence_reason below_precision_bar)"
        if tagging["measured"]
        else "precision bar: not applied, no measured precision (rules' accuracy unmeasured)",
        highlight=False,
        soft_wrap=True,
    )
    for path in result.written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"open {out / 'findings_matrix.html'}", highlight=False, soft_wrap=True)


@app.command()
def validate(transcripts: Path = TRANSCRIPTS, codebook: Path = CODEBOOK) -> None:
    """Check the codebook and every transcript; list every problem (exit 1 if any) and advice."""
    from pipeline.codebook.load import check_codebook, lint
    from pipeline.coding.segment import DEFAULT_MAX_LENGTH, speech_length
    from pipeline.ingest.read import discover
    from pipeline.ingest.read import problems as transcript_problems

    cb, problems = check_codebook(codebook)
    for problem in problems:
        console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    if cb is not None:
        for advice in lint(cb):
            console.print(f"[yellow]advice:[/yellow] {codebook}: {advice}", highlight=False, soft_wrap=True)
    n_read = 0
    if transcripts.is_dir():
        found, every_skipped = discover(transcripts)
        skipped = transcript_problems(every_skipped)
        n_read = len(found)
        for skip in skipped:
            console.print(f"[red]error:[/red] {skip.reason}", highlight=False, soft_wrap=True)
        for transcript in found:
            warnings = list(transcript.warnings)
            if (length := speech_length(transcript)) > DEFAULT_MAX_LENGTH:
                warnings.append(
                    f"speech of {length:,} characters is over spaCy's limit of {DEFAULT_MAX_LENGTH:,}: "
                    "`qualcode run` codes it in pieces cut at turn (or paragraph) boundaries"
                )
            for warning in warnings:
                console.print(
                    f"[yellow]warning:[/yellow] {transcripts / transcript.source}: {warning}",
                    highlight=False,
                    soft_wrap=True,
                )
        problems = [*problems, *skipped]
    else:
        console.print(f"[red]error:[/red] {transcripts}: transcripts folder not found", highlight=False)
        problems = [*problems, transcripts]
    if problems:
        console.print(f"{len(problems)} problem(s) found")
        raise typer.Exit(1)
    console.print(f"ok: codebook {codebook} ({len(cb.themes)} themes), {n_read} transcripts readable")


@app.command()
def tag(
    file: Path = typer.Argument(..., help="One transcript file."),
    codebook: Path = CODEBOOK,
    format: TagFormat = typer.Option(TagFormat.CSV, "--format", help="csv or json."),
    unit: Unit = UNIT,
    code_interviewer: bool = typer.Option(False, "--code-interviewer"),
    spacy_model: str | None = SPACY_MODEL,
    model: Path | None = CLASSIFIER_MODEL,
    combine: Combine = COMBINE,
) -> None:
    """Print the tags of one transcript to stdout (no reports written), coded as `qualcode run` codes it."""
    from pipeline.codebook.load import load_codebook
    from pipeline.coding.corpus import CodingOptions
    from pipeline.coding.table import TAG_COLUMNS, neutralise_frame
    from pipeline.workflows.model_choice import choose_model
    from pipeline.workflows.tag_file import tag_file

    model, _ = choose_model(load_codebook(codebook), model_path=model, combine=combine)
    options = CodingOptions(unit=unit, code_interviewer=code_interviewer, spacy_model=spacy_model)
    transcript, frame = tag_file(file, codebook_path=codebook, options=options, model_path=model, combine=combine)
    for warning in transcript.warnings:
        console.print(f"[yellow]warning[/yellow] {file}: {warning}", highlight=False)
    if format == TagFormat.JSON:
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(neutralise_frame(frame)[TAG_COLUMNS].to_csv(index=False))

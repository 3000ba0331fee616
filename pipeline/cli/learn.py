"""Commands `qualcode train` and `qualcode suggest`: learn themes from human codes, and ask for the next ones."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from pipeline.cli.app import CODEBOOK, SPACY_MODEL, TRANSCRIPTS, UNIT_AS_RUN, SuggestFormat, app, console
from pipeline.cli.progress import progress_bar
from pipeline.core.choices import Estimator, Unit
from pipeline.core.errors import QualcodeError
from pipeline.core.heap import settle_heap

GOLD = typer.Option(Path("coded"), "--gold", help="Folder of coder files (coded/<coder>.csv).")
MODEL = typer.Option(Path("models/classifier.skops"), "--model", help="The classifier model file (.skops).")


def _options(unit: Unit, spacy_model: str | None):
    from pipeline.coding.corpus import CodingOptions

    return CodingOptions(unit=unit, spacy_model=spacy_model)


def _code(transcripts: Path, codebook: Path, options):
    from pipeline.workflows.train import code_project

    settle_heap()  # as `qualcode run` does once its imports are done
    with progress_bar() as progress:
        task = progress.add_task("coding with the rules", total=None, unit="transcripts")
        return code_project(
            transcripts_dir=transcripts,
            codebook_path=codebook,
            options=options,
            on_start=lambda n: progress.update(task, total=n),
            on_coded=lambda n: progress.advance(task, n),
        )


@app.command("train")
def train(
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    gold: Path = GOLD,
    model: Path = MODEL,
    seed: int = typer.Option(0, "--seed", help="random_state of the estimator (training is deterministic for a seed)."),
    min_positive: int = typer.Option(
        5, "--min-positive", min=1, help="Themes with fewer coded segments are left to the rules."
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds, grouped by transcript."),
    estimator: Estimator = typer.Option(
        Estimator.LOGISTIC, "--estimator", help="logistic (regression) or svm (calibrated linear SVM)."
    ),
    no_examples: bool = typer.Option(
        False, "--no-examples", help="Do not add the codebook's examples to the training data."
    ),
    unit: Unit = UNIT_AS_RUN,
    spacy_model: str | None = SPACY_MODEL,
    reports: Path | None = typer.Option(
        None,
        "--reports",
        help=(
            "Folder whose review.sqlite decisions (qualcode review) are merged in; decisions win. Default: "
            "reports/, used only if its decisions are on these transcripts."
        ),
    ),
) -> None:
    """Train the classifier on the coder files in --gold; choose thresholds and the combine mode by grouped CV."""
    from pipeline.classifier.model import card_path
    from pipeline.classifier.persist import save_model
    from pipeline.measure.coder_files import load_gold
    from pipeline.review.log import LOG_NAME
    from pipeline.workflows.train import merge_review_log, train_project

    review_log = (reports or Path("reports")) / LOG_NAME
    codes = load_gold(gold) if gold.is_dir() or not review_log.exists() else None
    project = _code(transcripts, codebook, _options(unit, spacy_model))
    # reviewers' decisions: accepted/added themes are positives, rejected ones negatives
    project, codes, merged = merge_review_log(project, codes, log_path=review_log, transcripts_dir=transcripts)
    if merged.used:
        console.print(
            f"review decisions from {review_log} ({merged.matching} of {merged.decisions} on these transcripts): "
            f"{merged.positives} positive, {merged.negatives} negative ({merged.not_applied} stale, not used)",
            highlight=False,
            soft_wrap=True,
        )
    elif reports is not None and merged.decisions:  # the log asked for holds another project's decisions
        raise QualcodeError(f"review log not used: {merged.why_not}", path=review_log)
    elif review_log.exists():
        console.print(
            f"[yellow]note[/yellow] review log {review_log} not used: {merged.why_not}", highlight=False, soft_wrap=True
        )
    if codes is None:
        codes = load_gold(gold)  # the log was all there was, and it is not used: say what is missing
    with progress_bar() as progress:
        # the steps: the model, then one model per outer fold of the combine-mode measurement
        task = progress.add_task("training (model, then CV folds)", total=None, unit="models")
        result = train_project(
            project,
            codes,
            random_state=seed,
            min_positive=min_positive,
            cv_folds=folds,
            estimator=estimator,
            use_examples=not no_examples,
            unit=unit,
            review_log={"path": str(review_log), "decisions": merged.decisions} if merged.used else None,
            on_start=lambda n: progress.update(task, total=n),
            on_step=lambda: progress.advance(task),
        )  # type: ignore[arg-type]
    for theme, rows in result.unknown_codes.items():
        console.print(
            f"[yellow]unknown code[/yellow] {theme!r} ({rows} coded spans): not in {codebook}, not learned",
            highlight=False,
            soft_wrap=True,
        )
    for transcript_id in result.missing_transcripts:
        console.print(
            f"[yellow]warning[/yellow] coded transcript {transcript_id!r} is not in {transcripts}/", highlight=False
        )
    for row in result.unplaced_codes.head(5).itertuples():
        console.print(
            f"[yellow]warning[/yellow] {gold}/{row.coder}.csv: {row.transcript_id} {row.start_char}-"
            f"{row.end_char} ({row.theme}) overlaps no respondent segment",
            highlight=False,
            soft_wrap=True,
        )
    if len(result.unplaced_codes) > 5:
        console.print(f"[yellow]warning[/yellow] ... and {len(result.unplaced_codes) - 5} more such codes")
    trained = result.model
    measured = trained.card.get("combine_measured", {})
    if measured:
        figures = ", ".join(f"{mode} {value:.3f}" for mode, value in measured["macro_f1"].items())
        console.print(
            f"combine modes, macro F1 by {measured['folds']}-fold CV grouped by transcript: {figures}; "
            f"best: [bold]{trained.card['best_combine']}[/bold] (the default of `qualcode run`)",
            highlight=False,
            soft_wrap=True,
        )
    if trained.left_to_rules_:
        console.print(
            f"left to rules (fewer than {min_positive} coded segments): {', '.join(trained.left_to_rules_)}",
            highlight=False,
            soft_wrap=True,
        )
    _print_table(trained, min_positive)
    save_model(trained, model)
    console.print(
        f"saved {model} and {card_path(model)} (card {trained.card_hash}); trained on {result.n_segments} "
        f"segments of {trained.card['training_data']['transcripts']} coded transcripts",
        highlight=False,
        soft_wrap=True,
    )


def _print_table(trained, min_positive: int) -> None:
    from pipeline.workflows.train import card_summary

    table = Table(title="Classifier, cross-validated per theme (out-of-fold, grouped by transcript)")
    for column in ("theme", "coded", "threshold", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "theme" else "right")
    for row in card_summary(trained):
        if not row["learned"]:
            table.add_row(row["theme"], str(row["coded"]), f"left to rules (< {min_positive})", "", "", "", "")
        else:
            table.add_row(
                row["theme"],
                str(row["coded"]),
                f"{row['threshold']:.3f}",
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                str(row["support"]),
            )
    Console(file=sys.stdout, width=max(100, console.width)).print(table)


@app.command("suggest")
def suggest(
    n: int = typer.Option(20, "--n", min=1, help="How many segments to list."),
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    model: Path = MODEL,
    gold: Path = GOLD,
    format: SuggestFormat = typer.Option(SuggestFormat.TABLE, "--format", help="table or csv."),
    new_transcripts: bool = typer.Option(False, "--new-transcripts", help="Only transcripts no coder has coded yet."),
    unit: Unit | None = typer.Option(None, "--unit", help="Segment unit (default: the one the model was trained on)."),
    spacy_model: str | None = SPACY_MODEL,
) -> None:
    """List the segments the classifier is least sure about (score closest to the threshold), to code next."""
    from pipeline.classifier.persist import load_model
    from pipeline.codebook.load import load_codebook
    from pipeline.coding.table import neutralise_frame
    from pipeline.measure.coder_files import load_gold
    from pipeline.workflows.train import suggest_segments

    trained = load_model(model, codebook=load_codebook(codebook))
    codes = load_gold(gold) if gold.is_dir() else None
    if codes is None:
        console.print(
            f"[yellow]note[/yellow] no {gold}/ folder: no segment is excluded as already coded", highlight=False
        )
    project = _code(transcripts, codebook, _options(unit or Unit(trained.card.get("unit", Unit.SENTENCE)), spacy_model))
    found = suggest_segments(project, trained, gold=codes, n=n, new_transcripts_only=new_transcripts)
    if format == SuggestFormat.CSV:
        sys.stdout.write(neutralise_frame(found).to_csv(index=False))
        return
    table = Table(title=f"{len(found)} segments to code next (top theme score closest to its threshold)")
    for column in ("segment", "transcript", "offsets", "theme", "score", "threshold", "text"):
        table.add_column(column, overflow="fold")
    for row in found.itertuples():
        table.add_row(
            row.segment_id,
            row.transcript_id,
            f"{row.start_char}-{row.end_char}",
            row.theme,
            f"{row.score:.3f}",
            f"{row.threshold:.3f}",
            row.text,
        )
    Console(file=sys.stdout, width=max(120, console.width)).print(table)

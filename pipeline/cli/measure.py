"""Commands `qualcode evaluate` and `qualcode agree`: measured agreement with human coders."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from pipeline.cli.app import CODEBOOK, TRANSCRIPTS, UNIT_AS_RUN, app, console
from pipeline.cli.progress import progress_bar
from pipeline.core.choices import Unit
from pipeline.core.errors import QualcodeError

GOLD = typer.Option(Path("coded"), "--gold", help="Folder of coder files (coded/<coder>.csv), the gold standard.")
RESAMPLES = typer.Option(
    1000, "--resamples", min=0, help="Bootstrap resamples of transcripts for the 95% intervals (0: none)."
)
SHORT_NAMES = {
    "rules": "rules",
    "classifier": "classifier",
    "combined": "combined",
    "keyword_baseline": "keywords",
    "tfidf_baseline": "tf-idf",
}
SEED = typer.Option(0, "--seed", help="Seed of the fold split, the classifier and the bootstrap.")


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ci(interval: Any) -> str:
    if not isinstance(interval, (list, tuple)) or None in interval or len(interval) != 2:
        return ""
    return f"\n{interval[0]:.2f}–{interval[1]:.2f}"


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from pipeline.core.files import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


@app.command("evaluate")
def evaluate(
    gold: Path = GOLD,
    folds: int = typer.Option(
        5, "--folds", min=2, help="Cross-validation folds, grouped by transcript (fewer if fewer transcripts)."
    ),
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    out: Path = typer.Option(Path("reports"), "--out", help="Folder evaluation.html is written to."),
    json_file: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON to this file."),
    seed: int = SEED,
    coder: list[str] | None = typer.Option(
        None,
        "--coder",
        help=(
            "Gold coder(s) to measure against (repeatable; default: every coder file, a segment is coded when "
            "any coder coded it)."
        ),
    ),
    unit: Unit = UNIT_AS_RUN,
    resamples: int = RESAMPLES,
    min_positive: int = typer.Option(
        5,
        "--min-positive",
        min=1,
        help="Themes with fewer coded segments in a fold's training side are left to the rules.",
    ),
) -> None:
    """Measure rules, classifier, combined and two baselines (keyword search; TF-IDF + logistic regression)
    against the coders in --gold, by cross-validation grouped by transcript; write evaluation.html to --out."""
    from pipeline.measure.evaluate import METHODS, EvaluationOptions, evaluate_project, write_evaluation_html

    options = EvaluationOptions(
        folds=folds,
        seed=seed,
        resamples=resamples,
        coders=tuple(coder) if coder else None,
        unit=unit,
        min_positive=min_positive,
    )
    with progress_bar() as progress:
        coding = progress.add_task("coding with the rules", total=None, unit="transcripts")
        training = progress.add_task(f"folds (of {folds})", total=None, unit="folds", start=False)

        def started(n: int) -> None:
            progress.update(coding, total=n)
            progress.update(training, total=min(folds, n))  # grouped folds: no more than transcripts

        def coded(n: int) -> None:
            progress.advance(coding, n)
            if progress.tasks[coding].finished:
                progress.start_task(training)

        evaluation = evaluate_project(
            transcripts_dir=transcripts,
            codebook_path=codebook,
            gold_dir=gold,
            options=options,
            on_start=started,
            on_coded=coded,
            on_fold=lambda fold: progress.advance(training),
        )
    record = evaluation.record
    for theme in record["unknown_themes"]:
        console.print(
            f"[yellow]unknown code[/yellow] {theme!r} in {gold}/: not in {codebook}, not evaluated", highlight=False
        )
    for transcript_id in record["transcripts_not_found"]:
        console.print(
            f"[yellow]warning[/yellow] coded transcript {transcript_id!r} is not in {transcripts}/", highlight=False
        )
    for fold in evaluation.folds:
        if fold.note:
            console.print(
                f"[yellow]fold {fold.number}[/yellow]: classifier not trained ({fold.note}); rules carry "
                "every theme in this fold",
                highlight=False,
                soft_wrap=True,
            )
    table = Table(
        title=f"Agreement with {', '.join(record['coders'])}: {record['transcripts']} transcripts, "
        f"{record['segments']} segments, {len(evaluation.folds)} folds grouped by transcript",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0, 0, 1),  # one space between columns: five methods fit 80 columns
    )
    table.add_column("theme", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("n", justify="right", no_wrap=True, min_width=3)
    for method in METHODS:
        table.add_column(f"{SHORT_NAMES[method]}\nF1/κ", justify="right", no_wrap=True)
    for theme in evaluation.themes:
        support = int(evaluation.methods["rules"].per_theme.at[theme, "support"])
        if support == 0:
            continue
        cells = [
            f"{_num(evaluation.methods[m].per_theme.at[theme, 'f1'])}/"
            f"{_num(evaluation.methods[m].per_theme.at[theme, 'kappa'])}"
            for m in METHODS
        ]
        table.add_row(theme, str(support), *cells)
    for average in ("macro", "micro"):
        cells = []
        for method in METHODS:
            figures = getattr(evaluation.methods[method], average)
            interval = figures.get("kappa_ci")
            low_high = f"\n{interval[0]:.2f}–{interval[1]:.2f}" if interval and None not in interval else ""
            cells.append(f"{_num(figures['f1'])}/{_num(figures['kappa'])}{low_high}")
        table.add_row(f"[bold]{average}[/bold]", "", *cells, end_section=average == "macro")
    console.print(table)
    unused = sum(1 for t in evaluation.themes if evaluation.methods["rules"].per_theme.at[t, "support"] == 0)
    if unused:
        console.print(f"{unused} theme(s) the coders never used are not listed (kappa undefined; in the HTML report)")
    console.print(
        "combined = union of rules and classifier; keywords = plain text search (QDA auto-coding); "
        "tf-idf = TF-IDF + logistic regression fitted on the same folds"
    )
    console.print(
        f"best combine mode by macro kappa: [bold]{evaluation.best_mode}[/bold]; intervals: 95% cluster "
        f"bootstrap over transcripts ({resamples} resamples, seed {seed})",
        highlight=False,
    )
    html = write_evaluation_html(evaluation, out / "evaluation.html")
    console.print(f"written {html}" + (f" and {json_file}" if json_file else ""), highlight=False)
    if json_file:
        _write_json(json_file, evaluation.to_json())


@app.command("agree")
def agree(
    files: list[Path] = typer.Argument(
        ..., help="Two or more coder files (coded/<coder>.csv) or qualcode tags.csv (a machine coder)."
    ),
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    json_file: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON to this file."),
    unit: Unit = UNIT_AS_RUN,
    all_transcripts: bool = typer.Option(
        False,
        "--all-transcripts",
        help=(
            "Take every coder to have read every transcript (by default a coder file speaks only for the "
            "transcripts it names)."
        ),
    ),
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> None:
    """Agreement between coders at segment level: per theme percent agreement, Cohen's kappa for each pair and
    Krippendorff's alpha across all, with 95% intervals (bootstrap over transcripts)."""
    from pipeline.coding.table import THEME
    from pipeline.measure.agreement import BootstrapOptions
    from pipeline.measure.coder_agreement import coder_agreement

    if len(files) < 2:
        raise QualcodeError("give at least two coder files")
    bootstrap = BootstrapOptions(n_resamples=resamples, seed=seed) if resamples else None
    with console.status("coding transcripts into segments"):
        result = coder_agreement(
            files,
            transcripts_dir=transcripts,
            codebook_path=codebook,
            unit=unit,
            all_transcripts=all_transcripts,
            bootstrap=bootstrap,
        )
    for name, themes in result.unknown_themes.items():
        console.print(
            f"[yellow]unknown code(s)[/yellow] of {name}: {', '.join(themes)} (not in {codebook})",
            highlight=False,
            soft_wrap=True,
        )
    for transcript_id in result.transcripts_not_found:
        console.print(
            f"[yellow]warning[/yellow] coded transcript {transcript_id!r} is not in {transcripts}/", highlight=False
        )
    agreement = result.agreement
    pairs = agreement.pairs
    pair_names = list(dict.fromkeys(zip(pairs["coder_a"], pairs["coder_b"])))
    coverage = ", ".join(f"{name} {n}" for name, n in result.coverage.items())
    pooled = "(all themes pooled)"
    used = [
        t
        for t in agreement.per_theme.index
        if any(agreement.per_theme.at[t, f"used_by_{name}"] for name in agreement.coders)
    ]
    themes_table = Table(
        title=f"{len(agreement.coders)} coders, {result.segments} segments of {result.transcripts} "
        f"transcripts (transcripts coded: {coverage})",
        box=box.SIMPLE_HEAD,
    )
    themes_table.add_column("theme", overflow="ellipsis", no_wrap=True, max_width=28)
    for name in agreement.coders:
        themes_table.add_column(f"segments\n{name}", justify="right", no_wrap=True)
    themes_table.add_column("% agree\n(all)", justify="right", no_wrap=True)
    themes_table.add_column("α\n(all)", justify="right", no_wrap=True)
    for theme in used:
        row = agreement.per_theme.loc[theme]
        themes_table.add_row(
            theme,
            *(str(row[f"used_by_{name}"]) for name in agreement.coders),
            f"{_num(row['percent_agreement'])}{_ci(row.get('percent_agreement_ci'))}",
            f"{_num(row['alpha'])}{_ci(row.get('alpha_ci'))}",
        )
    overall = agreement.overall
    themes_table.add_row(
        f"[bold]{pooled}[/bold]",
        *("" for _ in agreement.coders),
        f"{_num(overall['percent_agreement'])}{_ci(overall.get('percent_agreement_ci'))}",
        f"{_num(overall['alpha'])}{_ci(overall.get('alpha_ci'))}",
    )
    console.print(themes_table)
    kappa_table = Table(title="Cohen's kappa for each pair of coders", box=box.SIMPLE_HEAD)
    kappa_table.add_column("theme", overflow="ellipsis", no_wrap=True, max_width=28)
    for a, b in pair_names:
        kappa_table.add_column(f"{a}\n× {b}", justify="right", no_wrap=True)
    by_pair = pairs.set_index([THEME, "coder_a", "coder_b"])
    for theme in [*used, pooled]:
        cells = []
        for a, b in pair_names:
            figures = by_pair.loc[(theme, a, b)]
            cells.append(f"{_num(figures['kappa'])}{_ci(figures.get('kappa_ci'))}")
        kappa_table.add_row(f"[bold]{theme}[/bold]" if theme == pooled else theme, *cells)
    console.print(kappa_table)
    console.print(
        "themes no coder used are not listed (kappa undefined); percent agreement counts segments "
        "on which every coder made the same call",
        highlight=False,
    )
    if json_file:
        _write_json(json_file, result.to_json())
        console.print(f"written {json_file}", highlight=False)

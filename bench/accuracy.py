"""Accuracy of qualcode's coding against people, by cross-validation grouped by transcript (answer).

(a) The proctoring survey (../shared/data/proctoring, Balash et al. 2023): per question, rules / classifier /
combined and two baselines (keyword search; TF-IDF + logistic regression fitted on the same folds) against the
primary coder, and the human ceiling (primary vs secondary on the answers the secondary coder coded). (b) The
development set: the survey as interviews (bench/datasets.py build_interviews), sentence segments. (c) The bundled
transcripts against coded/. Prints per theme F1 and kappa and the macro figures, and writes JSON (and optionally
Markdown for the README).
Usage: python bench/accuracy.py [--data DIR] [--questions N2 N3 ...] [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import (  # noqa: E402
    SHARED_DATA,
    QuestionFiles,
    build_interviews,
    build_project,
    find_questions,
    theme_id,
)

from pipeline.codebook.load import load_codebook  # noqa: E402
from pipeline.coding.corpus import build_nlp  # noqa: E402
from pipeline.coding.table import SEGMENT_ID, TRANSCRIPT_ID  # noqa: E402
from pipeline.measure.agreement import BootstrapOptions, Comparison, compare  # noqa: E402
from pipeline.measure.coder_agreement import coder_agreement  # noqa: E402
from pipeline.measure.coder_files import CODER, load_gold, segment_labels  # noqa: E402
from pipeline.measure.evaluate import (  # noqa: E402
    BASELINES,
    METHODS,
    Evaluation,
    EvaluationOptions,
    evaluate,
    evaluation_data,
)

SHORT = {
    "rules": "rules",
    "classifier": "classifier",
    "combined": "combined",
    "keyword_baseline": "keywords",
    "tfidf_baseline": "tf-idf",
}
ENOUGH = 5  # coded segments a theme needs for the classifier to learn it (train's --min-positive default)


def human_ceiling(
    evaluation_segments: pd.DataFrame, gold: pd.DataFrame, *, themes: list[str], bootstrap: BootstrapOptions
) -> Comparison | None:
    """Secondary coder against primary on the answers the secondary coded: the agreement people reach."""
    if "secondary" not in set(gold[CODER]):
        return None
    shared = set(gold[gold[CODER] == "secondary"][TRANSCRIPT_ID]) & set(gold[gold[CODER] == "primary"][TRANSCRIPT_ID])
    segments = evaluation_segments[evaluation_segments[TRANSCRIPT_ID].isin(shared)]
    primary = segment_labels(segments, gold, themes=themes, coders=["primary"])
    secondary = segment_labels(segments, gold, themes=themes, coders=["secondary"])
    groups = pd.Series(segments[TRANSCRIPT_ID].to_numpy(), index=pd.Index(segments[SEGMENT_ID]))
    return compare(primary, secondary, groups=groups, themes=themes, bootstrap=bootstrap)


def _coded_rows(path: Path, *, as_script: bool) -> list[tuple[str, set[str]]]:
    """(ResponseId, codes) per answer. As the authors' irr.py reads them: only columns `Code 0`..`Code 7`, one
    answer per ResponseId (a repeated id keeps its last answer); otherwise every code column of every answer."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        names = {f"Code {n}" for n in range(8)} if as_script else {h for h in header if h.startswith("Code ")}
        rows = [
            (row[0], {cell.strip() for name, cell in zip(header, row) if name in names and cell.strip()})
            for row in reader
        ]
    if as_script:
        return list({response_id: (response_id, codes) for response_id, codes in rows}.values())
    return rows


def authors_statistic(files: QuestionFiles, *, as_script: bool = True) -> float:
    """The inter-rater figure of the authors' irr.py, re-implemented from its procedure: on answers both coders
    coded, p_a = sum over codes of the answers both gave that code / the larger coder's total of code uses, p_c =
    sum over codes of the product of each coder's share of code uses, irr = 1 - (1 - p_a) / (1 - p_c).
    `as_script`: exactly as their script runs (sub-codes are codes of their own; see `_coded_rows`); otherwise
    on top-level codes of every answer, with the spelling variants merged, as qualcode's themes are."""
    primary = _coded_rows(files.primary, as_script=as_script)
    secondary = _coded_rows(files.secondary, as_script=as_script)
    if as_script:
        by_id = dict(primary)
        pairs = [(by_id[response_id], codes) for response_id, codes in secondary]
    else:
        pairs = [({theme_id(c) for c in a}, {theme_id(c) for c in b}) for (_, a), (_, b) in zip(primary, secondary)]
    used_p: dict[str, int] = {}
    used_s: dict[str, int] = {}
    both: dict[str, int] = {}
    total_p = total_s = 0
    for codes_p, codes_s in pairs:
        if not (codes_p and codes_s):
            continue
        total_p, total_s = total_p + len(codes_p), total_s + len(codes_s)
        for code in codes_p & codes_s:
            both[code] = both.get(code, 0) + 1
        for code in codes_p:
            used_p[code] = used_p.get(code, 0) + 1
        for code in codes_s:
            used_s[code] = used_s.get(code, 0) + 1
    p_a = sum(both.values()) / max(total_p, total_s)
    p_c = sum(used_p.get(c, 0) / total_p * used_s.get(c, 0) / total_s for c in set(used_p) | set(used_s))
    return 1 - (1 - p_a) / (1 - p_c)


def statistic_from_agree(project_transcripts: Path, codebook: Path) -> float:
    """The authors' formula computed from `qualcode agree`'s per-code counts (top-level codes, answers both
    coders coded): equal to `authors_statistic(as_script=False)` when qualcode's counts are the CSVs' counts."""
    result = coder_agreement(
        [project_transcripts.parent / "coded" / "primary.csv", project_transcripts.parent / "coded" / "secondary.csv"],
        transcripts_dir=project_transcripts,
        codebook_path=codebook,
        unit="turn",
        bootstrap=None,
    )
    pairs = result.agreement.pairs
    pairs = pairs[pairs["theme"] != "(all themes pooled)"]
    total_p, total_s = pairs["used_by_a"].sum(), pairs["used_by_b"].sum()
    p_a = pairs["used_by_both"].sum() / max(total_p, total_s)
    p_c = float((pairs["used_by_a"] / total_p * pairs["used_by_b"] / total_s).sum())
    return float(1 - (1 - p_a) / (1 - p_c))


def run_project(
    name: str,
    *,
    transcripts: Path,
    codebook_path: Path,
    gold_dir: Path,
    coders: tuple[str, ...] | None,
    unit: str,
    options: EvaluationOptions,
) -> dict[str, Any]:
    """Evaluate one project; returns the evaluation, the human ceiling and timing."""
    started = time.perf_counter()
    codebook = load_codebook(codebook_path)
    gold = load_gold(gold_dir)
    nlp = build_nlp(codebook)
    run_options = EvaluationOptions(
        folds=options.folds, seed=options.seed, resamples=options.resamples, coders=coders, unit=unit
    )  # type: ignore[arg-type]
    data, record = evaluation_data(
        transcripts_dir=transcripts, codebook=codebook, gold=gold, options=run_options, nlp=nlp
    )
    evaluation = evaluate(data, codebook=codebook, nlp=nlp, options=run_options)
    evaluation.record = record
    ceiling = human_ceiling(
        data.segments,
        gold,
        themes=codebook.theme_ids,
        bootstrap=BootstrapOptions(n_resamples=options.resamples, seed=options.seed),
    )
    return {"name": name, "evaluation": evaluation, "ceiling": ceiling, "seconds": time.perf_counter() - started}


def fmt(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.2f}"


def _defined(value: float) -> float:
    """Kappa for comparing methods: undefined (NaN) counts as 0, no agreement beyond chance."""
    return 0.0 if value != value else float(value)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Macro/micro figures of every method, the human ceiling, and the themes with enough examples."""
    evaluation: Evaluation = result["evaluation"]
    per_theme = evaluation.methods["rules"].per_theme
    enough = [t for t in evaluation.themes if per_theme.at[t, "support"] >= ENOUGH]
    combined = evaluation.methods["combined"].per_theme
    versus = {}
    for baseline in BASELINES:
        other = evaluation.methods[baseline].per_theme
        margin = {t: _defined(combined.at[t, "kappa"]) - _defined(other.at[t, "kappa"]) for t in enough}
        versus[baseline] = (
            [t for t in enough if margin[t] > 1e-9],
            [t for t in enough if margin[t] < -1e-9],
        )
    ceiling: Comparison | None = result["ceiling"]
    return {
        "segments": evaluation.record["segments"],
        "transcripts": evaluation.record["transcripts"],
        "themes_used": int((per_theme["support"] > 0).sum()),
        "themes_with_enough_examples": enough,
        "combined_beats_keywords_on": versus["keyword_baseline"][0],
        "combined_below_keywords_on": versus["keyword_baseline"][1],
        "combined_beats_tfidf_on": versus["tfidf_baseline"][0],
        "combined_below_tfidf_on": versus["tfidf_baseline"][1],
        "combined_minus_tfidf_macro_kappa": round(
            _defined(evaluation.methods["combined"].macro["kappa"])
            - _defined(evaluation.methods["tfidf_baseline"].macro["kappa"]),
            4,
        ),
        "best_mode": evaluation.best_mode,
        "seconds": round(result["seconds"], 1),
        "human_ceiling": None
        if ceiling is None
        else {
            "answers": ceiling.transcripts,
            "macro": ceiling.to_json()["macro"],
            "micro": ceiling.to_json()["micro"],
            "per_theme_kappa": {t: None if v != v else float(v) for t, v in ceiling.per_theme["kappa"].items()},
        },
    }


def theme_table(result: dict[str, Any]) -> Table:
    evaluation: Evaluation = result["evaluation"]
    ceiling: Comparison | None = result["ceiling"]
    table = Table(
        title=f"{result['name']}: {evaluation.record['transcripts']} transcripts, "
        f"{evaluation.record['segments']} segments",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("theme", no_wrap=True, max_width=30, overflow="ellipsis")
    table.add_column("n", justify="right")
    for method in METHODS:
        table.add_column(f"{SHORT[method]}\nF1/κ", justify="right", no_wrap=True)
    table.add_column("human\nκ", justify="right")
    per_theme = evaluation.methods["rules"].per_theme
    for theme in evaluation.themes:
        support = int(per_theme.at[theme, "support"])
        if support < 2:
            continue
        cells = [
            f"{fmt(evaluation.methods[m].per_theme.at[theme, 'f1'])}/"
            f"{fmt(evaluation.methods[m].per_theme.at[theme, 'kappa'])}"
            for m in METHODS
        ]
        human = fmt(ceiling.per_theme.at[theme, "kappa"]) if ceiling is not None else ""
        table.add_row(theme, str(support), *cells, human)
    for average in ("macro", "micro"):
        figures = [getattr(evaluation.methods[m], average) for m in METHODS]
        cells = [f"{fmt(f['f1'])}/{fmt(f['kappa'])}" for f in figures]
        human = fmt(getattr(ceiling, average)["kappa"]) if ceiling is not None else ""
        table.add_row(f"[bold]{average}[/bold]", "", *cells, human)
    return table


def markdown(results: list[dict[str, Any]], questions: dict[str, QuestionFiles]) -> str:
    """The README tables: one summary row per project, then per theme F1 / kappa of each project."""
    lines = [
        "| data | segments | themes used | "
        + " | ".join(f"{SHORT[m]} F1 / κ" for m in METHODS)
        + " | human κ (answers) |",
        "|---|---:|---:|" + "---|" * len(METHODS) + "---|",
    ]
    for result in results:
        evaluation, ceiling = result["evaluation"], result["ceiling"]
        cells = []
        for method in METHODS:
            macro = evaluation.methods[method].macro
            low, high = macro.get("kappa_ci", [None, None])
            interval = f" ({fmt(low)}–{fmt(high)})" if low is not None else ""
            cells.append(f"{fmt(macro['f1'])} / {fmt(macro['kappa'])}{interval}")
        human = f"{fmt(ceiling.macro['kappa'])} ({ceiling.transcripts})" if ceiling is not None else "–"
        used = int((evaluation.methods["rules"].per_theme["support"] > 0).sum())
        lines.append(
            f"| {result['name']} | {evaluation.record['segments']} | {used} | " + " | ".join(cells) + f" | {human} |"
        )
    lines.append("")
    for result in results:
        evaluation, ceiling = result["evaluation"], result["ceiling"]
        lines += [
            "",
            f"**{result['name']}**, themes with {ENOUGH} or more coded segments (F1 / κ):",
            "",
            "| theme | n | " + " | ".join(SHORT[m] for m in METHODS) + " | human κ |",
            "|---|---:|" + "---|" * len(METHODS) + "---|",
        ]
        per_theme = evaluation.methods["rules"].per_theme
        for theme in evaluation.themes:
            if per_theme.at[theme, "support"] < ENOUGH:
                continue
            cells = [
                f"{fmt(evaluation.methods[m].per_theme.at[theme, 'f1'])} / "
                f"{fmt(evaluation.methods[m].per_theme.at[theme, 'kappa'])}"
                for m in METHODS
            ]
            human = fmt(ceiling.per_theme.at[theme, "kappa"]) if ceiling is not None else "–"
            lines.append(f"| {theme} | {int(per_theme.at[theme, 'support'])} | " + " | ".join(cells) + f" | {human} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder (../shared/data)")
    parser.add_argument(
        "--questions",
        nargs="*",
        default=None,
        help="proctoring questions (default: every question with a codebook in bench/codebooks)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "accuracy.json")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the README tables here")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 132)
    options = EvaluationOptions(folds=args.folds, seed=args.seed, resamples=args.resamples)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    proctoring = args.data / "proctoring"
    questions: dict[str, QuestionFiles] = {}
    if proctoring.is_dir():
        found = find_questions(proctoring)
        wanted = args.questions or [q for q, files in found.items() if files.codebook.is_file()]
        questions = {q: found[q] for q in sorted(wanted, key=lambda q: (q[0] != "N", int(q[1:])))}
        for question, files in questions.items():
            with tempfile.TemporaryDirectory(prefix=f"qualcode-{question}-") as folder:
                project = build_project(files, out=Path(folder))
                console.print(
                    f"[bold]{question}[/bold] {project.question_text} ({project.answers} answers; "
                    f"coded by primary {project.coded_answers['primary']}, secondary "
                    f"{project.coded_answers['secondary']})",
                    highlight=False,
                )
                result = run_project(
                    f"proctoring {question}",
                    transcripts=project.transcripts,
                    codebook_path=project.codebook,
                    gold_dir=project.coded,
                    coders=("primary",),
                    unit="turn",
                    options=options,
                )
                result["authors_irr_from_agree"] = statistic_from_agree(project.transcripts, project.codebook)
            result["authors_irr"] = authors_statistic(files)
            result["authors_irr_top_level"] = authors_statistic(files, as_script=False)
            results.append(result)
            console.print(theme_table(result))
            console.print(
                f"  authors' irr.py statistic: {result['authors_irr']:.3f} as their script computes it; "
                f"on top-level codes of every answer "
                f"{result['authors_irr_top_level']:.3f} from the CSVs, "
                f"{result['authors_irr_from_agree']:.3f} from `qualcode agree` counts; "
                f"{result['seconds']:.0f} s",
                highlight=False,
            )
        with tempfile.TemporaryDirectory(prefix="qualcode-interviews-") as folder:
            interviews = build_interviews(proctoring, out=Path(folder))
            console.print(
                f"[bold]development set[/bold]: the survey as interviews, {interviews.respondents} respondents, "
                f"{interviews.answers} answers, {interviews.themes} codes",
                highlight=False,
            )
            result = run_project(
                "proctoring as interviews (dev)",
                transcripts=interviews.transcripts,
                codebook_path=interviews.codebook,
                gold_dir=interviews.coded,
                coders=("primary",),
                unit="sentence",
                options=options,
            )
            results.append(result)
            console.print(theme_table(result))
    else:
        console.print(f"[yellow]skipped the proctoring survey:[/yellow] {proctoring} not found (see ../shared/data)")
    coded = ROOT / "coded"
    if coded.is_dir() and any(coded.glob("*.csv")):
        result = run_project(
            "bundled transcripts",
            transcripts=ROOT / "transcripts",
            codebook_path=ROOT / "codebook.yaml",
            gold_dir=coded,
            coders=None,
            unit="sentence",
            options=options,
        )
        results.append(result)
        console.print(theme_table(result))
    else:
        console.print(f"[yellow]skipped the bundled transcripts:[/yellow] no coder files in {coded}")
    payload = {
        "options": {
            "folds": args.folds,
            "seed": args.seed,
            "resamples": args.resamples,
            "gold": "primary coder (proctoring), every coder file in coded/ (bundled)",
            "enough_examples": ENOUGH,
        },
        "projects": {
            r["name"]: {
                **r["evaluation"].to_json(),
                "summary": summary(r),
                **{k: r[k] for k in ("authors_irr", "authors_irr_top_level", "authors_irr_from_agree") if k in r},
            }
            for r in results
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(results, questions))
    overview = Table(
        title="Macro F1 / kappa (themes the coders used); human = secondary vs primary coder", box=box.SIMPLE_HEAD
    )
    versus = ("combined vs\nkeywords > = <", "combined vs\ntf-idf > = <")
    for column in ("data", "segments", *(SHORT[m] for m in METHODS), "human κ", *versus):
        overview.add_column(column, justify="left" if column == "data" else "right")
    for result in results:
        evaluation, info = result["evaluation"], summary(result)
        cells = [
            f"{fmt(evaluation.methods[m].macro['f1'])}/{fmt(evaluation.methods[m].macro['kappa'])}" for m in METHODS
        ]
        human = fmt(info["human_ceiling"]["macro"]["kappa"]) if info["human_ceiling"] else "–"
        counts = []
        for name in ("keywords", "tfidf"):
            better, worse = len(info[f"combined_beats_{name}_on"]), len(info[f"combined_below_{name}_on"])
            counts.append(f"{better} {len(info['themes_with_enough_examples']) - better - worse} {worse}")
        overview.add_row(result["name"], str(info["segments"]), *cells, human, *counts)
    console.print(overview)
    console.print(
        f"written {args.json}"
        + (f" and {args.markdown}" if args.markdown else "")
        + f"; {time.perf_counter() - started:.0f} s",
        highlight=False,
    )


if __name__ == "__main__":
    main()

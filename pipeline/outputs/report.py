"""Render the findings matrix with jinja2 (HTML autoescaped, Markdown), and write every report of a run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import CodedTranscript
from pipeline.coding.records import Segment
from pipeline.coding.table import (
    EVIDENCE,
    EVIDENCE_REASON,
    HYPOTHETICAL,
    MATCHED,
    METHOD,
    NEGATED,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    THEME,
    TRANSCRIPT_ID,
    neutralise_frame,
    write_csv,
)
from pipeline.core.files import atomic_write_chunks, atomic_write_text
from pipeline.core.pieces import Piece, split_text
from pipeline.outputs.jinja import environment
from pipeline.outputs.matrix import QUOTABLE_RULE, FindingsMatrix, ThemeRow, matrix_frame
from pipeline.outputs.provenance import HEADING as TAGGING_HEADING
from pipeline.outputs.provenance import TaggingStatement, tagging_statement

HTML_TEMPLATE = "findings_matrix.v1.html.j2"
MD_TEMPLATE = "findings_matrix.v1.md.j2"


@dataclass
class TranscriptPage:
    id: str
    source: str
    metadata: dict[str, Any]
    pieces: list[Piece] = field(default_factory=list)
    n_tags: int = 0


def transcript_page(
    coded: CodedTranscript, tags: pd.DataFrame, codebook: Codebook, *, accuracy: TaggingStatement | None = None
) -> TranscriptPage:
    """The original text of one transcript with its tagged segments marked, for the report's transcript pages;
    each mark's hover says why it was tagged and how accurate that theme's tags measured."""
    text = coded.transcript.text
    labels = {t.id: t.label for t in codebook.themes}
    own = tags[tags[TRANSCRIPT_ID] == coded.transcript.id]
    by_segment = {sid: frame for sid, frame in own.groupby(SEGMENT_ID, sort=False)}

    def marked(start: int, end: int, segment: Segment) -> Piece:
        frame = by_segment[segment.segment_id]
        evidence = frame[frame[EVIDENCE]]
        if len(evidence):
            status = "evidence"
        elif segment.role == "interviewer":
            status = "interviewer"
        elif (frame["negated"] | frame["hypothetical"]).any():
            status = "negated"
        else:
            status = "not-counted"  # below the precision bar, or rejected by a reviewer
        why = "; ".join(
            f"{labels.get(r[THEME], r[THEME])}: {r[METHOD]} {r[RULE_ID] or ''}"
            + (f" score {r[SCORE]:.2f}" if pd.notna(r[SCORE]) else "")
            + (f" [matched: {r[MATCHED]}]" if r[MATCHED] else "")
            + (" (negated)" if r[NEGATED] else "")
            + (" (hypothetical)" if r[HYPOTHETICAL] else "")
            + (" (below the precision bar: not counted)" if r.get(EVIDENCE_REASON) == "below_precision_bar" else "")
            + (" (rejected by a reviewer)" if r.get(EVIDENCE_REASON) == "rejected" else "")
            + (f" - {accuracy.theme_text(r[THEME])}" if accuracy is not None else "")
            for _, r in frame.iterrows()
        )
        themes = tuple(labels.get(t, t) for t in dict.fromkeys(frame[THEME]))
        return Piece(text[start:end], segment_id=segment.segment_id, themes=themes, status=status, why=why)

    segments = sorted(coded.segments, key=lambda s: s.start_char)
    pieces = split_text(text, ((s.start_char, s.end_char, s) for s in segments if s.segment_id in by_segment), marked)
    return TranscriptPage(
        id=coded.transcript.id,
        source=coded.transcript.source,
        metadata={k: v for k, v in coded.transcript.metadata.items() if k not in ("speakers",)},
        pieces=pieces,
        n_tags=len(own),
    )


def heatmap_sections(matrix: FindingsMatrix, codebook: Codebook) -> list[tuple[str, list[ThemeRow]]]:
    """The heatmap's rows: each theme once, under its group's label in codebook order; themes with no
    declared group come last, under "Other themes"."""
    rows = {t.theme.id: t for row in matrix.rows for t in row.themes}
    labels = {g.id: g.label for g in codebook.groups}
    sections: dict[str, list[ThemeRow]] = {g.id: [] for g in codebook.groups}
    for theme in codebook.themes:
        if theme.id in rows:
            sections.setdefault(theme.group if theme.group in labels else "", []).append(rows[theme.id])
    return [(labels.get(group, "Other themes"), themes) for group, themes in sections.items() if themes]


def run_statement(run: dict[str, Any]) -> TaggingStatement:
    """The run's "How these tags were made" statement, with the reviewed share from its review record."""
    return tagging_statement(
        run, reviewed=int(run.get("review", {}).get("reviewed_tags", 0)), total=int(run["counts"]["tags"])
    )


def render_html(
    matrix: FindingsMatrix, *, codebook: Codebook, pages: Iterable[TranscriptPage], run: dict[str, Any]
) -> str:
    return "".join(html_chunks(matrix, codebook=codebook, pages=pages, run=run))


def html_chunks(
    matrix: FindingsMatrix, *, codebook: Codebook, pages: Iterable[TranscriptPage], run: dict[str, Any]
) -> Iterator[str]:
    """The findings page a piece at a time; `pages` is read once, in order, so it may be a generator."""
    return (
        environment()
        .get_template(HTML_TEMPLATE)
        .generate(
            matrix=matrix,
            codebook=codebook,
            pages=pages,
            run=run,
            heat=_heat,
            anchor=anchor,
            heatmap=heatmap_sections(matrix, codebook),
            tagging=run_statement(run),
            tagging_heading=TAGGING_HEADING,
            quote_rule=QUOTABLE_RULE,
        )
    )


def render_markdown(matrix: FindingsMatrix, *, codebook: Codebook, run: dict[str, Any]) -> str:
    return (
        environment()
        .get_template(MD_TEMPLATE)
        .render(
            matrix=matrix,
            codebook=codebook,
            run=run,
            tagging=run_statement(run),
            tagging_heading=TAGGING_HEADING,
            quote_rule=QUOTABLE_RULE,
        )
    )


def anchor(segment_id: str) -> str:
    """HTML id of a segment on its transcript page."""
    return "s-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", segment_id)


def _heat(share: float) -> str:
    """Background colour for a heatmap cell: white (0) to deep blue (1)."""
    share = max(0.0, min(1.0, share))
    return f"rgba(33, 102, 172, {0.08 + 0.82 * share:.2f})" if share > 0 else "transparent"


def write_reports(
    out: str | Path,
    *,
    coded: Sequence[CodedTranscript],
    tags: pd.DataFrame,
    segments: pd.DataFrame,
    metadata: pd.DataFrame,
    matrix: FindingsMatrix,
    codebook: Codebook,
    run: dict[str, Any],
) -> list[Path]:
    """Write tags.csv, segments.csv, metadata.csv, matrix.csv, findings_matrix.html/.md and run.json atomically."""
    statement = run_statement(run)
    return write_report_set(
        out,
        tags=[tags],
        segments=[segments],
        pages=(transcript_page(c, tags, codebook, accuracy=statement) for c in coded),
        metadata=metadata,
        matrix=matrix,
        codebook=codebook,
        run=run,
    )


def write_report_set(
    out: str | Path,
    *,
    tags: Iterable[pd.DataFrame],
    segments: Iterable[pd.DataFrame],
    pages: Iterable[TranscriptPage],
    metadata: pd.DataFrame,
    matrix: FindingsMatrix,
    codebook: Codebook,
    run: dict[str, Any],
) -> list[Path]:
    """`write_reports` from tables given in parts (partitions of transcripts, in order) and pages made one at a
    time: nothing needs the whole corpus in memory; the files are the same bytes as from whole tables."""
    out = Path(out)
    return [
        atomic_write_chunks(out / "tags.csv", csv_chunks(tags)),
        atomic_write_chunks(out / "segments.csv", csv_chunks(segments)),
        write_csv(metadata, out / "metadata.csv"),
        write_csv(matrix_frame(matrix), out / "matrix.csv"),
        atomic_write_chunks(out / "findings_matrix.html", html_chunks(matrix, codebook=codebook, pages=pages, run=run)),
        atomic_write_text(out / "findings_matrix.md", render_markdown(matrix, codebook=codebook, run=run)),
        atomic_write_text(out / "run.json", json.dumps(run, indent=2, ensure_ascii=False, default=str) + "\n"),
    ]


def csv_chunks(frames: Iterable[pd.DataFrame]) -> Iterator[str]:
    """One CSV from tables with the same columns, as `write_csv` writes their concatenation: header once."""
    for index, frame in enumerate(frames):
        yield neutralise_frame(frame).to_csv(index=False, header=index == 0)

"""The annex as an Excel workbook: Matrix (one row per finding), How tags were made, Quotes (with their ids)
and Tags sheets.

Every sheet has a filter and a frozen header; every text cell goes through `files.neutralise_cell`, so
no quote can run as a formula.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.coding.table import (
    END_CHAR,
    EVIDENCE,
    EVIDENCE_REASON,
    HYPOTHETICAL,
    MATCHED,
    METHOD,
    NEGATED,
    ROLE,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    SPEAKER,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
)
from pipeline.core.files import neutralise_cell
from pipeline.outputs.annex.build import REVIEW_STATUS, Annex

TAG_SHEET_COLUMNS = [
    SEGMENT_ID,
    TRANSCRIPT_ID,
    "group",
    ROLE,
    SPEAKER,
    THEME,
    METHOD,
    RULE_ID,
    MATCHED,
    SCORE,
    NEGATED,
    HYPOTHETICAL,
    EVIDENCE,
    EVIDENCE_REASON,
    REVIEW_STATUS,
    START_CHAR,
    END_CHAR,
    TEXT,
]
WIDE = 70
HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")


def render_xlsx(annex: Annex) -> bytes:
    """The .xlsx file's bytes."""
    workbook = Workbook()
    matrix = workbook.active
    matrix.title = "Matrix"
    group_columns = [
        column for g in annex.groups for column in (f"{annex.group_label(g)} interviews", f"{annex.group_label(g)} of")
    ]
    header = [
        "tor_id",
        "tor_question",
        "finding_id",
        "finding",
        "draft",
        "themes",
        "theme_ids",
        "evidence_strength",
        "interviews",
        "of_interviews",
        "institutions",
        *group_columns,
        "dissent_interviews",
        "quote_refs",
        "tag_accuracy",
    ]
    rows = []
    for question in annex.questions:
        for finding in question.findings:
            counts = finding.strength.counts
            per_group = {g.group: g for g in counts.groups}
            group_values = [
                value
                for g in annex.groups
                for value in (
                    per_group[g].n_interviews if g in per_group else 0,
                    per_group[g].group_size if g in per_group else 0,
                )
            ]
            rows.append(
                [
                    question.id,
                    question.label,
                    finding.id,
                    finding.text,
                    "draft" if finding.draft else "",
                    "; ".join(finding.theme_labels),
                    "; ".join(finding.themes),
                    finding.strength.label,
                    counts.n_interviews,
                    counts.n_total,
                    counts.n_institutions,
                    *group_values,
                    counts.dissent,
                    " ".join(q.ref for q in finding.quotes),
                    "; ".join(finding.theme_accuracy),
                ]
            )
    _fill(matrix, header, rows, wide={"finding", "tor_question", "tag_accuracy"})

    method = workbook.create_sheet("How tags were made")
    _fill(method, [annex.tagging_heading], [[line] for line in annex.tagging.lines], wide={annex.tagging_heading})

    quotes = workbook.create_sheet("Quotes")
    used_in: dict[str, list[str]] = {}
    for question in annex.questions:
        for finding in question.findings:
            for quote in finding.quotes:
                used_in.setdefault(quote.ref, []).append(finding.id)
    _fill(
        quotes,
        [
            "ref",
            "quote",
            "attribution",
            "group",
            "themes",
            "finding_ids",
            SEGMENT_ID,
            TRANSCRIPT_ID,
            START_CHAR,
            END_CHAR,
            "centrality",
        ],
        [
            [
                q.ref,
                q.text,
                q.attribution,
                annex.group_label(q.group),
                "; ".join(q.themes),
                " ".join(used_in[q.ref]),
                q.segment_id,
                q.transcript_id,
                q.start_char,
                q.end_char,
                q.centrality,
            ]
            for q in annex.quotes
        ],
        wide={"quote"},
    )

    tags = workbook.create_sheet("Tags")
    frame = annex.tags[[c for c in TAG_SHEET_COLUMNS if c in annex.tags.columns]]
    _fill(tags, list(frame.columns), frame.itertuples(index=False, name=None), wide={TEXT})
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _fill(sheet: Worksheet, header: Sequence[str], rows, *, wide: set[str]) -> None:
    """Header, rows, a filter over everything, the header row frozen, and readable column widths."""
    sheet.append([neutralise_cell(name) for name in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for row in rows:
        sheet.append([_cell(value) for value in row])
    sheet.auto_filter.ref = sheet.dimensions
    sheet.freeze_panes = "A2"
    for index, name in enumerate(header, start=1):
        letter = get_column_letter(index)
        if name in wide:
            sheet.column_dimensions[letter].width = WIDE
            for cell in sheet[letter][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        else:
            longest = max((len(str(c.value)) for c in sheet[letter] if c.value is not None), default=8)
            sheet.column_dimensions[letter].width = min(max(10, longest + 2), 40)


def _cell(value: Any) -> Any:
    """A value openpyxl can store safely: no NaN, no control characters, no formula-like text."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, str):
        return neutralise_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value

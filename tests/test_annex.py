"""The annex in every format: reopened with python-docx and openpyxl as a consultant's tools would, no known
name anywhere, drafts marked as drafts, and the CLI through its real entry point."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from pipeline.codebook.load import load_codebook
from pipeline.coding.table import TEXT, metadata_frame, read_tags, write_csv
from pipeline.core.errors import QualcodeError
from pipeline.ingest.read import discover
from pipeline.outputs.annex.build import FORMATS, attribution, build_annex, read_run_outputs, render, review_share
from pipeline.outputs.annex.findings import load_findings
from pipeline.outputs.annex.redact import (
    Redactor,
    names_from_metadata,
    names_from_tags,
    names_from_transcripts,
    read_names_list,
)
from pipeline.outputs.annex.word import ATTRIBUTION, DRAFT_FINDING, DRAFT_LABEL, FINDING, QUOTE, TABLE_STYLE

ANNEX = Path(__file__).resolve().parent / "fixtures" / "annex"
QUALCODE = Path(sys.executable).with_name("qualcode")
# Every name of the fixture corpus: metadata `names`, speaker labels, and the user's names list (Torunn).
KNOWN_NAMES = [
    "Kari Nilsen",
    "Kari",
    "Nilsen",
    "Ingrid",
    "Per Arne",
    "Arne",
    "Asha Suleiman",
    "Asha",
    "Khamis",
    "Chikondi",
    "Sindre Aune",
    "Sindre",
    "Aune",
    "Torunn",
]
DRAFTS = {"Q1.draft.long_term_exchange", "Q1.draft.staff_rotation", "Q2.draft.language_barrier"}


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(ANNEX / "codebook.yaml")


@pytest.fixture(scope="module")
def inputs(codebook):
    transcripts, _ = discover(ANNEX / "transcripts")
    tags = read_tags(ANNEX / "tags.csv")
    metadata = metadata_frame(transcripts)
    redactor = Redactor(
        [
            *names_from_metadata(metadata),
            *names_from_tags(tags),
            *names_from_transcripts(transcripts),
            *read_names_list(ANNEX / "names.txt"),
        ]
    )
    return tags, metadata, redactor


@pytest.fixture(scope="module")
def annex(codebook, inputs):
    tags, metadata, redactor = inputs
    return build_annex(
        tags=tags,
        metadata=metadata,
        codebook=codebook,
        findings=load_findings(ANNEX / "findings.yaml", codebook=codebook),
        by="side",
        redactor=redactor,
    )


@pytest.fixture(scope="module")
def rendered(annex) -> dict[str, bytes]:
    return {format: render(annex, format=format) for format in FORMATS}


def _docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    properties = document.core_properties
    parts += [properties.title or "", properties.subject or "", properties.comments or "", properties.author or ""]
    return "\n".join(parts)


def _xlsx_text(content: bytes) -> str:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    return "\n".join(
        str(cell.value) for sheet in workbook for row in sheet.iter_rows() for cell in row if cell.value is not None
    )


def _md_text(content: bytes) -> str:
    """The Markdown as a reader sees it: rendered (backslash escapes undone), tags kept."""
    return MarkdownIt("commonmark").enable("table").render(content.decode())


TEXT_OF = {"docx": _docx_text, "xlsx": _xlsx_text, "html": lambda b: b.decode(), "md": _md_text}


def test_model_has_statements_then_drafts(annex):
    q1, q2, q3 = annex.questions
    assert [f.id for f in q1.findings] == ["q1.language", "Q1.draft.long_term_exchange", "Q1.draft.staff_rotation"]
    assert [f.id for f in q2.findings] == ["q2.reciprocity", "Q2.draft.language_barrier"]
    assert q3.findings == ()  # age_limit: no statement and no evidence
    assert {f.id for q in annex.questions for f in q.findings if f.draft} == DRAFTS
    reciprocity = q2.findings[0]
    assert reciprocity.theme_labels == ("Reciprocity", "Cultural brokers")
    assert reciprocity.strength.label == "strong"
    assert len({q.transcript_id for q in reciprocity.quotes}) == len(reciprocity.quotes) == 3
    assert q1.findings[1].strength.label == "moderate (contested)"


def test_themes_without_tor_question_and_metadata_without_side(inputs, tmp_path):
    """A codebook written from another study's definitions (no ToR questions) and no `side` field still gives
    an annex: its themes under "Themes not linked to a ToR question", all interviews in one group."""
    from pipeline.codebook.load import load_codebook

    tags, metadata = inputs[0], inputs[1].drop(columns=["side"])
    path = tmp_path / "codebook.yaml"
    path.write_text(
        "name: Other\nversion: '1'\nthemes:\n  - id: language_barrier\n    label: Language barrier\n"
        "    definition: Not speaking the host language.\n"
    )
    result = build_annex(tags=tags, metadata=metadata, codebook=load_codebook(path))
    assert [q.id for q in result.questions] == ["other"]
    (finding,) = result.questions[0].findings
    assert finding.draft and finding.themes == ("language_barrier",) and finding.quotes


def test_quotes_are_attributed_by_descriptor_never_by_name(annex):
    quotes = annex.quotes
    assert [q.ref for q in quotes] == [f"Q{i}" for i in range(1, len(quotes) + 1)]
    by_transcript = {q.transcript_id: q.attribution for q in quotes}
    assert by_transcript["n1"] == "Nurse, North partner, health sector, 12-month exchange"
    assert by_transcript["n4"] == "Manager, North partner, health sector, staff visits only"
    assert by_transcript["s2"] == "Teacher, South partner, education sector, 6-month exchange"
    assert attribution({}) == "Respondent"
    assert attribution({"role": "nurse", "institution": "Haukeland University Hospital", "names": "Kari"}) == "Nurse"


def test_title_page_facts(annex):
    facts = dict(annex.facts)
    assert facts["Transcripts"] == "6"
    assert facts["Interviews by side"] == "North 4, South 2"
    assert facts["Codebook"].startswith("Annex test codebook, version 0.3 (hash ")
    assert facts["Tags reviewed"] == "0 of 19 (0%)"
    assert facts["Findings"] == "2 statements from the consultant, 3 drafts from the evidence"
    assert facts["Names"] == f"redacted: {len(annex.redactions)} replacements"


def test_share_of_tags_reviewed_counts_reviewer_decisions():
    tags = pd.DataFrame({"review_status": ["accepted", "rejected", "unreviewed", "stale", "added", "changed", ""]})
    assert review_share(tags) == (4, 7)
    assert review_share(tags.drop(columns="review_status")) == (0, 7)


def test_docx_headings_tables_styles_and_quotes(annex, rendered):
    document = docx.Document(io.BytesIO(rendered["docx"]))
    styled = [(p.style.name, p.text) for p in document.paragraphs]
    assert styled[0] == ("Title", "Test annex")
    headings = [text for style, text in styled if style == "Heading 1"]
    assert headings == [
        "How these tags were made",
        "How to read this annex",
        "Q1. Institutions",
        "Q2. Reciprocity",
        "Q3. Other factors",
    ]
    assert [t for s, t in styled if s == "Heading 2"] == ["Evidence strength", "Quotes", "Names"]
    facts, q1, q2 = document.tables  # Q3 has no finding, so no table
    assert [row.cells[0].text for row in facts.rows][:2] == ["Transcripts", "Interviews by side"]
    assert q1.style.name == q2.style.name == TABLE_STYLE
    assert [c.text for c in q1.rows[0].cells] == ["Theme", "Finding", "Evidence strength", "Groups", "Quotes"]
    assert len(q1.rows) == 4 and len(q2.rows) == 3
    first = q1.rows[1].cells
    assert (
        first[1].paragraphs[0].style.name == FINDING and first[1].text == "Language limits what participants can learn."
    )
    assert first[2].text.startswith("Strong")
    assert first[3].text.splitlines() == ["North: 2 of 4", "South: 1 of 2"]
    quotes = [p for row in (*q1.rows[1:], *q2.rows[1:]) for p in row.cells[4].paragraphs]
    quoted = [p.text for p in quotes if p.style.name == QUOTE]
    assert quoted and all(t.startswith("“") and t.endswith("”") for t in quoted)
    assert {q.text for q in annex.quotes} == {t[1:-1] for t in quoted}
    attributions = [p.text for p in quotes if p.style.name == ATTRIBUTION]
    assert len(attributions) == len(quoted) and all(re.search(r"\[Q\d+\]$", a) for a in attributions)
    custom = {s.name for s in document.styles}
    assert {QUOTE, ATTRIBUTION, FINDING, DRAFT_FINDING, DRAFT_LABEL} <= custom
    for paragraph in [
        *document.paragraphs,
        *(p for t in document.tables for r in t.rows for c in r.cells for p in c.paragraphs),
    ]:
        for run in paragraph.runs:  # no direct formatting: every look comes from a style
            assert (run.font.bold, run.font.italic, run.font.size, run.font.name) == (None, None, None, None)


def test_xlsx_sheets_filters_frozen_headers_and_neutralised_cells(rendered):
    workbook = openpyxl.load_workbook(io.BytesIO(rendered["xlsx"]))
    assert workbook.sheetnames == ["Matrix", "How tags were made", "Quotes", "Tags"]
    for sheet in workbook:
        assert sheet.auto_filter.ref == sheet.dimensions
        assert sheet.freeze_panes == "A2"
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@"))]
    assert all(c.data_type != "f" for c in cells)
    assert "'=SUM(A1:A2) was our joke for the long exchange: a full year of adding up small changes." in texts
    assert any(t.startswith("'@home we now have") for t in texts)
    matrix = workbook["Matrix"]
    header = [c.value for c in matrix[1]]
    assert header[:5] == ["tor_id", "tor_question", "finding_id", "finding", "draft"]
    assert {"North interviews", "North of", "South interviews", "South of"} <= set(header)
    quotes = workbook["Quotes"]
    assert [c.value for c in quotes[1]][:3] == ["ref", "quote", "attribution"]
    assert "segment_id" in [c.value for c in quotes[1]]
    tags = workbook["Tags"]
    assert tags.max_row == 20  # header + the 19 fixture tags


@pytest.mark.parametrize("format", FORMATS)
def test_no_known_name_reaches_any_format(rendered, format):
    text = TEXT_OF[format](rendered[format])
    assert "[colleague]" in text and "[respondent]" in text
    for name in KNOWN_NAMES:
        assert not re.search(rf"\b{re.escape(name)}\b", text), f"{name} in the {format} annex"


@pytest.mark.parametrize("format", FORMATS)
def test_draft_findings_are_marked_in_every_format(annex, rendered, format):
    drafts = [f for q in annex.questions for f in q.findings if f.draft]
    content = rendered[format]
    if format == "docx":
        document = docx.Document(io.BytesIO(content))
        paragraphs = [p for t in document.tables for r in t.rows for c in r.cells for p in c.paragraphs]
        marked = [p for p in paragraphs if p.style.name == DRAFT_FINDING]
        assert len(marked) == len(drafts)
        assert all(p.runs[0].style.name == DRAFT_LABEL and p.runs[0].text == "Draft" for p in marked)
        assert not [p for p in paragraphs if p.style.name == FINDING and p.text.startswith("Raised in")]
    elif format == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(content))["Matrix"]
        rows = {r[2]: r[4] for r in sheet.iter_rows(min_row=2, values_only=True)}
        assert {k for k, v in rows.items() if v == "draft"} == DRAFTS
        assert rows["q1.language"] is None
    elif format == "html":
        html = content.decode()
        assert html.count('<td class="finding draft"><span class="draft-label">Draft</span>') == len(drafts)
    else:
        md = content.decode()
        assert md.count("| **Draft:** Raised in") == len(drafts)


def test_html_is_autoescaped(codebook, inputs):
    tags, metadata, _ = inputs
    hostile = tags.assign(
        **{
            TEXT: tags[TEXT].where(
                tags["transcript_id"] != "s1",
                "<script>alert(1)</script> and the language barrier was real for all of us",
            )
        }
    )
    annex = build_annex(tags=hostile, metadata=metadata, codebook=codebook, by="side")
    html = render(annex, format="html").decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in render(annex, format="md").decode()


def test_unknown_group_field_and_missing_run_are_clear(codebook, inputs, tmp_path):
    tags, metadata, _ = inputs
    with pytest.raises(QualcodeError, match="--by 'region' is not a metadata field"):
        build_annex(tags=tags, metadata=metadata, codebook=codebook, by="region")
    with pytest.raises(QualcodeError) as caught:
        read_run_outputs(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: no tags.csv")
    write_csv(tags, tmp_path / "tags.csv")
    with pytest.raises(QualcodeError) as caught:
        read_run_outputs(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: no metadata.csv")


@pytest.fixture
def reports(tmp_path, inputs) -> Path:
    """A run's outputs as `qualcode run` writes them."""
    tags, metadata, _ = inputs
    folder = tmp_path / "reports"
    write_csv(tags, folder / "tags.csv")
    write_csv(metadata, folder / "metadata.csv")
    (folder / "run.json").write_text(
        json.dumps({"counts": {"transcripts": 6, "skipped": 1}, "finished": "2025-01-01T00:00:00+00:00"})
    )
    return folder


def _qualcode(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(QUALCODE), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_writes_the_annex_and_the_redaction_log(reports, tmp_path):
    out = tmp_path / "deliverables" / "annex.xlsx"
    result = _qualcode(
        "annex",
        "--reports",
        str(reports),
        "--codebook",
        str(ANNEX / "codebook.yaml"),
        "--transcripts",
        str(ANNEX / "transcripts"),
        "--findings",
        str(ANNEX / "findings.yaml"),
        "--names",
        str(ANNEX / "names.txt"),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "annex written to" in result.stderr and "do not share" in result.stderr
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Matrix", "How tags were made", "Quotes", "Tags"]
    log = pd.read_csv(reports / "redactions.csv")
    assert {"Torunn", "Kari Nilsen", "Dr. Khamis", "Sindre"} <= set(log["original"])
    assert not any(re.search(rf"\b{name}\b", _xlsx_text(out.read_bytes())) for name in KNOWN_NAMES)


def test_cli_reports_a_bad_findings_file_in_one_line(reports, tmp_path):
    findings = tmp_path / "findings.yaml"
    findings.write_text((ANNEX / "findings.yaml").read_text().replace("[language_barrier]", "[languag_barrier]"))
    result = _qualcode(
        "annex", "--reports", str(reports), "--codebook", str(ANNEX / "codebook.yaml"), "--format", "md", cwd=tmp_path
    )  # findings.yaml in the working folder is the default
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {findings.name}:8: Q1: unknown theme id 'languag_barrier' (not in the codebook)"]
    assert not (reports / "annex.md").exists()


def _measured_run(codebook) -> dict:
    """A run record whose tagging block comes from a card with grouped-CV precision for two themes."""
    from pipeline.classifier.precision import EVIDENCE_RULE, theme_accuracy

    card = {
        "combine_measured": {
            "per_theme": {
                "rules": {
                    "language_barrier": {"precision": 0.81, "recall": 0.4, "f1": 0.5356},
                    "reciprocity": {"precision": 0.3, "recall": 0.6, "f1": 0.4},
                }
            }
        }
    }
    return {
        "counts": {"transcripts": 6, "tags": 19},
        "tagging": {
            "rules": "9 rules of codebook Annex test codebook v0.3",
            "model": None,
            "combine": "rules",
            "min_precision": 0.7,
            "evidence_rule": EVIDENCE_RULE.format(bar=0.7),
            "measured": True,
            "measured_by": "nested 5-fold cross-validation grouped by transcript, against the human coders",
            "trained_on": {"segments": 120, "transcripts": 6, "coders": ["ana"]},
            "macro": {"rules": {"precision": 0.555, "recall": 0.5, "f1": 0.4678}},
            "per_theme": theme_accuracy(card, codebook.theme_ids, mode="rules", learned=[], bar=0.7),
            "below_precision_bar_tags": 3,
        },
    }


@pytest.mark.parametrize("format", FORMATS)
def test_every_format_says_how_the_tags_were_made(codebook, inputs, format):
    from pipeline.workflows.partitions import TagCounts
    from pipeline.workflows.run_record import tagging_record

    tags, metadata, redactor = inputs
    measured = build_annex(
        tags=tags,
        metadata=metadata,
        codebook=codebook,
        findings=load_findings(ANNEX / "findings.yaml", codebook=codebook),
        run=_measured_run(codebook),
        by="side",
    )
    text = " ".join(TEXT_OF[format](render(measured, format=format)).split()).replace("\\|", "|")
    assert "How these tags were made" in text
    assert "Made by: rules only (9 rules of codebook Annex test codebook v0.3); no classifier model." in text
    assert "Precision bar 0.70: An unreviewed machine tag counts as evidence only if" in text
    assert "macro over themes: rules: precision 0.56, recall 0.50, F1 0.47" in text
    assert "Reviewed: 0 of 19 tags (0%)" in text
    # per theme, where the theme is shown: a measured theme, one under the bar, and an unmeasured one (themes are
    # named when a finding has several)
    assert "evidence from rules: precision 0.81, recall 0.40, F1 0.54 (grouped CV)" in text
    assert "Reciprocity: no unreviewed tag counts: measured precision rules 0.30 is under the bar 0.70" in text
    assert "Cultural brokers: evidence from rules; accuracy unmeasured" in text
    rules_only = {
        "counts": {"tags": 19},
        "tagging": tagging_record(None, codebook=codebook, combine="rules", min_precision=0.7, tags=TagCounts.of(tags)),
    }
    unmeasured = build_annex(tags=tags, metadata=metadata, codebook=codebook, run=rules_only, by="side")
    text = " ".join(TEXT_OF[format](render(unmeasured, format=format)).split())
    assert "How these tags were made" in text and "no classifier model" in text
    assert "accuracy is unmeasured (no model card)" in text

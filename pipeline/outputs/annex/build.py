"""The findings annex a consultant hands in: per ToR question, each finding beside the evidence for its themes.

One model (`Annex`) is built from a run's outputs, the codebook and findings.yaml, then rendered to Word
(`annex_docx`), Excel (`annex_xlsx`), HTML or Markdown (jinja2 templates). Quote text is redacted before
it enters the model, so no renderer can leak a known name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import __version__
from pipeline.codebook.model import Codebook
from pipeline.coding.table import (
    CODEBOOK_HASH,
    EVIDENCE,
    SEGMENT_ID,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    read_table,
    read_tags,
)
from pipeline.core.choices import AnnexFormat
from pipeline.core.errors import QualcodeError
from pipeline.core.files import atomic_write_bytes, settle_reports
from pipeline.outputs.annex.evidence import (
    DISSENT_RULE,
    QUOTE_RULE,
    SCALE,
    SelectedQuote,
    Strength,
    counts_text,
    draft_statement,
    evidence_counts,
    evidence_strength,
    group_label,
    interview_groups,
    representative_quotes,
)
from pipeline.outputs.annex.findings import Findings
from pipeline.outputs.annex.redact import DEFAULT_TAG, Redaction, Redactor, redact_tags
from pipeline.outputs.jinja import environment
from pipeline.outputs.matrix import DEFAULT_GROUP_FIELD, OTHER_THEMES, UNKNOWN_GROUP
from pipeline.outputs.provenance import HEADING as TAGGING_HEADING
from pipeline.outputs.provenance import TaggingStatement, tagging_statement

FORMATS: tuple[str, ...] = tuple(f.value for f in AnnexFormat)
HTML_TEMPLATE = "annex.v1.html.j2"
MD_TEMPLATE = "annex.v1.md.j2"
DEFAULT_TITLE = "ToR questions and key study findings"
REVIEW_STATUS = "review_status"
# Review statuses that record a reviewer decision (as review_log.REVIEWED); "unreviewed" and "stale" do not.
REVIEWED = frozenset({"accepted", "rejected", "changed", "added"})
ATTRIBUTION_RULE = (
    "Quotes are attributed by a pseudonymous descriptor built from the transcript's metadata (role, side, sector, "
    "exchange length), never by name or institution: in a programme with one or two participants per "
    "institution, a role at a named institution identifies the person. Each quote has a reference (Q1, Q2, ...) "
    "that the Excel annex traces to its transcript and character offsets."
)


@dataclass(frozen=True)
class AnnexQuote:
    """A redacted quote, its pseudonymous attribution, and where it comes from (for the Excel annex)."""

    ref: str
    text: str
    attribution: str
    group: str
    themes: tuple[str, ...]
    segment_id: str
    transcript_id: str
    start_char: int
    end_char: int
    centrality: float


@dataclass(frozen=True)
class AnnexFinding:
    """A statement (the consultant's, or a draft from the evidence) and the evidence for its themes."""

    id: str
    text: str
    draft: bool
    themes: tuple[str, ...]
    theme_labels: tuple[str, ...]
    strength: Strength
    quotes: tuple[AnnexQuote, ...]
    theme_accuracy: tuple[str, ...] = ()  # per theme: how its evidence tags were made and measured

    @property
    def counts_text(self) -> str:
        """The counts beside the strength: "Raised in 7 of 14 interviews, 6 institutions" (groups have a column)."""
        text = counts_text(self.strength.counts, groups=False)
        return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class AnnexQuestion:
    id: str
    label: str
    text: str
    findings: tuple[AnnexFinding, ...]


@dataclass(frozen=True)
class Annex:
    """Everything any annex format shows; built once, rendered many ways."""

    title: str
    subtitle: str
    facts: tuple[tuple[str, str], ...]
    by: str
    groups: tuple[str, ...]
    questions: tuple[AnnexQuestion, ...]
    tags: pd.DataFrame
    redacted: bool
    redactions: tuple[Redaction, ...]
    tagging: TaggingStatement
    warnings: tuple[str, ...] = ()
    scale: tuple[tuple[str, str], ...] = SCALE
    dissent_rule: str = DISSENT_RULE
    quote_rule: str = QUOTE_RULE
    attribution_rule: str = ATTRIBUTION_RULE
    tagging_heading: str = TAGGING_HEADING
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def quotes(self) -> list[AnnexQuote]:
        """Every quote once, in order of reference."""
        seen: dict[str, AnnexQuote] = {}
        for question in self.questions:
            for finding in question.findings:
                for quote in finding.quotes:
                    seen.setdefault(quote.ref, quote)
        return sorted(seen.values(), key=lambda q: int(q.ref[1:]))

    def group_label(self, group: str) -> str:
        return group_label(group)

    @property
    def redaction_note(self) -> str:
        if not self.redacted:
            return "Names were NOT redacted (--no-redact): check every quote before sharing."
        return (
            f"Personal names in quotes are replaced by role tags ({DEFAULT_TAG}, [interviewer], [respondent]); "
            f"{len(self.redactions)} replacements, logged for the reviewer."
        )


@dataclass(frozen=True)
class RunOutputs:
    """What `qualcode run` wrote and the annex reads: the tags table, the metadata table and run.json."""

    tags: pd.DataFrame
    metadata: pd.DataFrame
    run: dict[str, Any]


def read_run_outputs(reports: str | Path) -> RunOutputs:
    """tags.csv, metadata.csv and run.json from a reports folder; a clear error when the run is missing."""
    reports = Path(reports)
    settle_reports(reports)
    tags_path = reports / "tags.csv"
    if not tags_path.is_file():
        raise QualcodeError("no tags.csv: run `qualcode run --out <folder>` first, or pass --reports", path=reports)
    try:
        tags = read_tags(tags_path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise QualcodeError(f"cannot read the tags table: {str(exc).splitlines()[0]}", path=tags_path) from None
    missing = {TRANSCRIPT_ID, THEME, EVIDENCE, SEGMENT_ID, TEXT, START_CHAR} - set(tags.columns)
    if missing:
        raise QualcodeError(f"not a qualcode tags table: missing columns {', '.join(sorted(missing))}", path=tags_path)
    metadata_path = reports / "metadata.csv"
    if not metadata_path.is_file():
        raise QualcodeError(
            "no metadata.csv (interviews, groups, attributions): run `qualcode run` again", path=reports
        )
    metadata = read_table(metadata_path)
    if TRANSCRIPT_ID not in metadata:
        raise QualcodeError(f"metadata table has no {TRANSCRIPT_ID} column", path=metadata_path)
    run: dict[str, Any] = {}
    run_path = reports / "run.json"
    if run_path.is_file():
        try:
            run = json.loads(run_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise QualcodeError(f"run record is not valid JSON: {exc}", path=run_path) from None
    return RunOutputs(tags=tags, metadata=metadata, run=run)


def attribution(meta: Mapping[str, Any]) -> str:
    """ "Nurse, South partner, health sector, 12-month exchange": role, side, sector, exchange; never a name."""

    def value(key: str) -> str:
        raw = meta.get(key)
        return "" if raw is None or (isinstance(raw, float) and pd.isna(raw)) else str(raw).strip()

    parts = []
    if value("role"):
        parts.append(value("role")[:1].upper() + value("role")[1:])
    if value("side"):
        parts.append(f"{group_label(value('side'))} partner")
    if value("sector"):
        parts.append(f"{value('sector')} sector")
    months = value("exchange_months")
    try:
        number = int(float(months)) if months else None
    except ValueError:
        number = None
    if number is not None:
        parts.append(f"{number}-month exchange" if number > 0 else "staff visits only")
    return ", ".join(parts) or "Respondent"


def build_annex(
    *,
    tags: pd.DataFrame,
    metadata: pd.DataFrame,
    codebook: Codebook,
    findings: Findings | None = None,
    run: Mapping[str, Any] | None = None,
    by: str | None = None,
    redactor: Redactor | None = None,
    quotes_per_finding: int = 3,
) -> Annex:
    """The annex model: facts, then per ToR question the consultant's statements and drafts with evidence.

    With a `redactor`, every segment's text is redacted before anything is chosen from it."""
    run = run or {}
    if by is None:  # the default: `side` where the metadata has it, else all interviews in one group
        by = DEFAULT_GROUP_FIELD
        if by not in metadata.columns:
            metadata = metadata.assign(**{by: ""})
    if by not in metadata.columns:
        raise QualcodeError(
            f"--by {by!r} is not a metadata field (fields: {', '.join(sorted(map(str, metadata.columns)))})"
        )
    redactions: list[Redaction] = []
    if redactor is not None:
        tags, redactions = redact_tags(tags, redactor)
    groups_of = interview_groups(metadata, by)
    tags = tags.assign(group=tags[TRANSCRIPT_ID].astype(str).map(groups_of).fillna(UNKNOWN_GROUP))
    meta_of = {str(row[TRANSCRIPT_ID]): row for row in metadata.to_dict("records")}
    refs: dict[str, str] = {}
    labels = {theme.id: theme.label for theme in codebook.themes}
    thresholds = (run.get("classifier") or {}).get("thresholds") or {}
    reviewed, total = review_share(tags)
    tagging = tagging_statement(run, reviewed=reviewed, total=total)

    def finding(finding_id: str, text: str, themes: Sequence[str], *, draft: bool) -> AnnexFinding:
        strength = evidence_strength(evidence_counts(tags, metadata, themes=themes, by=by))
        evidence = tags[tags[THEME].isin(themes) & tags[EVIDENCE].astype(bool)]
        selected = representative_quotes(evidence, groups_of=groups_of, limit=quotes_per_finding, thresholds=thresholds)
        if draft:
            text = draft_statement(strength, selected)
        quotes = tuple(_quote(q, refs, meta_of.get(q.transcript_id, {}), labels) for q in selected)
        return AnnexFinding(
            id=finding_id,
            text=text,
            draft=draft,
            themes=tuple(themes),
            theme_labels=tuple(labels[t] for t in themes),
            strength=strength,
            quotes=quotes,
            theme_accuracy=tuple(
                f"{labels[t]}: {tagging.theme_text(t)}" if len(themes) > 1 else tagging.theme_text(t) for t in themes
            ),
        )

    questions = []
    linked = {theme.id for question in codebook.tor_questions for theme in codebook.themes_for(question.id)}
    unlinked = [theme for theme in codebook.themes if theme.id not in linked]
    for question in [*codebook.tor_questions, *([OTHER_THEMES] if unlinked else [])]:
        statements = findings.statements(question.id) if findings else []
        rows = [
            finding(s.id or f"{question.id}.{i}", s.text, s.themes, draft=False)
            for i, s in enumerate(statements, start=1)
        ]
        covered = {theme for s in statements for theme in s.themes}
        for theme in unlinked if question is OTHER_THEMES else codebook.themes_for(question.id):
            if theme.id in covered:
                continue
            if tags[(tags[THEME] == theme.id) & tags[EVIDENCE].astype(bool)].empty:
                continue
            rows.append(finding(f"{question.id}.draft.{theme.id}", "", [theme.id], draft=True))
        questions.append(AnnexQuestion(id=question.id, label=question.label, text=question.text, findings=tuple(rows)))

    groups = tuple(sorted(set(groups_of.values()), key=lambda g: (g == UNKNOWN_GROUP, g)))
    annex_questions = tuple(questions)
    facts = _facts(
        tags=tags,
        metadata=metadata,
        codebook=codebook,
        run=run,
        by=by,
        groups_of=groups_of,
        questions=annex_questions,
        redactor=redactor,
        redactions=redactions,
    )
    return Annex(
        title=(findings.title if findings and findings.title else DEFAULT_TITLE),
        subtitle=codebook.name,
        facts=facts,
        by=by,
        groups=groups,
        questions=annex_questions,
        tags=tags,
        redacted=redactor is not None,
        redactions=tuple(redactions),
        tagging=tagging,
        warnings=tuple(_warnings(tags, codebook)),
    )


def _quote(
    selected: SelectedQuote, refs: dict[str, str], meta: Mapping[str, Any], labels: Mapping[str, str]
) -> AnnexQuote:
    ref = refs.setdefault(selected.segment_id, f"Q{len(refs) + 1}")
    return AnnexQuote(
        ref=ref,
        text=selected.text,
        attribution=attribution(meta),
        group=selected.group,
        themes=tuple(labels.get(t, t) for t in selected.themes),
        segment_id=selected.segment_id,
        transcript_id=selected.transcript_id,
        start_char=selected.start_char,
        end_char=selected.end_char,
        centrality=selected.centrality,
    )


def review_share(tags: pd.DataFrame) -> tuple[int, int]:
    """(reviewed, total) tags: rows whose `review_status` records a reviewer decision; 0 without the column."""
    if REVIEW_STATUS not in tags:
        return 0, len(tags)
    status = tags[REVIEW_STATUS].fillna("").astype(str).str.strip().str.lower()
    return int(status.isin(REVIEWED).sum()), len(tags)


def _facts(
    *,
    tags: pd.DataFrame,
    metadata: pd.DataFrame,
    codebook: Codebook,
    run: Mapping[str, Any],
    by: str,
    groups_of: Mapping[str, str],
    questions: Sequence[AnnexQuestion],
    redactor: Redactor | None,
    redactions: Sequence[Redaction],
) -> tuple[tuple[str, str], ...]:
    """The run's facts for the title page: what was coded, with what, and how much a person has checked."""
    counts = run.get("counts", {})
    n_transcripts = counts.get("transcripts", len(metadata))
    skipped = counts.get("skipped", 0)
    groups = sorted(set(groups_of.values()), key=lambda g: (g == UNKNOWN_GROUP, g))
    per_group = ", ".join(f"{group_label(g)} {sum(1 for v in groups_of.values() if v == g)}" for g in groups)
    reviewed, total = review_share(tags)
    evidence = int(tags[EVIDENCE].astype(bool).sum())
    statements = sum(1 for q in questions for f in q.findings if not f.draft)
    drafts = sum(1 for q in questions for f in q.findings if f.draft)
    run_codebook = run.get("codebook", {})
    coded_with = run_codebook.get("version")
    codebook_text = f"{codebook.name}, version {codebook.version} (hash {codebook.hash})"
    if coded_with and str(coded_with) != str(codebook.version):
        codebook_text += f"; the run was coded with version {coded_with}"
    facts = [
        ("Transcripts", f"{n_transcripts}" + (f" ({skipped} files skipped)" if skipped else "")),
        (f"Interviews by {by}", per_group),
        ("Codebook", codebook_text),
        (
            "Tags",
            f"{total} tags, {evidence} counted as evidence (negated, hypothetical and interviewer "
            "mentions, and unreviewed tags below the precision bar, are not counted)",
        ),
        ("Tags reviewed", f"{reviewed} of {total} ({100 * reviewed / total:.0f}%)" if total else "0 of 0"),
        ("Findings", f"{statements} statements from the consultant, {drafts} drafts from the evidence"),
        ("Names", f"redacted: {len(redactions)} replacements" if redactor is not None else "not redacted"),
        (
            "Coded",
            f"{run.get('finished', 'unknown time')} with qualcode "
            f"{run.get('versions', {}).get('qualcode', __version__)}",
        ),
    ]
    return tuple(facts)


def _warnings(tags: pd.DataFrame, codebook: Codebook) -> list[str]:
    """Signs that the tags and the codebook do not belong together."""
    warnings = []
    if CODEBOOK_HASH in tags and len(tags):
        hashes = set(tags[CODEBOOK_HASH].astype(str)) - {"", "nan"}
        if hashes and hashes != {codebook.hash}:
            warnings.append(
                f"the tags were coded with codebook hash {', '.join(sorted(hashes))}, not "
                f"{codebook.hash} ({codebook.path}): re-run `qualcode run` for matching counts"
            )
    unknown = sorted(set(tags[THEME].astype(str)) - set(codebook.theme_ids))
    if unknown:
        warnings.append(f"themes in the tags table that the codebook does not have: {', '.join(unknown)}")
    return warnings


def render_html(annex: Annex) -> str:
    """The annex as one self-contained, autoescaped HTML page."""
    return environment().get_template(HTML_TEMPLATE).render(annex=annex)


def render_markdown(annex: Annex) -> str:
    """The annex as Markdown (tables of findings, quotes below each question)."""
    return environment().get_template(MD_TEMPLATE).render(annex=annex)


def render(annex: Annex, *, format: AnnexFormat) -> bytes:
    """The annex in one format, as the bytes of the file."""
    if format == "docx":
        from pipeline.outputs.annex.word import render_docx

        return render_docx(annex)
    if format == "xlsx":
        from pipeline.outputs.annex.excel import render_xlsx

        return render_xlsx(annex)
    if format == "html":
        return render_html(annex).encode("utf-8")
    if format == "md":
        return render_markdown(annex).encode("utf-8")
    raise QualcodeError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")


def write_annex(annex: Annex, path: str | Path, *, format: AnnexFormat) -> Path:
    """Render and write atomically."""
    return atomic_write_bytes(path, render(annex, format=format))

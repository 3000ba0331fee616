"""The findings matrix: ToR questions x themes x stakeholder groups, pivoted from the tags table.

Each cell counts the interviews and institutions whose respondents raised the theme as evidence (not
negated, not hypothetical), and carries the best quotes, each traceable to transcript and offsets.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from pipeline.codebook.model import Codebook, Theme, TorQuestion
from pipeline.coding.table import (
    END_CHAR,
    EVIDENCE,
    METHOD,
    NEGATED,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    SOURCE,
    SPEAKER,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
    tags_frame,
)
from pipeline.outputs.quotes import quote_text

UNKNOWN_GROUP = "unknown"
DEFAULT_GROUP_FIELD = "side"  # the metadata field whose values are the groups, unless --by names another
OTHER_THEMES = TorQuestion(
    id="other",
    label="Themes not linked to a ToR question",
    text="Themes of the codebook whose `tor` list is empty or names no ToR question.",
)
ALL_GROUPS = "All"
QUOTE_TARGET_WORDS = 25
QUOTE_MIN_WORDS = 8
UNSURE_MARGIN = 0.1  # a classifier score under its theme's threshold + this is "unsure": never quoted
QUOTABLE_RULE = (
    f"A quote has at least {QUOTE_MIN_WORDS} words, and never comes from a tag the classifier is unsure of: "
    f"one it scored below its theme's threshold + {UNSURE_MARGIN} (or whose threshold is not recorded)."
)


@dataclass(frozen=True)
class Quote:
    """A quotable segment, with everything needed to find it again in the original file."""

    segment_id: str
    transcript_id: str
    source: str
    speaker: str
    start_char: int
    end_char: int
    text: str
    method: str
    strength: float
    group: str


@dataclass(frozen=True)
class Cell:
    """One theme in one group: interviews and institutions with evidence, and the best quotes."""

    n_interviews: int
    n_institutions: int | None
    n_tags: int
    group_size: int
    quotes: list[Quote] = field(default_factory=list)
    n_reviewed: int = 0  # evidence tags a reviewer accepted or added (see review.py)

    @property
    def share(self) -> float:
        return self.n_interviews / self.group_size if self.group_size else 0.0


@dataclass(frozen=True)
class ThemeRow:
    """One theme under a ToR question: a cell per group, the total, and dissent (negated mentions)."""

    theme: Theme
    cells: dict[str, Cell]
    total: Cell
    negated_interviews: int


@dataclass(frozen=True)
class TorRow:
    question: TorQuestion
    themes: list[ThemeRow]


@dataclass(frozen=True)
class FindingsMatrix:
    """The whole matrix; `groups` are the values of the metadata field `by`, in a stable order."""

    by: str
    groups: list[str]
    group_sizes: dict[str, int]
    rows: list[TorRow]
    n_interviews: int


@dataclass(frozen=True)
class Grouping:
    """Which group and institution each transcript belongs to, from the whole corpus's metadata."""

    by: str
    groups_of: dict[str, str]
    institutions_of: dict[str, object]
    groups: list[str]
    group_sizes: dict[str, int]

    @classmethod
    def of(cls, metadata: pd.DataFrame, by: str) -> Grouping:
        groups_of = _groups(metadata, by)
        groups = sorted(set(groups_of.values()), key=lambda g: (g == UNKNOWN_GROUP, g))
        return cls(
            by=by,
            groups_of=groups_of,
            institutions_of=(
                metadata.set_index(TRANSCRIPT_ID)["institution"].to_dict() if "institution" in metadata else {}
            ),
            groups=groups,
            group_sizes={g: sum(1 for v in groups_of.values() if v == g) for g in groups},
        )


@dataclass
class CellPart:
    """One cell's share from one partition of transcripts: additive counts (partitions hold disjoint
    transcripts), the institutions seen, and the partition's best quote candidates (one per interview)."""

    n_interviews: int
    institutions: set[object]
    n_tags: int
    n_reviewed: int
    candidates: pd.DataFrame


@dataclass
class MatrixPart:
    """A partition's share of the matrix: a CellPart per (theme, group or All), dissenting interviews per theme."""

    cells: dict[tuple[str, str], CellPart]
    negated_interviews: dict[str, int]


def matrix_part(
    tags: pd.DataFrame,
    grouping: Grouping,
    codebook: Codebook,
    *,
    quotes_per_cell: int = 3,
    thresholds: Mapping[str, float] | None = None,
) -> MatrixPart:
    """The matrix's share of the tags of some transcripts; `combine_matrix` adds up the shares of partitions."""
    evidence = tags[tags[EVIDENCE]].copy()
    evidence["group"] = evidence[TRANSCRIPT_ID].map(grouping.groups_of).fillna(UNKNOWN_GROUP)
    evidence["_quotable"] = quotable(evidence, thresholds or {})
    negated = tags[tags[NEGATED] & ~tags[EVIDENCE].astype(bool)]
    cells: dict[tuple[str, str], CellPart] = {}
    negated_interviews: dict[str, int] = {}
    for theme in codebook.themes:
        theme_tags = evidence[evidence[THEME] == theme.id]
        for group in grouping.groups:
            cells[theme.id, group] = _cell_part(theme_tags[theme_tags["group"] == group], grouping, quotes_per_cell)
        cells[theme.id, ALL_GROUPS] = _cell_part(theme_tags, grouping, quotes_per_cell)
        negated_interviews[theme.id] = int(negated[negated[THEME] == theme.id][TRANSCRIPT_ID].nunique())
    return MatrixPart(cells=cells, negated_interviews=negated_interviews)


def combine_matrix(
    parts: Iterable[MatrixPart], grouping: Grouping, codebook: Codebook, *, quotes_per_cell: int = 3
) -> FindingsMatrix:
    """The matrix from the shares of partitions with disjoint transcripts: the same as from one whole table."""
    total: MatrixPart | None = None
    for part in parts:
        total = part if total is None else add_matrix_parts(total, part, quotes_per_cell)
    if total is None:
        total = matrix_part(tags_frame([]), grouping, codebook, quotes_per_cell=quotes_per_cell)
    theme_rows: dict[str, ThemeRow] = {}
    for theme in codebook.themes:
        cells = {
            group: _cell(total.cells[theme.id, group], grouping, grouping.group_sizes[group], quotes_per_cell)
            for group in grouping.groups
        }
        all_cell = _cell(total.cells[theme.id, ALL_GROUPS], grouping, len(grouping.groups_of), quotes_per_cell)
        theme_rows[theme.id] = ThemeRow(
            theme=theme, cells=cells, total=all_cell, negated_interviews=total.negated_interviews[theme.id]
        )
    rows = [
        TorRow(question=q, themes=[theme_rows[t.id] for t in codebook.themes_for(q.id)]) for q in codebook.tor_questions
    ]
    linked = {t.theme.id for row in rows for t in row.themes}
    unlinked = [theme_rows[t.id] for t in codebook.themes if t.id not in linked]
    if unlinked:  # e.g. a codebook written from another study's definitions, with no ToR questions
        rows.append(TorRow(question=OTHER_THEMES, themes=unlinked))
    return FindingsMatrix(
        by=grouping.by,
        groups=grouping.groups,
        group_sizes=grouping.group_sizes,
        rows=rows,
        n_interviews=len(grouping.groups_of),
    )


def build_matrix(
    tags: pd.DataFrame,
    metadata: pd.DataFrame,
    codebook: Codebook,
    *,
    by: str = "side",
    quotes_per_cell: int = 3,
    thresholds: Mapping[str, float] | None = None,
) -> FindingsMatrix:
    """Pivot the tags table into ToR rows x group columns, counting only evidence tags; quotes only from
    quotable ones (`quotable`, with the model's per-theme `thresholds`)."""
    grouping = Grouping.of(metadata, by)
    part = matrix_part(tags, grouping, codebook, quotes_per_cell=quotes_per_cell, thresholds=thresholds)
    return combine_matrix([part], grouping, codebook, quotes_per_cell=quotes_per_cell)


def matrix_frame(matrix: FindingsMatrix) -> pd.DataFrame:
    """The matrix as a tidy table: one row per ToR question x theme x group (plus `All`)."""
    records = []
    for row in matrix.rows:
        for theme_row in row.themes:
            for group, cell in [*theme_row.cells.items(), (ALL_GROUPS, theme_row.total)]:
                records.append(
                    {
                        "tor_id": row.question.id,
                        "tor_label": row.question.label,
                        THEME: theme_row.theme.id,
                        "theme_label": theme_row.theme.label,
                        matrix.by: group,
                        "n_interviews": cell.n_interviews,
                        "group_size": cell.group_size,
                        "share": round(cell.share, 3),
                        "n_institutions": cell.n_institutions,
                        "n_tags": cell.n_tags,
                        "n_reviewed": cell.n_reviewed,
                        "negated_interviews": theme_row.negated_interviews if group == ALL_GROUPS else None,
                        "quote_segment_ids": ";".join(q.segment_id for q in cell.quotes),
                    }
                )
    return pd.DataFrame(records)


def _groups(metadata: pd.DataFrame, by: str) -> dict[str, str]:
    if by not in metadata.columns:
        return {tid: UNKNOWN_GROUP for tid in metadata[TRANSCRIPT_ID]}
    values = metadata[by].map(lambda v: UNKNOWN_GROUP if pd.isna(v) or str(v).strip() == "" else str(v).strip())
    return dict(zip(metadata[TRANSCRIPT_ID], values))


def _cell_part(theme_tags: pd.DataFrame, grouping: Grouping, quotes_per_cell: int) -> CellPart:
    transcripts = set(theme_tags[TRANSCRIPT_ID])
    institutions = {grouping.institutions_of.get(t) for t in transcripts} - {None, ""}
    return CellPart(
        n_interviews=len(transcripts),
        institutions={i for i in institutions if not pd.isna(i)},
        n_tags=len(theme_tags),
        n_reviewed=int(theme_tags["review_status"].isin(["accepted", "added"]).sum())
        if "review_status" in theme_tags
        else 0,
        candidates=quote_candidates(theme_tags, limit=quotes_per_cell),
    )


def add_matrix_parts(one: MatrixPart, other: MatrixPart, quotes_per_cell: int = 3) -> MatrixPart:
    """Two partitions' shares as one (what `combine_matrix` folds over): small whatever the partitions' size."""
    cells = {}
    for key, cell in one.cells.items():
        more = other.cells[key]
        candidates = [frame for frame in (cell.candidates, more.candidates) if len(frame)]
        cells[key] = CellPart(
            n_interviews=cell.n_interviews + more.n_interviews,
            institutions=cell.institutions | more.institutions,
            n_tags=cell.n_tags + more.n_tags,
            n_reviewed=cell.n_reviewed + more.n_reviewed,
            # the best quotes of the whole are among the best of each part (one per interview, interviews disjoint)
            candidates=quote_candidates(pd.concat(candidates), limit=quotes_per_cell)
            if len(candidates) > 1
            else (candidates[0] if candidates else cell.candidates),
        )
    negated = {theme: n + other.negated_interviews[theme] for theme, n in one.negated_interviews.items()}
    return MatrixPart(cells=cells, negated_interviews=negated)


def _cell(part: CellPart, grouping: Grouping, group_size: int, quotes_per_cell: int) -> Cell:
    return Cell(
        n_interviews=part.n_interviews,
        n_institutions=len(part.institutions) if grouping.institutions_of else None,
        n_tags=part.n_tags,
        group_size=group_size,
        quotes=_quotes(quote_candidates(part.candidates, limit=quotes_per_cell)),
        n_reviewed=part.n_reviewed,
    )


def quotable(tags: pd.DataFrame, thresholds: Mapping[str, float], *, keep: Collection[str] = ()) -> pd.Series:
    """Which tags may give a quote (QUOTABLE_RULE): at least QUOTE_MIN_WORDS words as shown (annotations left out,
    bracketed tags in `keep` kept), and no classifier score under the theme's threshold + UNSURE_MARGIN; a scored
    tag whose threshold is unknown counts as unsure."""
    words = tags[TEXT].astype(str).map(lambda text: len(quote_text(text, keep=keep).split()))
    # float64 even when empty: an empty map keeps the text dtype, which pyarrow-backed strings refuse to compare
    limit = tags[THEME].map(lambda theme: thresholds.get(theme, float("inf")) + UNSURE_MARGIN).astype("float64")
    sure = tags[SCORE].isna() | (tags[SCORE] >= limit)
    return (words >= QUOTE_MIN_WORDS) & sure


def select_quotes(
    theme_tags: pd.DataFrame, *, limit: int, thresholds: Mapping[str, float] | None = None
) -> list[Quote]:
    """Best quotes among the quotable tags (`quotable`), at most one per interview: strongest tag first (model
    score, or number of distinct rules matched), then the length closest to 25 words."""
    return _quotes(quote_candidates(theme_tags, limit=limit, thresholds=thresholds))


def quote_candidates(
    theme_tags: pd.DataFrame, *, limit: int, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The tag rows `select_quotes` quotes, best first (a stable sort: the same rows from a part or the whole)."""
    if "_quotable" not in theme_tags:
        theme_tags = theme_tags.assign(_quotable=quotable(theme_tags, thresholds or {}))
    theme_tags = theme_tags[theme_tags["_quotable"].astype(bool)]
    if theme_tags.empty or limit <= 0:
        return theme_tags.iloc[:0]
    ranked = theme_tags.assign(
        _strength=[_strength(score, rule_id) for score, rule_id in zip(theme_tags[SCORE], theme_tags[RULE_ID])],
        _words=theme_tags[TEXT].str.split().str.len(),
    )
    ranked = ranked.assign(_distance=(ranked["_words"] - QUOTE_TARGET_WORDS).abs()).sort_values(
        ["_strength", "_distance", SEGMENT_ID], ascending=[False, True, True], kind="stable"
    )
    return ranked.drop_duplicates(TRANSCRIPT_ID).head(limit)


def _quotes(best: pd.DataFrame) -> list[Quote]:
    return [
        Quote(
            segment_id=r[SEGMENT_ID],
            transcript_id=r[TRANSCRIPT_ID],
            source=r[SOURCE],
            speaker=r[SPEAKER],
            start_char=int(r[START_CHAR]),
            end_char=int(r[END_CHAR]),
            text=quote_text(r[TEXT]),
            method=r[METHOD],
            strength=float(r["_strength"]),
            group=str(r.get("group", "")),
        )
        for _, r in best.iterrows()
    ]


def _strength(score: float, rule_id: str) -> float:
    rules = len([r for r in str(rule_id or "").split(";") if r and r != "nan"])
    model = 0.0 if pd.isna(score) else float(score)
    return model + rules

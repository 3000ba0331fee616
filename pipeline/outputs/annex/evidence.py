"""Evidence behind a finding: counts a reviewer can check, strength on a stated scale, and representative quotes.

The scale (also in README.md and in every annex):
- strong: raised in at least 3 interviews, and in at least half of the interviews of at least two groups
  (of the only group, when there is one);
- moderate: raised in at least 3 interviews from at least 2 institutions;
- weak: raised, but in fewer than 3 interviews or within one institution;
- none: never raised as evidence (negated, hypothetical and interviewer mentions do not count).
Dissent: when the interviews that negate the theme(s) number at least half of those that raise them, the
level drops one step (strong -> moderate -> weak) and is marked contested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from pipeline.coding.table import (
    END_CHAR,
    EVIDENCE,
    NEGATED,
    SCORE,
    SEGMENT_ID,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
)
from pipeline.outputs.annex.redact import REDACTION_TAGS
from pipeline.outputs.matrix import QUOTE_MIN_WORDS, UNKNOWN_GROUP, UNSURE_MARGIN, quotable
from pipeline.outputs.quotes import quote_text

STRONG, MODERATE, WEAK, NONE = "strong", "moderate", "weak", "none"
LEVELS = (NONE, WEAK, MODERATE, STRONG)
MIN_INTERVIEWS = 3
MIN_INSTITUTIONS = 2
GROUP_SHARE = 0.5
DISSENT_SHARE = 0.5
QUOTABLE_WORDS = (QUOTE_MIN_WORDS, 60)
ACCEPTABLE_WORDS = (QUOTE_MIN_WORDS, 100)
SCALE = (
    (
        STRONG,
        f"raised in at least {MIN_INTERVIEWS} interviews, and in at least half of the interviews of at "
        "least two groups (of the only group, when there is one)",
    ),
    (MODERATE, f"raised in at least {MIN_INTERVIEWS} interviews from at least {MIN_INSTITUTIONS} institutions"),
    (WEAK, f"raised, but in fewer than {MIN_INTERVIEWS} interviews or within one institution"),
    (NONE, "never raised as evidence (negated, hypothetical and interviewer mentions do not count)"),
)
DISSENT_RULE = (
    "Contested: when the interviews that negate the theme number at least half of those that raise "
    "it, the level drops one step (strong to moderate, moderate to weak)"
)
QUOTE_RULE = (
    "Quotes are the evidence segments closest to the TF-IDF centroid of all evidence segments for the finding "
    f"(the most representative, not the highest-scoring); {QUOTABLE_WORDS[0]}-{QUOTABLE_WORDS[1]} words first, "
    f"over {ACCEPTABLE_WORDS[1]} words only when nothing else is left, never under {QUOTE_MIN_WORDS} words, and "
    f"never a tag the classifier is unsure of (scored below its theme's threshold + {UNSURE_MARGIN}); at most one "
    "quote per interview; picked in rounds, one group at a time, so that every group with evidence is heard "
    "before a group is quoted twice."
)


@dataclass(frozen=True)
class GroupCount:
    """Interviews of one group that raised the theme(s), out of all interviews of that group."""

    group: str
    n_interviews: int
    group_size: int

    @property
    def share(self) -> float:
        return self.n_interviews / self.group_size if self.group_size else 0.0


@dataclass(frozen=True)
class EvidenceCounts:
    """What a strength rests on; each count can be checked by filtering the tags table."""

    themes: tuple[str, ...]
    n_interviews: int
    n_total: int
    n_institutions: int | None
    groups: tuple[GroupCount, ...]
    dissent: int
    n_segments: int

    def groups_at_half(self) -> list[str]:
        """Groups in which at least half of the interviews raised the theme(s)."""
        return [g.group for g in self.groups if g.n_interviews and g.share >= GROUP_SHARE]


@dataclass(frozen=True)
class Strength:
    """A level of the scale, whether dissent lowered it, and the counts it was computed from."""

    level: str
    contested: bool
    counts: EvidenceCounts

    @property
    def label(self) -> str:
        return self.level + (" (contested)" if self.contested else "")


@dataclass(frozen=True)
class SelectedQuote:
    """An evidence segment chosen as a quote, with its centrality (cosine to the TF-IDF centroid)."""

    segment_id: str
    transcript_id: str
    start_char: int
    end_char: int
    text: str
    themes: tuple[str, ...]
    group: str
    centrality: float


def interview_groups(metadata: pd.DataFrame, by: str) -> dict[str, str]:
    """{transcript id: group}: the metadata field `by`, or `unknown` where it is missing (as the matrix does)."""
    if by not in metadata.columns:
        return {str(t): UNKNOWN_GROUP for t in metadata[TRANSCRIPT_ID]}
    values = metadata[by].map(lambda v: UNKNOWN_GROUP if pd.isna(v) or str(v).strip() == "" else str(v).strip())
    return dict(zip(metadata[TRANSCRIPT_ID].astype(str), values))


def group_label(group: str) -> str:
    """How a group is written in an annex: "south" -> "South"."""
    return group[:1].upper() + group[1:] if group.islower() else group


def evidence_counts(
    tags: pd.DataFrame, metadata: pd.DataFrame, *, themes: Iterable[str], by: str = "side"
) -> EvidenceCounts:
    """Interviews, institutions and groups with evidence for any of `themes`, and interviews that negate them."""
    themes = tuple(themes)
    groups_of = interview_groups(metadata, by)
    theme_tags = tags[tags[THEME].isin(themes)]
    evidence = theme_tags[theme_tags[EVIDENCE].astype(bool)]
    interviews = set(evidence[TRANSCRIPT_ID].astype(str))
    institutions: int | None = None
    if "institution" in metadata:
        institution_of = dict(zip(metadata[TRANSCRIPT_ID].astype(str), metadata["institution"]))
        named = {institution_of.get(t) for t in interviews}
        institutions = len({i for i in named if i is not None and not pd.isna(i) and str(i).strip()})
    groups = sorted(set(groups_of.values()), key=lambda g: (g == UNKNOWN_GROUP, g))
    per_group = tuple(
        GroupCount(
            group=g,
            n_interviews=sum(1 for t in interviews if groups_of.get(t, UNKNOWN_GROUP) == g),
            group_size=sum(1 for v in groups_of.values() if v == g),
        )
        for g in groups
    )
    negated = theme_tags[theme_tags[NEGATED].astype(bool) & ~theme_tags[EVIDENCE].astype(bool)]
    return EvidenceCounts(
        themes=themes,
        n_interviews=len(interviews),
        n_total=len(groups_of),
        n_institutions=institutions,
        groups=per_group,
        dissent=int(negated[TRANSCRIPT_ID].nunique()),
        n_segments=int(evidence[SEGMENT_ID].nunique()),
    )


def evidence_strength(counts: EvidenceCounts) -> Strength:
    """The level of the stated scale (module docstring) that the counts reach."""
    if counts.n_interviews == 0:
        return Strength(level=NONE, contested=False, counts=counts)
    known = [g for g in counts.groups if g.group != UNKNOWN_GROUP] or list(counts.groups)
    needed = min(2, len(known))
    at_half = sum(1 for g in known if g.n_interviews and g.share >= GROUP_SHARE)
    institutions = counts.n_institutions if counts.n_institutions is not None else counts.n_interviews
    if counts.n_interviews >= MIN_INTERVIEWS and at_half >= needed:
        level = STRONG
    elif counts.n_interviews >= MIN_INTERVIEWS and institutions >= MIN_INSTITUTIONS:
        level = MODERATE
    else:
        level = WEAK
    contested = counts.dissent > 0 and counts.dissent >= DISSENT_SHARE * counts.n_interviews and level != WEAK
    if contested:
        level = LEVELS[LEVELS.index(level) - 1]
    return Strength(level=level, contested=contested, counts=counts)


def counts_text(counts: EvidenceCounts, *, groups: bool = True) -> str:
    """The counts in words: "raised in 7 of 14 interviews (North 3 of 8, South 4 of 6), 6 institutions"."""
    per_group = ", ".join(f"{group_label(g.group)} {g.n_interviews} of {g.group_size}" for g in counts.groups)
    text = f"raised in {counts.n_interviews} of {counts.n_total} interviews"
    if groups and (len(counts.groups) > 1 or counts.groups and counts.groups[0].group != UNKNOWN_GROUP):
        text += f" ({per_group})"
    if counts.n_institutions is not None:
        text += f", {counts.n_institutions} institution{'s' if counts.n_institutions != 1 else ''}"
    if counts.dissent:
        text += f"; negated in {counts.dissent} interview{'s' if counts.dissent != 1 else ''}"
    return text


def representative_quotes(
    evidence: pd.DataFrame,
    *,
    groups_of: Mapping[str, str],
    limit: int = 3,
    thresholds: Mapping[str, float] | None = None,
) -> list[SelectedQuote]:
    """Quotes by the documented rule (QUOTE_RULE): only quotable tags (`matrix.quotable`: no short segment, no
    unsure classifier tag), by TF-IDF centrality among them, one per interview, groups in rounds."""
    scored = evidence if SCORE in evidence else evidence.assign(**{SCORE: float("nan")})  # rules only: no scores
    evidence = evidence[quotable(scored, thresholds or {}, keep=REDACTION_TAGS)]
    if evidence.empty or limit <= 0:
        return []
    segments = (
        evidence.groupby(SEGMENT_ID, sort=True)
        .agg(
            {
                TRANSCRIPT_ID: "first",
                START_CHAR: "first",
                END_CHAR: "first",
                TEXT: "first",
                THEME: lambda s: tuple(dict.fromkeys(s)),
            }
        )
        .reset_index()
    )
    texts = segments[TEXT].astype(str).tolist()
    centrality = _centrality(texts)
    words = np.array([len(t.split()) for t in texts])
    tier = np.where(
        (words >= QUOTABLE_WORDS[0]) & (words <= QUOTABLE_WORDS[1]),
        0,
        np.where((words >= ACCEPTABLE_WORDS[0]) & (words <= ACCEPTABLE_WORDS[1]), 1, 2),
    )
    segments = segments.assign(
        _tier=tier,
        _centrality=centrality,
        _group=segments[TRANSCRIPT_ID].astype(str).map(groups_of).fillna(UNKNOWN_GROUP),
    )
    ranked = segments.sort_values(["_tier", "_centrality", SEGMENT_ID], ascending=[True, False, True])
    chosen: list[dict] = []
    used_interviews: set[str] = set()
    for candidates in (ranked[ranked["_tier"] < 2], ranked):  # unquotable lengths only when nothing else is left
        while len(chosen) < limit:
            heard: set[str] = set()
            for row in candidates.to_dict("records"):
                if len(chosen) >= limit:
                    break
                if str(row[TRANSCRIPT_ID]) in used_interviews or row["_group"] in heard:
                    continue
                chosen.append(row)
                used_interviews.add(str(row[TRANSCRIPT_ID]))
                heard.add(row["_group"])
            if not heard:
                break
    return [
        SelectedQuote(
            segment_id=str(r[SEGMENT_ID]),
            transcript_id=str(r[TRANSCRIPT_ID]),
            start_char=int(r[START_CHAR]),
            end_char=int(r[END_CHAR]),
            text=quote_text(str(r[TEXT]), keep=REDACTION_TAGS),
            themes=tuple(r[THEME]),
            group=str(r["_group"]),
            centrality=round(float(r["_centrality"]), 4),
        )
        for r in chosen
    ]


def _centrality(texts: list[str]) -> np.ndarray:
    """Cosine similarity of each text's TF-IDF vector to the centroid of all of them (0 without vocabulary)."""
    try:
        vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # only stop words or punctuation: no vocabulary
        return np.zeros(len(texts))
    centroid = np.asarray(vectors.mean(axis=0))
    return cosine_similarity(vectors, centroid).ravel()


def draft_statement(strength: Strength, quotes: list[SelectedQuote], *, max_words: int = 25) -> str:
    """A draft finding from the evidence: the counts, and the most central quote (shortened)."""
    counts = counts_text(strength.counts)
    text = f"{counts[:1].upper()}{counts[1:]}."
    if quotes:
        words = quotes[0].text.split()
        quote = " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")
        text += f" Most typical: “{quote}”"
    return text

"""Replace personal names in quoted text with role tags ("[colleague]"), and log every replacement.

Names come from the transcripts' metadata (`names`, `interviewer`), from speaker labels that are personal
names, and from a names list the user provides. Multi-word names are matched case-insensitively (spaCy
PhraseMatcher on LOWER); single words only in their capitalised or upper-case form (ORTH), so that names
such as "Grace" or "Even" do not wipe out the common words "grace" or "even". A title before a name
("Dr. Mwale", "Bi Zuhura") is replaced with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.util import filter_spans

from pipeline.coding.table import END_CHAR, MATCHED, ROLE, SEGMENT_ID, SPEAKER, START_CHAR, TEXT, TRANSCRIPT_ID
from pipeline.core.errors import QualcodeError
from pipeline.core.files import read_utf8
from pipeline.ingest.records import Transcript

DEFAULT_TAG = "[colleague]"
ROLE_TAGS = {"interviewer": "[interviewer]", "respondent": "[respondent]"}
REDACTION_TAGS = frozenset({DEFAULT_TAG, *ROLE_TAGS.values()})
SOURCE_METADATA = "metadata names"
SOURCE_SPEAKER = "speaker label"
SOURCE_LIST = "names list"
TITLES = frozenset(
    {
        "Dr",
        "Dr.",
        "Mr",
        "Mr.",
        "Mrs",
        "Mrs.",
        "Ms",
        "Ms.",
        "Miss",
        "Prof",
        "Prof.",
        "Professor",
        "Sister",
        "Bi",
        "Bw",
        "Bw.",
        "Bwana",
        "Mama",
        "Madam",
        "Mx",
        "Mx.",
        "Sr",
        "Sr.",
    }
)
# Words of speaker labels that name a role, not a person ("Interviewer 2", "Speaker B", "Q", "P3").
ROLE_LABEL_WORDS = frozenset(
    {
        "interviewer",
        "interviewee",
        "respondent",
        "participant",
        "informant",
        "speaker",
        "unknown",
        "moderator",
        "facilitator",
        "researcher",
        "evaluator",
        "interpreter",
        "translator",
        "observer",
        "note",
        "taker",
        "notetaker",
        "note-taker",
        "question",
        "answer",
        "q",
        "a",
        "i",
        "r",
        "p",
        "int",
        "resp",
        "all",
        "group",
        "audience",
        "voice",
        "male",
        "female",
        "man",
        "woman",
        "several",
        "crosstalk",
        "inaudible",
        "both",
    }
)
REDACTION_COLUMNS = [TRANSCRIPT_ID, SEGMENT_ID, START_CHAR, END_CHAR, "original", "replacement", "source"]


@dataclass(frozen=True)
class KnownName:
    """A personal name to redact, where it came from, and (for a speaker) the speaker's role."""

    name: str
    source: str
    transcript_id: str = ""
    role: str = ""


@dataclass(frozen=True)
class Redaction:
    """One replacement: offsets of the name in the original transcript file. One row of redactions.csv."""

    transcript_id: str
    segment_id: str
    start_char: int
    end_char: int
    original: str
    replacement: str
    source: str


def is_personal_label(label: str) -> bool:
    """A speaker label that names a person ("Kari Nilsen", "Dr. Mwale"), not a role ("Interviewer 2", "Q")."""
    words = [w for w in re.split(r"[\s#]+", label.strip()) if w and w not in TITLES]
    letters = [re.sub(r"[\d.:()\[\]]", "", w) for w in words]
    letters = [w for w in letters if w]
    if not letters or all(w.casefold() in ROLE_LABEL_WORDS for w in letters):
        return False
    return any(len(w) >= 2 and w[0].isupper() for w in letters)


def names_from_metadata(metadata: pd.DataFrame) -> list[KnownName]:
    """Names in the metadata table's `names` column ("; "-separated or lists) and `interviewer` column."""
    found: list[KnownName] = []
    for _, row in metadata.iterrows():
        transcript_id = str(row.get(TRANSCRIPT_ID, ""))
        found.extend(KnownName(name, SOURCE_METADATA, transcript_id) for name in _split_names(row.get("names")))
        found.extend(
            KnownName(name, SOURCE_SPEAKER, transcript_id, "interviewer")
            for name in _split_names(row.get("interviewer"))
            if is_personal_label(name)
        )
    return found


def names_from_transcripts(transcripts: Sequence[Transcript]) -> list[KnownName]:
    """Metadata names of each transcript, and its speaker labels that are personal names (with their roles)."""
    found: list[KnownName] = []
    for transcript in transcripts:
        found.extend(
            KnownName(name, SOURCE_METADATA, transcript.id) for name in _split_names(transcript.metadata.get("names"))
        )
        roles = {turn.speaker: turn.role for turn in transcript.turns}
        interviewer = transcript.metadata.get("interviewer")
        for name in _split_names(interviewer):
            roles.setdefault(name, "interviewer")
        found.extend(
            KnownName(label, SOURCE_SPEAKER, transcript.id, role)
            for label, role in roles.items()
            if label and is_personal_label(label)
        )
    return found


def names_from_tags(tags: pd.DataFrame) -> list[KnownName]:
    """Speaker labels in the tags table that are personal names, with their roles."""
    if SPEAKER not in tags or tags.empty:
        return []
    pairs = tags[[TRANSCRIPT_ID, SPEAKER, ROLE]].drop_duplicates()
    return [
        KnownName(str(speaker), SOURCE_SPEAKER, str(tid), str(role))
        for tid, speaker, role in pairs.itertuples(index=False)
        if is_personal_label(str(speaker))
    ]


def read_names_list(path: str | Path) -> list[KnownName]:
    """A user's names list: one name per line; blank lines and lines starting with # are ignored."""
    path = Path(path)
    text = read_utf8(path, what="names list", error=QualcodeError)
    return [
        KnownName(line.strip(), f"{SOURCE_LIST} {path.name}")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class Redactor:
    """Finds known names in text with spaCy PhraseMatchers and replaces each with a role tag."""

    def __init__(self, names: Iterable[KnownName], *, nlp: Language | None = None) -> None:
        self.nlp = nlp or spacy.blank("en")
        self.names = [n for n in names if n.name.strip()]
        self._orth = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self._lower = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._owners: dict[str, list[KnownName]] = {}
        for known in self.names:
            for variant in self._variants(known.name):
                self._owners.setdefault(variant.lower() if " " in variant else variant, []).append(known)
        for key in self._owners:
            matcher = self._lower if " " in key else self._orth
            matcher.add(key, [self.nlp.make_doc(key)])

    def _variants(self, name: str) -> set[str]:
        """The full name without titles (any case), and each capitalised word of it alone (exact case)."""
        words = [t.text for t in self.nlp.make_doc(" ".join(name.split()))]
        while words and words[0] in TITLES:
            words = words[1:]
        words = [w for w in words if w not in (".", ",")]
        variants: set[str] = set()
        if len(words) > 1:
            variants.add(" ".join(words))
        for word in words:
            if len(word) >= 2 and word[0].isupper() and word not in TITLES and any(c.isalpha() for c in word):
                variants.update({word, word.upper()})
        if len(words) == 1 and not words[0][:1].isupper():
            variants.update({words[0].capitalize(), words[0].upper()})
        return variants

    def redact(
        self, text: str, *, transcript_id: str = "", segment_id: str = "", offset: int = 0
    ) -> tuple[str, list[Redaction]]:
        """The text with every known name replaced, and one Redaction per replacement (offsets + `offset`)."""
        doc = self.nlp.make_doc(text)
        matches = [*self._orth(doc, as_spans=True), *self._lower(doc, as_spans=True)]
        spans = []
        for span in filter_spans(matches):
            start = span.start
            while start > 0 and doc[start - 1].text in TITLES:
                start -= 1
            spans.append((doc[start : span.end], span.label_))
        spans.sort(key=lambda item: item[0].start_char)
        pieces, log, cursor = [], [], 0
        for span, key in spans:
            if span.start_char < cursor:
                continue
            replacement, source = self._replacement(self._owners.get(key, []), transcript_id)
            pieces.extend([text[cursor : span.start_char], replacement])
            log.append(
                Redaction(
                    transcript_id=transcript_id,
                    segment_id=segment_id,
                    start_char=offset + span.start_char,
                    end_char=offset + span.end_char,
                    original=span.text,
                    replacement=replacement,
                    source=source,
                )
            )
            cursor = span.end_char
        pieces.append(text[cursor:])
        return "".join(pieces), log

    @staticmethod
    def _replacement(owners: list[KnownName], transcript_id: str) -> tuple[str, str]:
        """A speaker of this transcript gets a role tag; any other known name is a colleague."""

        def rank(known: KnownName) -> tuple[int, int]:
            own = known.transcript_id == transcript_id
            return (
                0 if own and known.source == SOURCE_SPEAKER else 1 if own else 2 if known.transcript_id else 3,
                0 if known.source == SOURCE_SPEAKER else 1,
            )

        if not owners:
            return DEFAULT_TAG, ""
        best = min(owners, key=rank)
        own_speaker = best.source == SOURCE_SPEAKER and best.transcript_id == transcript_id
        tag = ROLE_TAGS.get(best.role, DEFAULT_TAG) if own_speaker else DEFAULT_TAG
        return tag, best.source


def redact_tags(tags: pd.DataFrame, redactor: Redactor) -> tuple[pd.DataFrame, list[Redaction]]:
    """The tags table with every segment's text redacted (each segment once) and personal speaker labels
    replaced by role tags; plus the log of replacements, in segment order."""
    redacted: dict[str, str] = {}
    log: list[Redaction] = []
    segments = tags.drop_duplicates(SEGMENT_ID).sort_values([TRANSCRIPT_ID, START_CHAR])
    for row in segments.itertuples(index=False):
        record = row._asdict()
        text, found = redactor.redact(
            str(record[TEXT]),
            transcript_id=str(record[TRANSCRIPT_ID]),
            segment_id=str(record[SEGMENT_ID]),
            offset=int(record[START_CHAR]),
        )
        redacted[str(record[SEGMENT_ID])] = text
        log.extend(found)
    safe = tags.copy()
    safe[TEXT] = safe[SEGMENT_ID].astype(str).map(redacted)
    if SPEAKER in safe:
        safe[SPEAKER] = [
            ROLE_TAGS.get(str(role), DEFAULT_TAG) if is_personal_label(str(speaker)) else speaker
            for speaker, role in zip(safe[SPEAKER], safe[ROLE])
        ]
    if MATCHED in safe:
        safe[MATCHED] = [redactor.redact(str(m))[0] if m else m for m in safe[MATCHED]]
    return safe, log


def redactions_frame(log: Sequence[Redaction]) -> pd.DataFrame:
    """The redaction log as a table (redactions.csv): it contains the names, so it must not be shared."""
    return pd.DataFrame([vars(r) for r in log], columns=REDACTION_COLUMNS)


def _split_names(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    return [str(item).strip() for item in items if str(item).strip()]

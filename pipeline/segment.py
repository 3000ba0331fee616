"""Split transcripts into segments with spaCy: sentences (or whole turns) of one speaker, with exact offsets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from . import factories  # noqa: F401  (registers qualcode's components)
from .errors import QualcodeError
from .ingest import Transcript
from .records import Segment

Unit = Literal["sentence", "turn"]


def make_nlp(*, spacy_model: str | None = None) -> Language:
    """spaCy pipeline for segmenting: blank English + sentencizer + lookup lemmatizer, or an installed model."""
    if spacy_model:
        try:
            nlp = spacy.load(spacy_model, exclude=["ner"])
        except OSError as exc:
            raise QualcodeError(f"spaCy model {spacy_model!r} is not installed (use the default blank pipeline)") from exc
        nlp.add_pipe("qualcode_paragraphs", first=True)
        if not ({"parser", "senter", "sentencizer"} & set(nlp.pipe_names)):
            nlp.add_pipe("sentencizer", after="qualcode_paragraphs")
        return nlp
    nlp = spacy.blank("en")
    nlp.add_pipe("qualcode_paragraphs")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


@dataclass(frozen=True)
class SegmentedTurn:
    """One speaker turn parsed by spaCy, and its segments with the spans of the doc they cover."""

    turn_index: int
    offset: int
    doc: Doc
    segments: list[tuple[Segment, Span]]


def parse_turns(transcript: Transcript, nlp: Language) -> list[Doc]:
    """Run the pipeline over each turn's text; doc character 0 is the turn's start_char in the file."""
    texts = (transcript.text[turn.start_char : turn.end_char] for turn in transcript.turns)
    return list(nlp.pipe(texts))


def segment_turns(transcript: Transcript, docs: list[Doc], *, unit: Unit = "sentence") -> list[SegmentedTurn]:
    """Segments of every turn; slicing the transcript's text at a segment's offsets gives its text back."""
    result = []
    for index, (turn, doc) in enumerate(zip(transcript.turns, docs, strict=True)):
        pieces = [doc[:]] if unit == "turn" else list(doc.sents)
        segments = []
        for span in pieces:
            text = span.text
            stripped = text.strip()
            if not stripped:
                continue
            start = turn.start_char + span.start_char + (len(text) - len(text.lstrip()))
            end = start + len(stripped)
            segment = Segment(
                segment_id=f"{transcript.id}:{start}-{end}",
                transcript_id=transcript.id,
                source=transcript.source,
                speaker=turn.speaker,
                role=turn.role,
                turn_index=index,
                start_char=start,
                end_char=end,
                text=stripped,
            )
            segments.append((segment, span))
        result.append(SegmentedTurn(turn_index=index, offset=turn.start_char, doc=doc, segments=segments))
    return result

"""Split transcripts into segments with spaCy: sentences (or whole turns) of one speaker, with exact offsets."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from spacy.attrs import IDX
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.coding.records import Segment
from pipeline.core.choices import Unit
from pipeline.ingest.records import Transcript
from pipeline.nlp.components import mark_sentence_starts


@dataclass(frozen=True)
class SegmentSpan:
    """A segment and where it lies in the transcript's doc: token range and the doc character of its start."""

    segment: Segment
    token_start: int
    token_end: int
    doc_char: int

    def file_offset(self, doc_char: int) -> int:
        """The original file's character offset of a character of the doc inside this segment."""
        return self.segment.start_char + (doc_char - self.doc_char)


@dataclass(frozen=True)
class ParsedTranscript:
    """One doc for all speech of a transcript (turns only, no labels or timestamps) and its segments."""

    doc: Doc
    segments: list[SegmentSpan]


TURN_SEPARATOR = "\n\n"


def parse_transcript(transcript: Transcript, nlp: Language, *, unit: Unit = Unit.SENTENCE) -> ParsedTranscript:
    """Run the pipeline once over a transcript's speech: its turns joined by blank lines, each turn starting
    a sentence, so turns never share a segment or a ConText scope and labels/timestamps are never tokens.

    One doc per transcript rather than per turn saves the pipeline's per-doc overhead.
    """
    turns = transcript.turns
    texts = [transcript.text[t.start_char : t.end_char] for t in turns]
    bases, cursor = [], 0
    for text in texts:
        bases.append(cursor)
        cursor += len(text) + len(TURN_SEPARATOR)
    doc = nlp.make_doc(TURN_SEPARATOR.join(texts))
    token_starts = doc.to_array([IDX]).tolist()
    firsts = [bisect_left(token_starts, base) for base in bases]  # each turn's first token
    doc = nlp(mark_sentence_starts(doc, firsts))
    if unit == "turn":
        bounds = [*firsts, len(doc)]
        pieces = [(index, doc[bounds[index] : bounds[index + 1]]) for index in range(len(turns))]
    else:  # a sentence lies in one turn, because every turn starts a sentence
        pieces = [(bisect_right(bases, sentence.start_char) - 1, sentence) for sentence in doc.sents]
    segments: list[SegmentSpan] = []
    for index, text_span in pieces:
        text = text_span.text
        stripped = text.strip()
        if not stripped:
            continue
        turn = turns[index]
        doc_char = text_span.start_char + (len(text) - len(text.lstrip()))
        start = turn.start_char + (doc_char - bases[index])
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
        segments.append(SegmentSpan(segment, text_span.start, text_span.end, doc_char))
    return ParsedTranscript(doc=doc, segments=segments)

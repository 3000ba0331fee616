"""Split transcripts into segments with spaCy: sentences (or whole turns) of one speaker, with exact offsets."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
from spacy.attrs import IDX
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.coding.records import Segment
from pipeline.core.choices import Unit
from pipeline.ingest.records import Transcript
from pipeline.nlp.columns import forget_columns, read_column, share_written_columns
from pipeline.nlp.components import mark_sentence_starts, sentence_starts
from pipeline.nlp.language import shares_written_columns
from pipeline.nlp.tokenizer_cache import make_doc


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
DEFAULT_MAX_LENGTH = 1_000_000  # spaCy's default `nlp.max_length`: longer texts raise E088
CUTS = (("paragraph", "\n\n"), ("line", "\n"), ("space", " "))  # where a turn over the limit is cut, best first


@dataclass(frozen=True)
class Block:
    """A stretch of one turn's text, by offsets into the file: a whole turn, or a piece of a turn over the limit."""

    turn_index: int
    start_char: int
    end_char: int


def parse_transcript(transcript: Transcript, nlp: Language, *, unit: Unit = Unit.SENTENCE) -> ParsedTranscript:
    """Run the pipeline once over a transcript's speech: its turns joined by blank lines, each turn starting
    a sentence, so turns never share a segment or a ConText scope and labels/timestamps are never tokens.

    One doc per transcript rather than per turn saves the pipeline's per-doc overhead. The speech must fit
    `nlp.max_length`; `parse_parts` cuts longer transcripts into pieces.
    """
    blocks = [Block(index, turn.start_char, turn.end_char) for index, turn in enumerate(transcript.turns)]
    prepared = _prepare(transcript, blocks, nlp)
    return _segments(prepared, nlp(prepared.doc), unit=unit)


def parse_parts(
    transcript: Transcript, nlp: Language, *, unit: Unit = Unit.SENTENCE, max_length: int | None = None
) -> tuple[list[ParsedTranscript], list[str]]:
    """The transcript parsed in as few docs as fit `max_length` (default `nlp.max_length`), and warnings.

    Docs are cut between turns; a turn longer than the limit is cut at its last blank line before the
    limit (else line break, else space, else anywhere, with a warning: that cut may split a sentence).
    Offsets stay exact. A transcript that fits gives exactly `parse_transcript`'s one doc.
    """
    groups, warnings = _groups(transcript, limit=max_length or nlp.max_length)
    prepared = [_prepare(transcript, group, nlp) for group in groups]
    return [_segments(p, doc, unit=unit) for p, doc in zip(prepared, nlp.pipe(p.doc for p in prepared))], warnings


def parse_batch(
    transcripts: Sequence[Transcript], nlp: Language, *, unit: Unit = Unit.SENTENCE, max_length: int | None = None
) -> list[tuple[list[ParsedTranscript], list[str]]]:
    """`parse_parts` of each transcript, with all their docs through one `nlp.pipe` call, so the components that
    work on batches (the span rulers' array programs, ConText) pay their fixed costs once per batch."""
    plans = [_groups(transcript, limit=max_length or nlp.max_length) for transcript in transcripts]
    prepared = [_prepare(t, group, nlp) for t, (groups, _) in zip(transcripts, plans) for group in groups]
    docs = iter(nlp.pipe((p.doc for p in prepared), batch_size=max(len(prepared), 1)))
    parts = iter([_segments(p, doc, unit=unit) for p, doc in zip(prepared, docs)])
    return [([next(parts) for _ in groups], warnings) for groups, warnings in plans]


def _groups(transcript: Transcript, *, limit: int) -> tuple[list[list[Block]], list[str]]:
    """The transcript's turns as blocks, grouped into as few docs as fit `limit` characters, and warnings."""
    blocks: list[Block] = []
    cuts: dict[str, int] = {}
    for index, turn in enumerate(transcript.turns):
        for start, end, kind in _cut(transcript.text, turn.start_char, turn.end_char, limit=limit):
            blocks.append(Block(index, start, end))
            if kind:
                cuts[kind] = cuts.get(kind, 0) + 1
    groups: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        length = block.end_char - block.start_char
        if groups[-1] and size + len(TURN_SEPARATOR) + length > limit:
            groups.append([])
            size = 0
        size += (len(TURN_SEPARATOR) if groups[-1] else 0) + length
        groups[-1].append(block)
    warnings = []
    if len(groups) > 1:
        speech = sum(b.end_char - b.start_char for b in blocks) + len(TURN_SEPARATOR) * (len(blocks) - 1)
        where = "turn" + "".join(f", {kind}" for kind, _ in CUTS if cuts.get(kind)) + " boundaries"
        warnings.append(
            f"speech of {speech:,} characters is over spaCy's limit of {limit:,}: coded in {len(groups)} pieces "
            f"cut at {where}"
        )
        split = {kind: n for kind, n in cuts.items() if kind != "paragraph"}
        if split:
            warnings.append(
                "a turn with no paragraph break within the limit was cut at "
                + ", ".join(f"{n} {kind}(s)" for kind, n in sorted(split.items()))
                + ": a sentence there may be split in two segments"
            )
    return groups, warnings


def speech_length(transcript: Transcript) -> int:
    """Characters of the text spaCy gets for a transcript in one doc: its turns joined by blank lines."""
    turns = transcript.turns
    return sum(t.end_char - t.start_char for t in turns) + len(TURN_SEPARATOR) * max(len(turns) - 1, 0)


def _cut(text: str, start: int, end: int, *, limit: int) -> list[tuple[int, int, str]]:
    """[start, end) in pieces of at most `limit` characters, each with the kind of cut that ends it ('' last)."""
    pieces = []
    while end - start > limit:
        window = text[start : start + limit]
        found = ((kind, separator, window.rfind(separator)) for kind, separator in CUTS)
        kind, separator, at = next((cut for cut in found if cut[2] > 0), ("character", "", limit))
        pieces.append((start, start + at, kind))
        start += at + len(separator)
    pieces.append((start, end, ""))
    return pieces


@dataclass(frozen=True)
class _Prepared:
    """A doc of blocks joined by blank lines, tokenised and with each block starting a sentence, before the
    pipeline's components run; and what it takes to map its tokens back to the file."""

    transcript: Transcript
    blocks: list[Block]
    bases: list[int]  # each block's first character in the doc
    speech: str
    firsts: list[int]  # each block's first token
    doc: Doc


def _prepare(transcript: Transcript, blocks: list[Block], nlp: Language) -> _Prepared:
    texts = [transcript.text[b.start_char : b.end_char] for b in blocks]
    bases, cursor = [], 0
    for text in texts:
        bases.append(cursor)
        cursor += len(text) + len(TURN_SEPARATOR)
    speech = TURN_SEPARATOR.join(texts)
    doc = make_doc(nlp, speech)
    if shares_written_columns(nlp):  # the segments then take the sentence starts as the splitter wrote them
        share_written_columns(doc)
    token_starts = read_column(doc, IDX).tolist()
    firsts = [bisect_left(token_starts, base) for base in bases]  # each block's first token
    return _Prepared(transcript, blocks, bases, speech, firsts, mark_sentence_starts(doc, firsts))


def _segments(prepared: _Prepared, doc: Doc, *, unit: Unit) -> ParsedTranscript:
    """The segments of a prepared doc the pipeline has run on, with offsets into the file."""
    transcript, blocks, bases, speech = prepared.transcript, prepared.blocks, prepared.bases, prepared.speech
    turns = transcript.turns
    # Token ranges and texts come from the doc's token starts and the joined string: no Span per sentence. A piece's
    # text runs to the next piece's first token (or the end): what lies after its last token is at most the one
    # space spaCy keeps as that token's whitespace, which stripping drops, so only IDX is read, not LENGTH too.
    if unit == "turn":
        bounds = [*prepared.firsts, len(doc)]
    else:  # a sentence lies in one block, because every block starts a sentence
        bounds = [*sentence_starts(doc), len(doc)]
    chars = numpy.append(read_column(doc, IDX).astype("int64"), len(speech))[bounds].tolist()
    forget_columns(doc)  # the last reader of its columns
    if unit == "turn":
        indices: Sequence[int] = range(len(blocks))
    else:
        indices = [bisect_right(bases, char) - 1 for char in chars[:-1]]
    segments: list[SegmentSpan] = []
    for number, index in enumerate(indices):
        token_start, token_end = bounds[number], bounds[number + 1]
        if token_start >= token_end:
            continue
        span_char = chars[number]
        text = speech[span_char : chars[number + 1]]
        stripped = text.strip()
        if not stripped:
            continue
        block = blocks[index]
        turn = turns[block.turn_index]
        doc_char = span_char + (len(text) - len(text.lstrip()))
        start = block.start_char + (doc_char - bases[index])
        end = start + len(stripped)
        segment = Segment(  # positional arguments: one segment per sentence, and keywords cost a third more
            f"{transcript.id}:{start}-{end}",
            transcript.id,
            transcript.source,
            turn.speaker,
            turn.role,
            block.turn_index,
            start,
            end,
            stripped,
        )
        segments.append(SegmentSpan(segment, token_start, token_end, doc_char))
    return ParsedTranscript(doc=doc, segments=segments)

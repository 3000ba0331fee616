"""Code transcripts: segment with spaCy and tag with the codebook's rules, one transcript at a time.

Coding one transcript is a pure function of (transcript, codebook, models), so a corpus can be mapped
over processes without changing results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from spacy.language import Language

from pipeline.codebook.model import Codebook
from pipeline.codebook.patterns import pattern_attributes
from pipeline.coding.records import Segment, Tag
from pipeline.coding.rules import add_rules, rule_tags
from pipeline.coding.segment import ParsedTranscript, parse_batch, parse_parts, speech_length
from pipeline.core.choices import Unit
from pipeline.core.heap import settle_heap
from pipeline.ingest.records import Transcript
from pipeline.nlp.language import make_nlp

BATCH_CHARACTERS = 500_000  # speech per `nlp.pipe` call: big enough to spread fixed costs, small for memory

# A later step that revises a transcript's rule tags (the classifier's ModelTagger); must pickle for workers.
Tagger = Callable[[Sequence[Segment], list[Tag]], list[Tag]]


@dataclass(frozen=True)
class CodingOptions:
    """How transcripts are segmented and which turns are coded."""

    unit: Unit = Unit.SENTENCE
    code_interviewer: bool = False
    spacy_model: str | None = None
    max_length: int | None = None  # characters per spaCy doc; None: the pipeline's nlp.max_length


@dataclass
class CodedTranscript:
    """A transcript with its segments and the theme tags found on them."""

    transcript: Transcript
    segments: list[Segment]
    tags: list[Tag] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # from coding (a transcript cut into pieces)


def build_nlp(codebook: Codebook, *, spacy_model: str | None = None) -> Language:
    """The full rule pipeline: tokeniser, sentences, lemmas, span rulers and ConText; new words get only the
    lexical attributes the pipeline and the codebook's patterns read."""
    return add_rules(make_nlp(spacy_model=spacy_model, lexical_attributes=pattern_attributes(codebook)), codebook)


def code_transcript(
    transcript: Transcript,
    *,
    nlp: Language,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    tagger: Tagger | None = None,
) -> CodedTranscript:
    """Segment one transcript and tag it with the rules, then with `tagger` (e.g. the classifier) when given.

    A transcript longer than spaCy's max_length is coded in pieces cut between turns (or paragraphs).
    """
    parts, warnings = parse_parts(transcript, nlp, unit=options.unit, max_length=options.max_length)
    return _coded(transcript, parts, warnings, codebook=codebook, options=options, tagger=tagger)


def code_batch(
    transcripts: Sequence[Transcript],
    *,
    nlp: Language,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    tagger: Tagger | None = None,
) -> list[CodedTranscript]:
    """`code_transcript` of each transcript, with one `nlp.pipe` call for all of them (same results, faster:
    the rulers' array programs and ConText run once per batch)."""
    parsed = parse_batch(transcripts, nlp, unit=options.unit, max_length=options.max_length)
    return [
        _coded(transcript, parts, warnings, codebook=codebook, options=options, tagger=tagger)
        for transcript, (parts, warnings) in zip(transcripts, parsed)
    ]


def batches(transcripts: Sequence[Transcript], *, characters: int = BATCH_CHARACTERS) -> Iterator[list[Transcript]]:
    """The transcripts in order, in batches of about `characters` characters of speech (at least one each)."""
    batch: list[Transcript] = []
    size = 0
    for transcript in transcripts:
        batch.append(transcript)
        size += speech_length(transcript)
        if size >= characters:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _coded(
    transcript: Transcript,
    parts: list[ParsedTranscript],
    warnings: list[str],
    *,
    codebook: Codebook,
    options: CodingOptions,
    tagger: Tagger | None,
) -> CodedTranscript:
    segments = [piece.segment for parsed in parts for piece in parsed.segments]
    tags = [tag for parsed in parts for tag in rule_tags(parsed, codebook, code_interviewer=options.code_interviewer)]
    if tagger is not None:
        tags = tagger(segments, tags)
    return CodedTranscript(transcript=transcript, segments=segments, tags=tags, warnings=warnings)


# Per-process state of pool workers only: each worker builds its pipeline once, in its initializer.
_worker: dict[str, object] = {}


def _init_worker(codebook: Codebook, options: CodingOptions, tagger: Tagger | None = None) -> None:
    _worker.update(
        codebook=codebook, options=options, nlp=build_nlp(codebook, spacy_model=options.spacy_model), tagger=tagger
    )
    settle_heap()  # the worker's process is ours: set up its collector as the CLI does


def _code_in_worker(batch: list[Transcript]) -> list[CodedTranscript]:
    return code_batch(
        batch,
        nlp=_worker["nlp"],
        codebook=_worker["codebook"],  # type: ignore[arg-type]
        options=_worker["options"],
        tagger=_worker["tagger"],
    )  # type: ignore[arg-type]


def code_corpus(
    transcripts: Sequence[Transcript],
    *,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    jobs: int = 1,
    nlp: Language | None = None,
    tagger: Tagger | None = None,
) -> Iterator[CodedTranscript]:
    """Code every transcript, in order; with jobs > 1 across a process pool (same results).

    With a tagger (the classifier's ModelTagger), it revises each transcript's rule tags.
    """
    if jobs <= 1 or len(transcripts) <= 1:
        nlp = nlp or build_nlp(codebook, spacy_model=options.spacy_model)
        for batch in batches(transcripts):
            yield from code_batch(batch, nlp=nlp, codebook=codebook, options=options, tagger=tagger)
        return
    # Batches small enough that every worker gets several.
    size = max(1, min(BATCH_CHARACTERS, sum(map(speech_length, transcripts)) // (4 * jobs)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(codebook, options, tagger)) as pool:
        for coded in pool.map(_code_in_worker, batches(transcripts, characters=size)):
            yield from coded

"""Code transcripts: segment with spaCy and tag with the codebook's rules, one transcript at a time.

Coding one transcript is a pure function of (transcript, codebook, models), so a corpus can be mapped
over processes without changing results.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from spacy.language import Language

from .codebook import Codebook
from .ingest import Transcript
from .records import Segment, Tag
from .rules import add_rules, rule_tags
from .segment import Unit, make_nlp, parse_turns, segment_turns


@dataclass(frozen=True)
class CodingOptions:
    """How transcripts are segmented and which turns are coded."""

    unit: Unit = "sentence"
    code_interviewer: bool = False
    spacy_model: str | None = None


@dataclass
class CodedTranscript:
    """A transcript with its segments and the theme tags found on them."""

    transcript: Transcript
    segments: list[Segment]
    tags: list[Tag] = field(default_factory=list)


def build_nlp(codebook: Codebook, *, spacy_model: str | None = None) -> Language:
    """The full rule pipeline: tokeniser, sentences, lemmas, span rulers and ConText."""
    return add_rules(make_nlp(spacy_model=spacy_model), codebook)


def code_transcript(
    transcript: Transcript, *, nlp: Language, codebook: Codebook, options: CodingOptions = CodingOptions()
) -> CodedTranscript:
    """Segment one transcript and tag it with the rules."""
    turns = segment_turns(transcript, parse_turns(transcript, nlp), unit=options.unit)
    segments = [segment for turn in turns for segment, _ in turn.segments]
    tags = rule_tags(turns, codebook, code_interviewer=options.code_interviewer)
    return CodedTranscript(transcript=transcript, segments=segments, tags=tags)


# Per-process state of pool workers only: each worker builds its pipeline once, in its initializer.
_worker: dict[str, object] = {}


def _init_worker(codebook: Codebook, options: CodingOptions) -> None:
    _worker.update(codebook=codebook, options=options, nlp=build_nlp(codebook, spacy_model=options.spacy_model))


def _code_in_worker(transcript: Transcript) -> CodedTranscript:
    return code_transcript(transcript, nlp=_worker["nlp"], codebook=_worker["codebook"],  # type: ignore[arg-type]
                           options=_worker["options"])  # type: ignore[arg-type]


def code_corpus(
    transcripts: Sequence[Transcript],
    *,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    jobs: int = 1,
    nlp: Language | None = None,
) -> Iterator[CodedTranscript]:
    """Code every transcript, in order; with jobs > 1 across a process pool (same results)."""
    if jobs <= 1 or len(transcripts) <= 1:
        nlp = nlp or build_nlp(codebook, spacy_model=options.spacy_model)
        for transcript in transcripts:
            yield code_transcript(transcript, nlp=nlp, codebook=codebook, options=options)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(codebook, options)) as pool:
        yield from pool.map(_code_in_worker, transcripts)


"""Code transcripts: segment with spaCy and tag with the codebook's rules, one transcript at a time.

Coding one transcript is a pure function of (transcript, codebook, models), so a corpus can be mapped
over processes without changing results.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence

from spacy.language import Language

from .codebook import Codebook
from .ingest import Transcript
from .records import Segment, Tag
from .rules import add_rules, rule_tags
from .segment import Unit, make_nlp, parse_transcript

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    from .classify import ThemeModel


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
    transcript: Transcript,
    *,
    nlp: Language,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    model: ThemeModel | None = None,
    combine: str = "union",
) -> CodedTranscript:
    """Segment one transcript and tag it with the rules, and with the classifier when a model is given."""
    parsed = parse_transcript(transcript, nlp, unit=options.unit)
    segments = [piece.segment for piece in parsed.segments]
    tags = rule_tags(parsed, codebook, code_interviewer=options.code_interviewer)
    if model is not None:
        from .classify import tag_segments

        tags = tag_segments(segments, tags, model=model, codebook=codebook, mode=combine)
    return CodedTranscript(transcript=transcript, segments=segments, tags=tags)


# Per-process state of pool workers only: each worker builds its pipeline once, in its initializer.
_worker: dict[str, object] = {}


def _init_worker(codebook: Codebook, options: CodingOptions, model: ThemeModel | None = None,
                 combine: str = "union") -> None:
    _worker.update(codebook=codebook, options=options, nlp=build_nlp(codebook, spacy_model=options.spacy_model),
                   model=model, combine=combine)


def _code_in_worker(transcript: Transcript) -> CodedTranscript:
    return code_transcript(transcript, nlp=_worker["nlp"], codebook=_worker["codebook"],  # type: ignore[arg-type]
                           options=_worker["options"], model=_worker["model"],  # type: ignore[arg-type]
                           combine=_worker["combine"])  # type: ignore[arg-type]


def code_corpus(
    transcripts: Sequence[Transcript],
    *,
    codebook: Codebook,
    options: CodingOptions = CodingOptions(),
    jobs: int = 1,
    nlp: Language | None = None,
    model: ThemeModel | None = None,
    combine: str = "union",
) -> Iterator[CodedTranscript]:
    """Code every transcript, in order; with jobs > 1 across a process pool (same results).

    With a model, the classifier tags too, combined with the rules by `combine` (rules, classifier, union).
    """
    if jobs <= 1 or len(transcripts) <= 1:
        nlp = nlp or build_nlp(codebook, spacy_model=options.spacy_model)
        for transcript in transcripts:
            yield code_transcript(transcript, nlp=nlp, codebook=codebook, options=options, model=model,
                                  combine=combine)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(codebook, options, model, combine)) as pool:
        yield from pool.map(_code_in_worker, transcripts)


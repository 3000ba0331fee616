"""Throughput of the whole rule pipeline against bare spaCy tokenisation of the same corpus, in one run.

Prints tokens per second for both and, last, `ratio: X.XX` (pipeline / tokeniser; higher is better).
Usage: python bench/throughput.py [--transcripts DIR] [--codebook FILE] [--repeat N] [--rounds N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import spacy

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import build_nlp, code_corpus
from pipeline.coding.table import tags_frame
from pipeline.ingest.read import discover

ROOT = Path(__file__).resolve().parent.parent


def best_of(rounds: int, work) -> float:
    """Fastest of several rounds: the least disturbed measurement on a shared machine."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", type=Path, default=ROOT / "transcripts")
    parser.add_argument("--codebook", type=Path, default=ROOT / "codebook.yaml")
    parser.add_argument("--repeat", type=int, default=5, help="copies of the corpus per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    codebook = load_codebook(args.codebook)
    transcripts, skipped = discover(args.transcripts)
    corpus = transcripts * args.repeat
    tokenizer = spacy.blank("en")
    nlp = build_nlp(codebook)
    turn_texts = [t.text[turn.start_char : turn.end_char] for t in corpus for turn in t.turns]
    tokens = sum(len(doc) for doc in tokenizer.pipe(turn_texts))

    def tokenise() -> None:
        for _doc in tokenizer.pipe(turn_texts):
            pass

    def pipeline() -> None:
        found, _ = discover(args.transcripts)
        coded = list(code_corpus(found * args.repeat, codebook=codebook, nlp=nlp))
        tags_frame(tag for c in coded for tag in c.tags)

    pipeline()  # warm caches (lookups tables, pattern matchers) before timing either side
    baseline = best_of(args.rounds, tokenise)
    full = best_of(args.rounds, pipeline)
    print(f"corpus: {len(transcripts)} transcripts x {args.repeat} = {tokens} tokens ({len(skipped)} skipped)")
    print(f"pipeline components: {', '.join(nlp.pipe_names)}")
    print(f"spacy.blank('en') tokeniser: {tokens / baseline:,.0f} tokens/s")
    print(f"qualcode rule pipeline (ingest + segment + rules + ConText + tags table): {tokens / full:,.0f} tokens/s")
    print(f"ratio: {baseline / full:.2f}")


if __name__ == "__main__":
    main()

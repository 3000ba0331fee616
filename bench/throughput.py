"""Throughput of the whole rule pipeline against bare spaCy tokenisation of the same new text, in one process.

The corpus is generated (bench/corpus.py): about a million tokens of distinct transcripts, so neither side
has seen its words before. Each round builds a fresh tokeniser and a fresh pipeline (cold caches) and times
both over the same strings; then both run the same corpus again (warm caches, as the old benchmark did by
repeating the bundled corpus). Best of --rounds each, in CPU time (the process's own: on a shared machine wall-clock
time also counts other jobs) and in wall-clock time. Prints tokens per second and, last, `ratio: X.XX` (pipeline /
tokeniser on new text, CPU time; higher is better).

Usage: python bench/throughput.py [--tokens N] [--rounds N] [--codebook FILE] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import spacy

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import build_nlp, code_corpus
from pipeline.coding.table import tags_frame
from pipeline.core.heap import settle_heap
from pipeline.ingest.read import discover

ROOT = Path(__file__).resolve().parent.parent


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """CPU and wall-clock seconds of one run."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", type=Path, default=ROOT / "codebook.yaml")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="words of generated text (about)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each side is reported")
    parser.add_argument("--corpus", type=Path, default=None, help="use these transcripts instead of generating")
    args = parser.parse_args()

    codebook = load_codebook(args.codebook)
    settle_heap()  # as `qualcode run` does once its imports are done
    with tempfile.TemporaryDirectory(prefix="qualcode-bench-") as scratch:
        folder = args.corpus
        if folder is None:
            # In a process of its own, so this one times the pipeline as `qualcode run` would, not after a Markov
            # chain's millions of allocations (they slowed the pipeline's side by up to a sixth).
            folder = Path(scratch)
            made = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "corpus.py"), str(folder), "--tokens", str(args.tokens)],
                check=True,
                capture_output=True,
                text=True,
            )
            facts = ast.literal_eval(made.stdout.strip().splitlines()[-1])
            print(
                f"generated corpus: {facts['files']} transcripts, {facts['sentences']} distinct sentences, "
                f"sha256 {facts['sha256']}"
            )
        transcripts, skipped = discover(folder)
        turn_texts = [t.text[turn.start_char : turn.end_char] for t in transcripts for turn in t.turns]

        def tokenise(tokenizer) -> Callable[[], None]:
            def work() -> None:
                for _doc in tokenizer.pipe(turn_texts):
                    pass

            return work

        def pipeline(nlp) -> Callable[[], None]:
            def work() -> None:
                found, _ = discover(folder)
                coded = list(code_corpus(found, codebook=codebook, nlp=nlp))
                tags_frame(tag for c in coded for tag in c.tags)

            return work

        cold_base, cold_full, warm_base, warm_full = [], [], [], []
        for _ in range(args.rounds):
            tokenizer, nlp = spacy.blank("en"), build_nlp(codebook)
            cold_base.append(timed(tokenise(tokenizer)))
            cold_full.append(timed(pipeline(nlp)))
            warm_base.append(timed(tokenise(tokenizer)))
            warm_full.append(timed(pipeline(nlp)))
        tokens = sum(len(doc) for doc in spacy.blank("en").pipe(turn_texts))

    print(f"corpus: {len(transcripts)} transcripts, {tokens:,} tokens ({len(skipped)} skipped)")
    print(f"pipeline components: {', '.join(nlp.pipe_names)}")
    print("ingest + segment + rules + ConText + tags table vs spacy.blank('en') tokeniser, same speech strings")
    for clock, which in (("wall-clock", 1), ("CPU", 0)):
        for name, base, full in (("warm caches", warm_base, warm_full), ("new text", cold_base, cold_full)):
            base_s, full_s = min(t[which] for t in base), min(t[which] for t in full)
            print(
                f"{name}, {clock}: tokeniser {tokens / base_s:,.0f} tokens/s, qualcode {tokens / full_s:,.0f} "
                f"tokens/s, ratio {base_s / full_s:.2f}"
            )
    print(f"ratio: {min(t[0] for t in cold_base) / min(t[0] for t in cold_full):.2f}")


if __name__ == "__main__":
    main()

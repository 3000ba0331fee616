"""What each stage of the rule pipeline costs over a corpus, so that speed work knows where the time goes.

The stages (ingest, tokenising, each spaCy component, segments, rule tags, the tags table) run one after another in
batches, as `qualcode run` runs them.

By default in CPU time, with the bare `spacy.blank("en")` tokeniser over the same speech strings as the unit (as in
bench/throughput.py; noisy on a shared machine). With `--instructions` it runs itself under valgrind's callgrind,
dumps the count after each stage and reports instructions (not moved by load; about 40x slower).

Usage: python bench/stages.py --corpus DIR [--codebook FILE] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import spacy

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import batches, build_nlp
from pipeline.coding.rules import rule_tags
from pipeline.coding.segment import _groups, _prepare, _segments  # the steps parse_batch runs, to time each
from pipeline.coding.table import tags_frame
from pipeline.core.choices import Unit
from pipeline.core.heap import settle_heap
from pipeline.ingest.read import discover

ROOT = Path(__file__).resolve().parent.parent


def run_stages(folder: Path, codebook_path: Path, close: Callable[[str], None]) -> None:
    """Run the pipeline over the folder stage by stage, calling `close(stage)` when each stage's work is done."""
    codebook = load_codebook(codebook_path)
    nlp = build_nlp(codebook)
    settle_heap()  # as `qualcode run` does once its imports are done
    close("")  # set-up done
    transcripts, _ = discover(folder)
    close("ingest")
    tags = []
    for batch in batches(transcripts):
        plans = [_groups(t, limit=nlp.max_length) for t in batch]
        prepared = [_prepare(t, group, nlp) for t, (groups, _) in zip(batch, plans) for group in groups]
        close("tokenise and prepare")
        docs = [p.doc for p in prepared]
        for name, component in nlp.pipeline:
            docs = list(component.pipe(docs, batch_size=len(docs)))
            close(name)
        parsed = [_segments(p, doc, unit=Unit.SENTENCE) for p, doc in zip(prepared, docs)]
        close("segments")
        tags.extend(tag for p in parsed for tag in rule_tags(p, codebook))
        close("rule tags")
    tags_frame(tags)
    close("tags table")


def by_cpu_time(folder: Path, codebook_path: Path) -> None:
    transcripts, _ = discover(folder)
    texts = [t.text[turn.start_char : turn.end_char] for t in transcripts for turn in t.turns]
    tokenizer = spacy.blank("en")
    started = time.process_time()
    for _doc in tokenizer.pipe(texts):
        pass
    base = time.process_time() - started
    spent: dict[str, float] = {}
    clock = [time.process_time()]

    def close(stage: str) -> None:
        now = time.process_time()
        if stage:
            spent[stage] = spent.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    run_stages(folder, codebook_path, close)
    print(f"bare tokeniser: {base:.2f} s CPU")
    for stage, seconds in spent.items():
        print(f"{stage:22s} {seconds:6.2f} s  {seconds / base:5.2f}x the tokeniser")
    total = sum(spent.values())
    print(f"{'all stages':22s} {total:6.2f} s  {total / base:5.2f}x the tokeniser (ratio {base / total:.2f})")


def by_instructions(folder: Path, codebook_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="qualcode-stages-") as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            *("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"),
            *(sys.executable, __file__, "--corpus", str(folder), "--codebook", str(codebook_path), "--child"),
        ]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode:
            raise SystemExit(f"callgrind run failed (exit {child.returncode}):\n{child.stderr[-2000:]}")
        order = re.search(r"^stages: (.*)$", child.stdout, re.M)
        dumps = sorted(Path(scratch).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        stages = order.group(1).split("|") if order else []
        if len(dumps) != len(stages):
            raise SystemExit(f"expected {len(stages)} callgrind dumps, found {len(dumps)}")
        counts: dict[str, int] = {}
        for stage, dump in zip(stages, dumps):
            found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
            counts[stage] = counts.get(stage, 0) + int(found.group(1) if found else 0)
    total = sum(counts.values())
    for stage, count in counts.items():
        print(f"{stage:22s} {count / 1e9:7.3f} G instructions  {count / total:6.1%}")
    print(f"{'all stages':22s} {total / 1e9:7.3f} G instructions")


def child(folder: Path, codebook_path: Path) -> None:
    """Under callgrind: switch counting on after set-up and dump the count after each stage."""
    pid, stages = str(os.getpid()), []

    def close(stage: str) -> None:
        if not stage:
            subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
            return
        subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
        stages.append(stage)

    run_stages(folder, codebook_path, close)
    print("stages: " + "|".join(stages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="transcripts, e.g. made by bench/corpus.py")
    parser.add_argument("--codebook", type=Path, default=ROOT / "codebook.yaml")
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.corpus, args.codebook)
    elif args.instructions:
        by_instructions(args.corpus, args.codebook)
    else:
        by_cpu_time(args.corpus, args.codebook)


if __name__ == "__main__":
    main()

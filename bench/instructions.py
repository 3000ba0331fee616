"""Instructions executed by each side of bench/throughput.py, counted by valgrind's callgrind: a figure that, unlike
time on a shared machine, does not move with other jobs, for comparing two versions of the code.

Each side (spaCy's tokeniser over the speech strings, or the whole rule pipeline over the folder) runs once in a
process of its own under callgrind; instrumentation is switched on only after the imports and set-up, so the count
is the side's own work. Prints each side's count and, last, `instruction ratio: X.XX` (tokeniser / pipeline;
higher is better). Needs valgrind (Debian: `apt-get install valgrind`); about 40x slower than running natively.

Usage: python bench/instructions.py --corpus DIR [--codebook FILE]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("tokeniser", "pipeline")


def count(side: str, corpus: Path, codebook: Path) -> int:
    """Instructions of one side, its set-up left uninstrumented."""
    with tempfile.TemporaryDirectory(prefix="qualcode-callgrind-") as scratch:
        ready, go = Path(scratch) / "ready", Path(scratch) / "go"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={scratch}/callgrind.out",
            sys.executable,
            __file__,
            "--child",
            side,
            "--corpus",
            str(corpus),
            "--codebook",
            str(codebook),
            "--ready",
            str(ready),
            "--go",
            str(go),
        ]
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as child:
            while not ready.exists():
                if child.poll() is not None:
                    raise SystemExit(f"{side}: the child ended before its set-up was done:\n{child.stderr.read()}")
                time.sleep(0.2)
            subprocess.run(["callgrind_control", "--instr=on", str(child.pid)], check=True, capture_output=True)
            go.touch()
            _, errors = child.communicate()
        found = re.search(r"Collected : (\d+)", errors)
        if child.returncode or not found:
            raise SystemExit(f"{side}: callgrind gave no count (exit {child.returncode}):\n{errors}")
        return int(found.group(1))


def child(side: str, corpus: Path, codebook_path: Path, ready: Path, go: Path) -> None:
    """Set up as bench/throughput.py does, say so, wait for instrumentation, then run one side once."""
    import spacy

    from pipeline.codebook.load import load_codebook
    from pipeline.coding.corpus import build_nlp, code_corpus
    from pipeline.coding.table import tags_frame
    from pipeline.ingest.read import discover

    codebook = load_codebook(codebook_path)
    try:
        from pipeline.core.heap import settle_heap
    except ImportError:  # a version from before core.heap (PYTHONPATH=an older checkout)
        try:
            from pipeline.cli.app import freeze_heap as settle_heap
        except ImportError:  # from before the heap was frozen
            settle_heap = None
    if settle_heap is not None:
        settle_heap()  # as `qualcode run` does once its imports are done
    transcripts, _ = discover(corpus)
    turn_texts = [t.text[turn.start_char : turn.end_char] for t in transcripts for turn in t.turns]
    del transcripts
    tokenizer, nlp = spacy.blank("en"), build_nlp(codebook)
    ready.touch()
    while not go.exists():
        time.sleep(0.05)
    if side == "tokeniser":
        for _doc in tokenizer.pipe(turn_texts):
            pass
    else:
        found, _ = discover(corpus)
        coded = list(code_corpus(found, codebook=codebook, nlp=nlp))
        tags_frame(tag for c in coded for tag in c.tags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="transcripts, e.g. made by bench/corpus.py")
    parser.add_argument("--codebook", type=Path, default=ROOT / "codebook.yaml")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.codebook, args.ready, args.go)
        return
    counts = {side: count(side, args.corpus, args.codebook) for side in SIDES}
    for side, n in counts.items():
        print(f"{side}: {n:,} instructions")
    print(f"instruction ratio: {counts['tokeniser'] / counts['pipeline']:.2f}")


if __name__ == "__main__":
    main()

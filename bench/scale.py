"""How `qualcode run` scales with corpus size and cores: wall time, transcripts/s and peak memory per engine.

Generates short distinct transcripts (call notes of about 130 words, `bench/corpus.py`'s generator) with a
metadata.csv of groups and institutions, then runs the real `qualcode run` command once per configuration, each
in its own process, and measures its wall time and memory:
- peak RSS of the process tree: the sum over the command and every process under it (dask's nanny and worker
  processes too), sampled every 0.1 s with psutil;
- largest single process: the kernel's ru_maxrss for the command's process tree (os.wait4), the biggest one.
Every configuration must write the same tags.csv and matrix.csv (their sha256 is compared).

Configurations are ENGINE:JOBS (local:1, local:2, dask:2); `whole` is the local engine with one partition as
large as the corpus (every table held in memory, as before partitions), for the memory comparison.

Usage: python bench/scale.py [--sizes 1000 10000] [--configs whole local:1 local:2 dask:2] [--rules-only]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from corpus import generate_corpus

ROOT = Path(__file__).resolve().parent.parent
QUALCODE = Path(sys.executable).with_name("qualcode")
WORDS_PER_NOTE = 60  # at least; a note ends after the exchange that passes it (about 130 words on average)
SIDES = ("north", "south")


def make_corpus(folder: Path, *, transcripts: int, seed: int = 13) -> dict:
    """`transcripts` call notes (one or two exchanges each) and a metadata.csv giving each a side and institution."""
    # the generator stops at a word count, and a note overshoots its length by up to one exchange: ask for plenty
    facts = generate_corpus(folder, tokens=transcripts * WORDS_PER_NOTE * 3, per_transcript=WORDS_PER_NOTE, seed=seed)
    files = sorted(p.name for p in folder.glob("*.txt"))[:transcripts]
    for extra in sorted(folder.glob("*.txt"))[transcripts:]:
        extra.unlink()
    chooser = random.Random(seed)
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "side", "institution"])
        for name in files:
            writer.writerow([name, chooser.choice(SIDES), f"institution {chooser.randint(1, 40)}"])
    words = sum(len((folder / name).read_text(encoding="utf-8").split()) for name in files)
    return {"transcripts": len(files), "words": words, "generator_sha256": facts["sha256"]}


def command(config: str, *, transcripts: Path, out: Path, size: int, rules_only: bool) -> list[str]:
    args = [str(QUALCODE), "run", "--transcripts", str(transcripts), "--out", str(out)]
    if rules_only:
        args += ["--combine", "rules"]
    if config == "whole":
        return [*args, "--partition-size", str(size)]
    engine, jobs = config.split(":")
    return [*args, "--engine", engine, "--jobs", jobs]


def measure(args: list[str]) -> dict:
    """Run one command; its wall time, the peak RSS summed over its process tree, and its largest process."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for member in tree:
                    try:
                        total += member.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    stderr = process.stderr.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(args)}\n{stderr}")
    return {"wall": wall, "tree_peak_mb": peak / 2**20, "largest_process_mb": usage.ru_maxrss / 1024}


def digest(out: Path) -> str:
    sha = hashlib.sha256()
    for name in ("tags.csv", "matrix.csv"):
        sha.update((out / name).read_bytes())
    return sha.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="corpus sizes in transcripts")
    parser.add_argument("--configs", nargs="+", default=["whole", "local:1", "local:2", "dask:2"])
    parser.add_argument("--rules-only", action="store_true", help="--combine rules (default: the bundled model)")
    parser.add_argument("--work", type=Path, default=None, help="folder for corpora and reports (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="qualcode-scale-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; work folder {work}")
    columns = ["transcripts", "words", "configuration", "wall s", "transcripts/s", "peak RSS, tree (MB)"]
    print("| " + " | ".join([*columns, "largest process (MB)"]) + " |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        corpus = work / f"corpus-{size}"
        if not (corpus / "metadata.csv").exists():
            facts = make_corpus(corpus, transcripts=size)
        else:
            facts = {"transcripts": size, "words": sum(len(p.read_text().split()) for p in corpus.glob("*.txt"))}
        digests = {}
        for config in args.configs:
            out = work / f"reports-{size}-{config.replace(':', '-')}"
            result = measure(command(config, transcripts=corpus, out=out, size=size, rules_only=args.rules_only))
            digests[config] = digest(out)
            print(
                f"| {facts['transcripts']:,} | {facts['words']:,} | {config} | {result['wall']:.1f} | "
                f"{facts['transcripts'] / result['wall']:.1f} | {result['tree_peak_mb']:.0f} | "
                f"{result['largest_process_mb']:.0f} |",
                flush=True,
            )
        same = len(set(digests.values())) == 1
        print(f"<!-- {size}: tags.csv + matrix.csv sha256 {'identical' if same else 'DIFFER'}: {digests} -->")
        if not same:
            raise SystemExit("configurations disagree")


if __name__ == "__main__":
    main()

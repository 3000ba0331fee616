"""Peak memory of `qualcode import-qdpx` as a multiple of the archive's decompressed size.

Writes a .qdpx holding --mib MiB of speaker-labelled speech in --sources text sources (plus four small sources
and --selections codings), then imports it in a fresh child process that reports its resident memory after the
imports (baseline) and its peak (VmHWM) after `import_qdpx`. Prints `ratio: X.XX` = (peak - baseline) /
decompressed bytes; lower is better. Linux only (reads /proc/self/status).

Usage: python bench/qdpx_memory.py [--mib N] [--sources N] [--selections N] [--emoji]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

WORDS = (
    "the exchange gave us new routines but the language was a barrier at first and the tasks were generic "
    "so we rotated between units and learned how the partner institution plans its budget cycle"
).split()

CHILD = """
import json, sys
from pathlib import Path

def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no " + field + " in /proc/self/status")

from pipeline.refi.reader import import_qdpx
baseline = rss("VmRSS")
result = import_qdpx(Path(sys.argv[1]), out=Path(sys.argv[2]))
print(json.dumps({"baseline": baseline, "peak": rss("VmHWM"), "sources": len(result.sources),
                  "codings": sum(result.coders.values())}))
"""


def speech(size: int, rng: random.Random, *, emoji: bool = False) -> str:
    """About `size` UTF-8 bytes of alternating Interviewer/Respondent turns (with an emoji in some turns: Python
    then stores the text at four bytes a character, the worst case)."""
    lines, total, turn = [], 0, 0
    while total < size:
        speaker = "Interviewer" if turn % 2 == 0 else "Respondent"
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 60))]
        if emoji and turn % 7 == 0:
            words.append("\N{THUMBS UP SIGN}")
        line = f"{speaker}: " + " ".join(words) + ".\n"
        lines.append(line)
        total += len(line.encode())
        turn += 1
    return "".join(lines)


def write_qdpx(
    path: Path, *, mib: float, selections: int, sources: int = 1, emoji: bool = False, seed: int = 13
) -> int:
    """A .qdpx with `mib` MiB of text in `sources` big sources, and four small ones; returns its decompressed size
    in bytes."""
    rng = random.Random(seed)
    texts = {f"big{i}.txt": speech(int(mib * 2**20 / sources), rng, emoji=emoji) for i in range(sources)}
    texts |= {f"small{i}.txt": speech(20_000, rng) for i in range(4)}
    code = "{11111111-1111-1111-1111-111111111111}"
    user = "{22222222-2222-2222-2222-222222222222}"
    elements = []
    for number, (name, text) in enumerate(texts.items()):
        spans = []
        for _ in range(selections // sources if name.startswith("big") else 5):
            start = rng.randrange(0, len(text) - 200)
            spans.append(
                f'<PlainTextSelection guid="{{{rng.getrandbits(128):032x}}}" startPosition="{start}" '
                f'endPosition="{start + 150}"><Coding guid="{{{rng.getrandbits(128):032x}}}" creatingUser="{user}">'
                f'<CodeRef targetGUID="{code}"/></Coding></PlainTextSelection>'
            )
        elements.append(
            f'<TextSource guid="{{{number:08d}-0000-0000-0000-000000000000}}" name={quoteattr(name)} '
            f'plainTextPath="internal://{name}">{"".join(spans)}</TextSource>'
        )
    qde = (
        '<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="bench" origin="bench">'
        f'<Users><User guid="{user}" name="coder"/></Users>'
        f'<CodeBook><Codes><Code guid="{code}" name="Language barrier" isCodable="true"/></Codes></CodeBook>'
        f"<Sources>{''.join(elements)}</Sources></Project>"
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", qde)
        for name, text in texts.items():
            archive.writestr(f"sources/{name}", text.encode())
    return len(qde) + sum(len(text.encode()) for text in texts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=64, help="MiB of text in the big sources")
    parser.add_argument("--sources", type=int, default=1, help="number of big sources the text is split into")
    parser.add_argument("--selections", type=int, default=2_000, help="codings in the big sources")
    parser.add_argument("--emoji", action="store_true", help="put emoji in the text (four bytes a character)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qualcode-bench-") as scratch:
        archive = Path(scratch) / "big.qdpx"
        decompressed = write_qdpx(
            archive, mib=args.mib, selections=args.selections, sources=args.sources, emoji=args.emoji
        )
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(archive), str(Path(scratch) / "imported")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed")
        facts = json.loads(done.stdout)
    extra = facts["peak"] - facts["baseline"]
    print(
        f"decompressed {decompressed / 2**20:.1f} MiB; {facts['sources']} sources, {facts['codings']} codings; "
        f"baseline {facts['baseline'] / 2**20:.0f} MiB, peak {facts['peak'] / 2**20:.0f} MiB"
    )
    print(f"ratio: {extra / decompressed:.2f}")


if __name__ == "__main__":
    main()

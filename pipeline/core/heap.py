"""How a process that codes transcripts sets up Python's garbage collector: once, by the process's owner."""

from __future__ import annotations

import gc

# Container objects allocated (less those freed) before the youngest generation is collected, and collections of
# each generation before the next older one is. At Python's (700, 10, 10) the collector walks a run's growing
# results again and again: 0.18-0.34 s of CPU on a million words, 0.06-0.09 s at these (docs/speed.md).
THRESHOLDS = (50_000, 20, 10)


def settle_heap() -> None:
    """Leave every object alive now (modules, classes, tables, the pipeline) out of the collector's full collections,
    and collect less often (THRESHOLDS). Process-wide, so only a command or a pool worker calls it, after its set-up."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)

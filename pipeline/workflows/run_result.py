"""What a run produced, returned by both run paths (held whole, or in partitions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.coding.corpus import CodedTranscript
from pipeline.outputs.matrix import FindingsMatrix


@dataclass
class RunResult:
    """What a run produced: the tables, the matrix and the run record written to run.json."""

    coded: list[CodedTranscript]  # empty for a partitioned run, which never holds the corpus whole
    tags: pd.DataFrame | None  # None for a partitioned run: read tags.csv
    segments: pd.DataFrame | None
    metadata: pd.DataFrame
    matrix: FindingsMatrix
    record: dict[str, Any]
    written: list[Path]

"""Agreement among coder files (people, or qualcode's tags.csv as a machine coder) on a project's segments.

Segments come from coding the transcripts with the rule pipeline (respondent turns, as `qualcode run` scores).
A person's coder file speaks for the transcripts it names: on the others that coder's calls are missing, not
"no theme" (a second coder often codes a sample). A tags.csv speaks for every transcript. With
`all_transcripts=True` every coder is taken to have read every transcript.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import CodingOptions, build_nlp, code_corpus
from pipeline.coding.table import ROLE, SEGMENT_ID, TRANSCRIPT_ID, segments_frame
from pipeline.core.errors import QualcodeError
from pipeline.ingest.read import read_folder
from pipeline.measure.agreement import Agreement, BootstrapOptions, agree
from pipeline.measure.coder_files import (
    CODER,
    TAGS_MARKERS,
    check_spans_fit,
    load_coder_file,
    segment_labels,
    unknown_themes,
)


@dataclass(frozen=True)
class CoderFile:
    """One coder: its name, file, codes, and whether it is a machine coder (a qualcode tags table)."""

    name: str
    path: Path
    codes: pd.DataFrame
    machine: bool


@dataclass
class CoderAgreement:
    """The agreement figures and what a user must know about the inputs."""

    agreement: Agreement
    coders: list[CoderFile]
    transcripts: int
    segments: int
    coverage: dict[str, int]
    unknown_themes: dict[str, list[str]] = field(default_factory=dict)
    transcripts_not_found: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.agreement.to_json(),
            "files": {c.name: str(c.path) for c in self.coders},
            "machine_coders": [c.name for c in self.coders if c.machine],
            "transcripts": self.transcripts,
            "segments": self.segments,
            "transcripts_coded_by": self.coverage,
            "unknown_themes": self.unknown_themes,
            "transcripts_not_found": self.transcripts_not_found,
        }


def read_coders(paths: Sequence[Path]) -> list[CoderFile]:
    """Load coder files; coders are named by file stem, or by folder/stem where stems repeat."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise QualcodeError("agreement needs at least two coder files")
    stems = [p.stem for p in paths]
    names = [p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}" for p in paths]
    if len(set(names)) != len(names):
        raise QualcodeError(f"two coder files have the same name: {', '.join(map(str, paths))}")
    coders = []
    for name, path in zip(names, paths):
        codes = load_coder_file(path).assign(**{CODER: name})
        coders.append(CoderFile(name=name, path=path, codes=codes, machine=_is_tags_table(path)))
    return coders


def coder_agreement(
    coder_paths: Sequence[Path],
    *,
    transcripts_dir: Path,
    codebook_path: Path,
    unit: str = "sentence",
    all_transcripts: bool = False,
    bootstrap: BootstrapOptions | None = BootstrapOptions(),
) -> CoderAgreement:
    """Per theme percent agreement and Krippendorff's alpha across the coders, and Cohen's kappa for each pair,
    on the segments of the transcripts they coded."""
    codebook = load_codebook(codebook_path)
    themes = codebook.theme_ids
    coders = read_coders(coder_paths)
    transcripts, _ = read_folder(transcripts_dir, allow_empty=True)  # none of them coded is an error below
    known = {t.id for t in transcripts}
    covered = {c.name: (known if c.machine or all_transcripts else set(c.codes[TRANSCRIPT_ID]) & known) for c in coders}
    included = known if all_transcripts else set().union(*covered.values())
    used = [t for t in transcripts if t.id in included]
    if not used:
        raise QualcodeError("none of the coded transcripts is in the transcripts folder", path=transcripts_dir)
    lengths = {t.id: len(t.text) for t in used}
    for coder in coders:
        check_spans_fit(coder.codes, lengths)
    coding = CodingOptions(unit=unit)  # type: ignore[arg-type]
    coded = code_corpus(used, codebook=codebook, options=coding, nlp=build_nlp(codebook))
    segments = segments_frame(s for c in coded for s in c.segments)
    segments = segments[segments[ROLE] != "interviewer"].reset_index(drop=True)
    labels: dict[str, pd.DataFrame] = {}
    for coder in coders:
        flags = segment_labels(segments, coder.codes, themes=themes).astype(object)
        outside = ~segments[TRANSCRIPT_ID].isin(covered[coder.name]).to_numpy()
        flags.loc[flags.index[outside]] = np.nan
        labels[coder.name] = flags
    groups = pd.Series(segments[TRANSCRIPT_ID].to_numpy(), index=pd.Index(segments[SEGMENT_ID]))
    result = agree(labels, groups=groups, themes=themes, bootstrap=bootstrap)
    all_codes = pd.concat([c.codes for c in coders], ignore_index=True)
    return CoderAgreement(
        agreement=result,
        coders=coders,
        transcripts=len(used),
        segments=int(len(segments)),
        coverage={name: len(ids) for name, ids in covered.items()},
        unknown_themes={c.name: unknown_themes(c.codes, themes) for c in coders if unknown_themes(c.codes, themes)},
        transcripts_not_found=sorted(set(all_codes[TRANSCRIPT_ID]) - known),
    )


def _is_tags_table(path: Path) -> bool:
    """A qualcode tags.csv (its header has the tags table's columns), which codes every transcript."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        header = next(csv.reader(stream), [])
    return TAGS_MARKERS <= {name.strip() for name in header}

"""One transcript file coded as a run codes it (for `qualcode tag`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.codebook.load import load_codebook
from pipeline.coding.corpus import CodingOptions, build_nlp, code_transcript
from pipeline.coding.table import tags_frame
from pipeline.core.choices import Combine
from pipeline.ingest.metadata import load_metadata
from pipeline.ingest.read import read_transcript
from pipeline.ingest.records import Transcript
from pipeline.workflows.model_choice import classifier_setup


def tag_file(
    path: Path,
    *,
    codebook_path: Path,
    options: CodingOptions = CodingOptions(),
    model_path: Path | None = None,
    combine: Combine = Combine.AUTO,
) -> tuple[Transcript, pd.DataFrame]:
    """One transcript file (with its folder's metadata.csv row) coded as a run codes it: its tags table."""
    codebook = load_codebook(codebook_path)
    model, combine = classifier_setup(codebook, model_path=model_path, model=None, combine=combine)
    transcript = read_transcript(path, metadata=load_metadata(path.parent).get(path.name, {}))
    tagger = None
    if model is not None:
        from pipeline.classifier.combine import ModelTagger

        tagger = ModelTagger(model, codebook, combine)
    nlp = build_nlp(codebook, spacy_model=options.spacy_model)
    coded = code_transcript(transcript, nlp=nlp, codebook=codebook, options=options, tagger=tagger)
    return transcript, tags_frame(coded.tags)

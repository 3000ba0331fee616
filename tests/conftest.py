"""Shared fixtures: one spaCy pipeline per session for each codebook, and paths to small fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import build_nlp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def minimal_codebook() -> Codebook:
    return load_codebook(FIXTURES / "codebooks" / "minimal.yaml")


@pytest.fixture(scope="session")
def study_codebook() -> Codebook:
    """The bundled codebook.yaml: the rules users actually run."""
    return load_codebook(ROOT / "codebook.yaml")


@pytest.fixture(scope="session")
def nlp(study_codebook: Codebook):
    """The full rule pipeline for the bundled codebook, built once per session."""
    return build_nlp(study_codebook)


@pytest.fixture(scope="session")
def minimal_nlp(minimal_codebook: Codebook):
    return build_nlp(minimal_codebook)

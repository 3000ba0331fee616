"""Shared fixtures: one spaCy pipeline per session for each codebook, and paths to small fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pipeline.codebook.load import load_codebook
from pipeline.codebook.model import Codebook
from pipeline.coding.corpus import build_nlp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Property-based tests (tests/test_properties.py): a small run in `make test`, a long one with
# `HYPOTHESIS_PROFILE=nightly make test`. No deadline: the 2-core test machines are slow and shared.
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("nightly", max_examples=2000, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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

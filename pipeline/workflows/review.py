"""The review app wired to the regeneration workflow: what `qualcode review` serves."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from pipeline.review.app import create_app
from pipeline.workflows.regenerate import regenerate_reports


def review_app(*, reports_dir: Path, transcripts_dir: Path, codebook_path: Path, reviewer: str) -> Flask:
    """The review app for one project, able to regenerate its reports; QualcodeError when there is no run."""
    return create_app(
        reports_dir=reports_dir,
        transcripts_dir=transcripts_dir,
        codebook_path=codebook_path,
        reviewer=reviewer,
        regenerate=regenerate_reports,
    )

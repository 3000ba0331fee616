"""Versions of qualcode, Python and the libraries that shape results."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from pipeline import __version__

if TYPE_CHECKING:  # sklearn is imported only when a model is used
    pass


def package_versions() -> dict[str, str]:
    """Versions of qualcode, Python and the libraries that shape results, for run records and model cards."""
    versions = {"qualcode": __version__, "python": platform.python_version()}
    for name in ("spacy", "spacy-lookups-data", "scikit-learn", "pandas", "jinja2", "skops"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions

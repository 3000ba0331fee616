"""Errors raised by the library; the CLI turns each into one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class QualcodeError(Exception):
    """A problem a user can fix, located by file and (where known) line."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = " ".join(message.splitlines())  # user text quoted in a message must not break the one line
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "") + ": "
        return where + self.message


class CodebookError(QualcodeError):
    """The codebook file is malformed or inconsistent."""


class TranscriptError(QualcodeError):
    """A transcript cannot be read (empty, binary, undecodable, malformed)."""


class ModelError(QualcodeError):
    """A saved model is missing, unsafe, or made for another codebook."""


class ExchangeError(QualcodeError):
    """A REFI-QDA (or other exchange) file is invalid or unsafe."""


class FindingsError(QualcodeError):
    """findings.yaml is malformed or names unknown ToR questions or themes."""

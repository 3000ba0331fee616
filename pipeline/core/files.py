"""Safe output: atomic writes, and spreadsheet cells that cannot be read as formulas."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.core.errors import QualcodeError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SHARED_MODE = 0o644  # reports are meant to be read by colleagues; mkstemp alone would make them 0600


def atomic_write_bytes(path: str | Path, content: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    mode = path.stat().st_mode & 0o777 if path.exists() else SHARED_MODE
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """UTF-8 text, written atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_utf8(path: Path, *, what: str, error: type[QualcodeError]) -> str:
    """A file's text as UTF-8 (a BOM is dropped); unreadable or undecodable -> `error` naming the file and line."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8", path=path, line=content[: exc.start].count(b"\n") + 1) from None


def neutralise_cell(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula (= + - @) with an apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value

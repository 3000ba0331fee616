"""Safe output: atomic writes, report sets switched in whole under a lock, and spreadsheet cells that
cannot be read as formulas."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.errors import QualcodeError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SHARED_MODE = 0o644  # reports are meant to be read by colleagues; mkstemp alone would make them 0600


def atomic_write_bytes(path: str | Path, content: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    return atomic_write_chunks(path, [content])


def atomic_write_chunks(path: str | Path, chunks: Iterable[bytes | str]) -> Path:
    """`atomic_write_bytes` for content made a piece at a time (text pieces as UTF-8): never all in memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    mode = path.stat().st_mode & 0o777 if path.exists() else SHARED_MODE
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
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


LOCK_NAME = ".qualcode.lock"
SWITCH_NAME = ".switch"  # a complete staged report set whose switch-in began: finished by the next holder
LAST = "run.json"  # switched in last: a run.json that names a run means its whole set is in place


@contextmanager
def output_lock(out: str | Path, *, purpose: str) -> Iterator[Path]:
    """Hold the lock on an output folder (`<out>/.qualcode.lock`) while writing it; a second writer fails at
    once with one line naming the holder (purpose, pid, host, since when).

    `fcntl.flock` locks belong to an open file, so the kernel drops them when the holder exits or is killed:
    a lock file left by a dead process never blocks. An interrupted switch-in is finished on taking the lock.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise QualcodeError(
                f"in use by {holder}: wait for it to finish, or write to another folder", path=out
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            since = datetime.now(UTC).isoformat(timespec="seconds")
            handle.write(f"{purpose} (pid {os.getpid()} on {socket.gethostname()}, since {since})\n")
            handle.flush()
            finish_switch(out)
            yield out
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def settle_reports(out: str | Path) -> None:
    """Before reading an output folder: finish a switch-in a killed writer left, unless a writer holds it."""
    out = Path(out)
    if not (out / SWITCH_NAME).is_dir():
        return
    try:
        with output_lock(out, purpose="qualcode (finishing an interrupted switch)"):
            pass
    except QualcodeError:
        pass  # a writer is active: it finishes the switch itself


@contextmanager
def staged_set(out: str | Path) -> Iterator[Path]:
    """A staging folder inside `out` for a whole set of files; switched in as one set when the block ends,
    removed (the previous set untouched) when it raises. Hold `output_lock(out)` around it.

    The commit point is one rename of the complete staging folder to `<out>/.switch`; its files are then
    renamed into `out` (run.json last). If that is interrupted, `finish_switch` completes it.
    """
    out = Path(out)
    staging = out / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(staging)
    os.replace(staging, out / SWITCH_NAME)  # the commit point: from here the set goes in whole
    try:
        finish_switch(out)
    except KeyboardInterrupt:  # Ctrl-C in the middle of the renames: finish them first
        finish_switch(out)
        raise


def finish_switch(out: str | Path) -> None:
    """Move a committed set's files from `<out>/.switch` into `out` (run.json last) and drop staging leftovers."""
    out = Path(out)
    switch = out / SWITCH_NAME
    if switch.is_dir():
        for name in sorted(os.listdir(switch), key=lambda n: (n == LAST, n)):
            os.replace(switch / name, out / name)
        switch.rmdir()
        _fsync_dir(out)
    for leftover in out.glob(".staging-*"):
        if leftover.name != f".staging-{os.getpid()}":
            shutil.rmtree(leftover, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    """Make renames in a folder durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

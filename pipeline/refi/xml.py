"""REFI-QDA plumbing shared by import and export: namespaces, stable GUIDs, XML-safe text, and safe reading
of untrusted files (defusedxml for XML; ZIP members checked for path traversal and bounded in size)."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import TracebackType
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pipeline.core.errors import ExchangeError

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
PROJECT_NS_PREFIX = "urn:QDA-XML:project:"
CODEBOOK_NS_PREFIX = "urn:QDA-XML:codebook:"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PROJECT_SCHEMA_LOCATION = f"{PROJECT_NS} http://schema.qdasoftware.org/versions/Project/v1.0/Project.xsd"
CODEBOOK_SCHEMA_LOCATION = f"{CODEBOOK_NS} http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd"

MAX_ARCHIVE_BYTES = 512 * 2**20  # decompressed bytes read from one .qdpx (or one .qdc file)
MAX_MEMBERS = 20_000
MAX_CODE_DEPTH = 64

# A fixed namespace for uuid5: the same keys give the same GUIDs in every export.
GUID_NAMESPACE = uuid.UUID("6f1e5c3a-9d1b-5f0e-8a57-2c0f4b7d9e11")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")


def stable_guid(*key: object) -> str:
    """A GUID that depends only on `key` (uuid5), so re-exporting the same project gives the same file."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(str(part) for part in key)))


def guid_key(value: str | None) -> str:
    """A GUID as a comparison key: braces dropped, lower case (tools differ in both)."""
    if not value:
        return ""
    match = _GUID.match(value.strip())
    return (match.group(1) if match else value.strip()).lower()


def xml_text(value: object) -> str:
    """Text with the characters XML 1.0 cannot carry (most control characters) removed."""
    return _XML_INVALID.sub("", str(value))


def split_tag(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


@contextmanager
def _xml_errors(where: str) -> Iterator[None]:
    """defusedxml's refusals and parse errors as one-line ExchangeErrors naming the file (and line)."""
    try:
        yield
    except DefusedXmlException as exc:
        raise ExchangeError(
            f"refusing unsafe XML ({type(exc).__name__}: entity declarations and external references are not allowed)",
            path=where,
        ) from None
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        reason = str(exc).split(":")[0]
        raise ExchangeError(f"not well-formed XML: {reason}", path=where, line=line) from None


def parse_xml(data: bytes, *, where: str) -> Element:
    """Parse untrusted XML with defusedxml: entity declarations (billion laughs) and external references fail."""
    with _xml_errors(where):
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)


def iterparse_xml(stream: io.RawIOBase, *, where: str) -> Iterator[tuple[str, Element]]:
    """`parse_xml` incrementally: ("start" | "end", element) events, so a caller can drop what it has read."""
    with _xml_errors(where):
        yield from SafeET.iterparse(
            stream, events=("start", "end"), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )


def read_bounded(path: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> bytes:
    """A file's bytes, refusing files larger than `max_bytes`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ExchangeError(f"file is {size:,} bytes, more than the limit of {max_bytes:,}", path=path)
        return path.read_bytes()
    except OSError as exc:
        raise ExchangeError(f"cannot read file: {exc.strerror or exc}", path=path) from None


def unsafe_member_reason(name: str) -> str | None:
    """Why a ZIP member name must not be used (absolute, drive letter, `..`, NUL), or None when it is safe."""
    normal = name.replace("\\", "/")
    if "\x00" in normal:
        return "NUL in the name"
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return "absolute path"
    if ".." in PurePosixPath(normal).parts:
        return "'..' leads out of the archive"
    return None


class SafeArchive:
    """A .qdpx (ZIP) opened for reading untrusted content: member names checked, decompressed bytes bounded.

    Members are only ever read into memory, never extracted; any unsafe name rejects the whole archive.
    """

    def __init__(self, path: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES, max_members: int = MAX_MEMBERS) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._read = 0
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise ExchangeError("file not found", path=self.path) from None
        except IsADirectoryError:
            raise ExchangeError("is a folder, not a .qdpx file", path=self.path) from None
        except (zipfile.BadZipFile, OSError, ValueError):
            raise ExchangeError(
                "not a REFI-QDA project (.qdpx): the file is not a ZIP archive", path=self.path
            ) from None
        try:
            self._check(max_members)
        except BaseException:
            self._zip.close()
            raise
        self._files = {info.filename.replace("\\", "/"): info for info in self._zip.infolist() if not info.is_dir()}

    def _check(self, max_members: int) -> None:
        infos = self._zip.infolist()
        if len(infos) > max_members:
            raise ExchangeError(
                f"archive has {len(infos):,} members, more than the limit of {max_members:,}", path=self.path
            )
        for info in infos:
            reason = unsafe_member_reason(info.filename)
            if reason:
                raise ExchangeError(
                    f"unsafe member name {info.filename!r} in the archive ({reason}); refusing to import",
                    path=self.path,
                )
        declared = sum(info.file_size for info in infos)
        if declared > self.max_bytes:
            raise ExchangeError(
                f"archive would decompress to {declared:,} bytes, more than the limit of "
                f"{self.max_bytes:,} (possible zip bomb)",
                path=self.path,
            )

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        return sorted(self._files)

    def project_member(self) -> str:
        """The archive's project.qde: any case (ATLAS.ti writes Project.qde), or else the one *.qde at its root."""
        root_files = [name for name in self._files if "/" not in name]
        for name in root_files:
            if name.lower() == "project.qde":
                return name
        qde = [name for name in root_files if name.lower().endswith(".qde")]
        if len(qde) == 1:
            return qde[0]
        raise ExchangeError("not a REFI-QDA project: the archive has no project.qde", path=self.path)

    def find_source(self, file_name: str) -> str | None:
        """The member holding an internal:// source: `sources/NAME` in any case (NVivo: Sources/), else any NAME."""
        wanted = file_name.replace("\\", "/").lstrip("/").lower()
        for name in self._files:
            lowered = name.lower()
            if lowered == f"sources/{wanted}":
                return name
        for name in self._files:
            if name.lower().rsplit("/", 1)[-1] == wanted.rsplit("/", 1)[-1]:
                return name
        return None

    def stream(self, name: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """One member's bytes in chunks, counting against the archive's decompressed-size bound, so a member is
        never held whole unless the caller joins it."""
        info = self._files[name]
        try:
            with self._zip.open(info) as stream:
                for chunk in iter(lambda: stream.read(chunk_size), b""):
                    self._read += len(chunk)
                    if self._read > self.max_bytes:
                        raise ExchangeError(
                            f"archive decompresses to more than the limit of {self.max_bytes:,} bytes "
                            "(possible zip bomb)",
                            path=self.path,
                        )
                    yield chunk
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:  # corrupt, encrypted or truncated
            raise ExchangeError(
                f"cannot read {name!r} from the archive: {' '.join(str(exc).split())}", path=self.path
            ) from None

    def read(self, name: str) -> bytes:
        """One member's bytes, counting against the archive's decompressed-size bound."""
        return b"".join(self.stream(name))

    def open(self, name: str) -> io.RawIOBase:
        """One member as a file object for streaming parsers (bounded like `stream`)."""
        return _ChunkReader(self.stream(name))


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (what ElementTree's iterparse reads from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._pending, self._at = chunks, memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._at >= len(self._pending):
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._pending, self._at = memoryview(chunk), 0
        size = min(len(buffer), len(self._pending) - self._at)
        buffer[:size] = self._pending[self._at : self._at + size]
        self._at += size
        return size


def children(element: Element, namespace: str, name: str) -> Iterator[Element]:
    """Direct children with this local name in `namespace`."""
    return iter(element.findall(f"{{{namespace}}}{name}"))


def child_text(element: Element, namespace: str, name: str) -> str:
    """Text of the first direct child with this local name ("" when absent or empty)."""
    found = element.find(f"{{{namespace}}}{name}")
    return (found.text or "") if found is not None else ""

"""Bytes to text: BOM-aware decoding with located errors, .docx paragraphs, binary sniffing."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator

import docx
from charset_normalizer import from_bytes
from docx.table import Table

from pipeline.core.errors import TranscriptError

# --- decoding -------------------------------------------------------------------------------

_CONTROL_BYTES = bytes((*range(0x00, 0x09), *range(0x0E, 0x20)))  # control characters other than \t \n \v \f \r
_CONTROLS = re.compile(f"[{re.escape(_CONTROL_BYTES.decode('ascii'))}]")  # the same, as characters
# Encodings in which a byte below 0x20 is always that control character: its bytes count them, five times faster
# than the regex counts characters in the text
_ASCII_CONTROLS = frozenset({"utf-8", "utf-8-sig", "cp1252"})
_BOMS = (  # UTF-32-LE's BOM starts with UTF-16-LE's, so it is tried first
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
BINARY_SIGNATURES = (
    b"%PDF",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\xd0\xcf\x11\xe0",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
)
BINARY_REASON = "binary file, not a transcript"


def bom_encoding(data: bytes) -> str:
    """The codec named by the byte-order mark `data` starts with ("" if none); decoding with it drops the mark."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return ""


def decode_text(data: bytes) -> str:
    """Strictly decode text: by its byte-order mark (the mark dropped, not counted), else as UTF-8.

    Raises UnicodeDecodeError; callers that accept other encodings or report errors their own way build on it.
    """
    return data.decode(bom_encoding(data) or "utf-8")


def utf8_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`decode_text` a chunk at a time, re-encoded as UTF-8 (the mark dropped): a long text is never held whole.

    Raises UnicodeDecodeError, as `decode_text` does, when the chunks are not valid text."""
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:  # enough bytes to see the byte-order mark
        head += chunk
        if len(head) >= 4:
            break
    decoder = codecs.getincrementaldecoder(bom_encoding(head) or "utf-8")()
    yield decoder.decode(head).encode("utf-8")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def decode_bytes(data: bytes, where: str) -> tuple[str, str, list[str]]:
    """Decode a text file's bytes to (text, encoding, warnings); raise for empty, binary or undecodable data."""
    if not data or data.isspace():  # not strip(): that copies the whole file
        raise TranscriptError("empty file", path=where)
    encoding, warnings = bom_encoding(data), []
    if not encoding:
        if data.startswith(BINARY_SIGNATURES):
            raise TranscriptError(BINARY_REASON, path=where)
        if b"\x00" in data:  # text in UTF-16/32 without a BOM, or binary
            best = from_bytes(data).best()
            guess = best.encoding.replace("_", "-") if best else ""
            if not guess.startswith(("utf-16", "utf-32")):
                raise TranscriptError(BINARY_REASON, path=where)
            encoding, warnings = guess, [f"no byte-order mark: decoded as {guess.upper()}"]
    if not encoding:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                raise TranscriptError("not valid UTF-8 or cp1252 text", path=where, line=line) from None
            warnings = [f"not valid UTF-8 (line {line}); decoded as cp1252"]
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"not valid {encoding} text: {exc.reason}", path=where) from None
    if not text or text.isspace():
        raise TranscriptError("empty file", path=where)
    if encoding in _ASCII_CONTROLS:
        controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    else:
        controls = len(_CONTROLS.findall(text))
    if controls > len(text) * 0.05:
        raise TranscriptError(BINARY_REASON, path=where)
    return text, encoding, warnings


def docx_text(data: bytes, where: str) -> str:
    """Join a .docx's body paragraphs and table rows (cells tab-separated) with newlines, in document order."""
    try:
        document = docx.Document(io.BytesIO(data))
        parts: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = [cell for i, cell in enumerate(row.cells) if i == 0 or cell is not row.cells[i - 1]]
                    parts.append("\t".join(cell.text for cell in cells))
            else:
                parts.append(block.text)
    except Exception as exc:  # python-docx raises zip, XML and key errors for damaged packages
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise TranscriptError(f"not a readable .docx: {reason}", path=where) from None
    text = "\n".join(parts)
    if not text or text.isspace():
        raise TranscriptError("empty file", path=where)
    return text

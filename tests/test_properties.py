"""Property-based tests (hypothesis) of the readers of untrusted input: ingest, the codebook loader, coder files
and .qdpx import. Whatever the input, they either work or raise qualcode's own error (one located line), and
every span they return slices its file exactly. Size: HYPOTHESIS_PROFILE=ci (default) or nightly (tests/conftest.py).
"""

from __future__ import annotations

import string
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.codebook.load import check_codebook, load_codebook
from pipeline.core.errors import QualcodeError
from pipeline.core.files import neutralise_cell
from pipeline.ingest.read import read_transcript
from pipeline.measure.coder_files import MAX_OFFSET, load_coder_file
from pipeline.refi.reader import import_qdpx

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VALID_CODEBOOK = (FIXTURES / "codebooks" / "minimal.yaml").read_text(encoding="utf-8")

# Text that looks like transcripts: speaker labels, timestamps, front matter, blanks, CRLF, emoji, surrogates.
PIECES = st.sampled_from(
    [
        "Interviewer:",
        "Respondent:",
        "Q.",
        "A.",
        "Kari Nilsen  0:03",
        "[00:00:05]",
        "#00:00:12-5#",
        "**Ana:**",
        "---",
        "id: x",
        "speakers: {A: interviewer}",
        "WEBVTT",
        "-->",
        "\r\n",
        "\n",
        "\t",
        "   ",
        ":",
        "😀",
        "language barrier",
        "never",
        "\ufeff",
        "\x00",
        '"\\ud800"',
        "[[[",
        "{a: ",
        "}",
        "…",
    ]
)
TRANSCRIPT_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=40).map("".join)
ANY_YAML_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


def _scratch(factory: pytest.TempPathFactory) -> Path:
    """A fresh folder per example (pytest's session temp folders are cleaned up, unlike mkdtemp's)."""
    return factory.mktemp("example")


@given(text=TRANSCRIPT_TEXT, suffix=st.sampled_from([".txt", ".md", ".vtt", ".srt"]), raw=st.booleans())
def test_ingest_reads_or_refuses_and_turns_slice_the_file(tmp_path_factory, text: str, suffix: str, raw: bool) -> None:
    path = _scratch(tmp_path_factory) / f"t{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if raw else text.encode("utf-8", "replace"))
    try:
        transcript = read_transcript(path)
    except QualcodeError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    for turn in transcript.turns:
        assert 0 <= turn.start_char < turn.end_char <= len(transcript.text)
        assert transcript.text[turn.start_char : turn.end_char].strip()


@given(
    edit=st.one_of(
        TRANSCRIPT_TEXT,
        ANY_YAML_VALUE.map(lambda value: yaml.safe_dump(value, allow_unicode=True)),
        st.tuples(st.sampled_from(VALID_CODEBOOK.splitlines()), TRANSCRIPT_TEXT).map(
            lambda pair: VALID_CODEBOOK.replace(pair[0], pair[1], 1)
        ),
    )
)
def test_the_codebook_loader_loads_or_lists_located_problems(tmp_path_factory, edit: str) -> None:
    path = _scratch(tmp_path_factory) / "codebook.yaml"
    path.write_bytes(edit.encode("utf-8", "surrogatepass"))
    codebook, problems = check_codebook(path)
    assert (codebook is None) == bool(problems)
    assert all(isinstance(p, QualcodeError) and "\n" not in str(p) for p in problems)
    try:
        load_codebook(path)
    except QualcodeError:
        assert problems


OFFSET = st.one_of(
    st.integers(min_value=-5, max_value=200), st.integers(), st.sampled_from(["", "x", "1.5", "1e30", " 7 "])
)


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "", "a,b", 'a"']), OFFSET, OFFSET, st.sampled_from(["x", "", "y z"])),
        max_size=8,
    ),
    header=st.sampled_from(["transcript_id,start_char,end_char,theme", "document,start,end,code"]),
)
def test_coder_files_load_or_name_the_row(tmp_path_factory, rows: list[tuple], header: str) -> None:
    path = _scratch(tmp_path_factory) / "carol.csv"
    pd.DataFrame(rows, columns=header.split(",")).to_csv(path, index=False)
    try:
        codes = load_coder_file(path)
    except QualcodeError as exc:
        assert exc.path == str(path) and exc.line is not None and "\n" not in exc.message
        return
    assert ((codes.start_char >= 0) & (codes.start_char < codes.end_char) & (codes.end_char <= MAX_OFFSET)).all()


SOURCE = "11e0d4d7-4de8-4501-a82f-653d3e5d1c15"
USER = "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"
CODE = "85D17F60-7BB0-481E-B742-B4861DD66900"
NOTE = "9A3C5E1F-0000-4000-8000-00000000{:04d}"


@given(
    text=TRANSCRIPT_TEXT.filter(lambda t: "\x00" not in t and "\\ud800" not in t),
    spans=st.lists(st.tuples(st.integers(-3, 120), st.integers(-3, 120)), max_size=6),
    notes=st.lists(
        st.one_of(
            st.text(alphabet=string.printable, max_size=40),
            st.lists(ANY_YAML_VALUE.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip())).map(
                lambda lines: "qualcode provenance\n" + "\n".join(lines)
            ),
            st.just('qualcode provenance\n{"theme": "t", "coder": "c", "score": 1.5}'),
        ),
        max_size=3,
    ),
    origin=st.sampled_from(["NVivo 14", "ATLAS.ti", "QualCoder 3.5", ""]),
)
def test_qdpx_import_works_or_refuses_and_codings_slice_the_written_files(
    tmp_path_factory, text: str, spans: list[tuple[int, int]], notes: list[str], origin: str
) -> None:
    folder = _scratch(tmp_path_factory)
    text = text.replace("\r", "")  # XML would normalise a CR in an attribute; sources are files, kept exactly
    note_refs = "".join(f'<NoteRef targetGUID="{NOTE.format(i)}"/>' for i in range(len(notes)))
    selections = "".join(
        f'<PlainTextSelection guid="4191294A-E287-4510-95B0-69BCE4638E{i:02d}" startPosition="{a}" '
        f'endPosition="{b}"><Coding guid="445A6AEC-1400-4502-919D-0867832FF2{i:02d}" creatingUser="{USER}">'
        f'<CodeRef targetGUID="{CODE}"/></Coding>{note_refs}</PlainTextSelection>'
        for i, (a, b) in enumerate(spans)
    )
    note_xml = "".join(
        f'<Note guid="{NOTE.format(i)}" name="n"><PlainTextContent>{_xml_text(note)}</PlainTextContent></Note>'
        for i, note in enumerate(notes)
    )
    project = (
        f'<Project xmlns="urn:QDA-XML:project:1.0" name="P" origin={quoteattr(origin)}>'
        f'<Users><User guid="{USER}" name="Ana"/></Users><CodeBook><Codes><Code guid="{CODE}" name="Barrier" '
        f'isCodable="true"/></Codes></CodeBook><Sources><TextSource guid="{SOURCE}" name="Interview 1.txt" '
        f'plainTextPath="internal://{SOURCE}.txt">{selections}</TextSource></Sources><Notes>{note_xml}</Notes>'
        "</Project>"
    )
    path = folder / "p.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", project)
        archive.writestr(f"sources/{SOURCE}.txt", text.encode("utf-8", "replace"))
    out = folder / "out"
    try:
        result = import_qdpx(path, out=out)
    except QualcodeError as exc:
        assert "\n" not in str(exc) and not out.exists()
        return
    for source in result.sources:
        written = (out / "transcripts" / source.file).read_bytes().decode("utf-8")
        for coder in result.coders:
            coded = pd.read_csv(out / "coded" / f"{coder}.csv", dtype=str, keep_default_na=False)
            for row in coded.itertuples():
                # the text column is for the coder's eyes: a cell that starts like a formula gets a ' prefix
                assert neutralise_cell(written[int(row.start_char) : int(row.end_char)]) == row.text
    assert not [p for p in folder.iterdir() if p.name.startswith(".out.import-")]


def _xml_text(value: str) -> str:
    from pipeline.refi.xml import xml_text

    return xml_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

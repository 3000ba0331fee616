"""REFI-QDA exchange: exports valid against the official schemas, exact round trips (CRLF, emoji), real NVivo and
ATLAS.ti files, offset conventions detected from the file, hostile archives, and the commands."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import xmlschema
import yaml

from pipeline.codebook.load import load_codebook
from pipeline.coding.table import read_tags, write_csv
from pipeline.core.errors import ExchangeError, QualcodeError
from pipeline.ingest.read import discover, problems
from pipeline.measure.coder_files import load_gold
from pipeline.refi.codebook import import_qdc, parse_description, qdc_bytes, read_refi_codebook, snake_id
from pipeline.refi.offsets import OffsetMap, RawSelection, detect_convention
from pipeline.refi.reader import import_qdpx
from pipeline.refi.writer import export_qdpx
from pipeline.workflows.run import run_project

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
REFI = FIXTURES / "refi"
MINIMAL = FIXTURES / "codebooks" / "minimal.yaml"
SHARED = HERE.parent.parent / "shared" / "data" / "refi-qda"
SCRIPT = Path(sys.executable).parent / "qualcode"
NS = "urn:QDA-XML:project:1.0"

# A CRLF transcript with emoji (outside the BMP) before and inside coded sentences: offsets must not drift.
CRLF_EMOJI = (
    "Interviewer: Was the language hard? 😀\r\n"
    "Respondent: The language barrier was hard 🎉 for me, 🇳🇴 is hard.\r\n"
    "Interviewer: And later?\r\n"
    "Respondent: I could not speak Norwegian at first 😅. We never had a language problem later.\r\n"
)
LF_PLAIN = "Respondent: A language barrier everywhere, at every meeting.\nRespondent: Nothing else.\n"


@pytest.fixture(scope="module")
def project_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(REFI / "Project-mrt2019.xsd")


@pytest.fixture(scope="module")
def codebook_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(REFI / "Codebook-mrt2019.xsd")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A coded project: transcripts (CRLF + emoji, LF, a Teams .vtt, a Markdown file with front matter) and a run."""
    root = tmp_path_factory.mktemp("project")
    transcripts = root / "transcripts"
    transcripts.mkdir()
    (transcripts / "crlf_emoji.txt").write_bytes(CRLF_EMOJI.encode("utf-8"))
    (transcripts / "plain.txt").write_bytes(LF_PLAIN.encode("utf-8"))
    for name in ("teams.vtt", "names_front_matter.md"):
        (transcripts / name).write_bytes((FIXTURES / "transcripts" / name).read_bytes())
    (transcripts / "metadata.csv").write_text(
        "file,id,side,exchange_months,synthetic,names\n"
        "crlf_emoji.txt,int_07,north,12,true,Kari;Ola\n"
        "plain.txt,001,south,6,false,\n"
        "teams.vtt,teams,north,3,true,Kari Nilsen;Chikondi Mwale\n",
        encoding="utf-8",
    )
    run_project(transcripts_dir=transcripts, codebook_path=MINIMAL, out=root / "reports")
    return root


@pytest.fixture(scope="module")
def exported(project: Path) -> Path:
    out = project / "out" / "project.qdpx"
    export_qdpx(
        transcripts_dir=project / "transcripts", codebook_path=MINIMAL, reports_dir=project / "reports", out=out
    )
    return out


@pytest.fixture(scope="module")
def imported(exported: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imported") / "project"
    import_qdpx(exported, out=out)
    return out


def qde_of(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("project.qde").decode("utf-8")


# --- schemas ------------------------------------------------------------------------------------


def test_exported_project_is_valid_against_the_official_schema(exported: Path, project_schema):
    project_schema.validate(qde_of(exported))
    with zipfile.ZipFile(exported) as archive:
        names = archive.namelist()
    assert names[0] == "project.qde" and all(n.startswith("sources/") and n.endswith(".txt") for n in names[1:])
    assert len(names) == 1 + 4


@pytest.mark.parametrize("codebook", [MINIMAL, HERE.parent / "codebook.yaml"], ids=["minimal", "bundled"])
def test_exported_codebook_is_valid_against_the_codebook_schema(codebook: Path, codebook_schema):
    if not codebook.is_file():
        pytest.skip("the bundled codebook.yaml is not written yet")
    codebook_schema.validate(qdc_bytes(load_codebook(codebook)).decode("utf-8"))


def test_ungrouped_themes_export_as_top_level_codes(tmp_path: Path, codebook_schema):
    path = tmp_path / "codebook.yaml"
    path.write_text(
        "name: Other study\nversion: '1'\nthemes:\n  - id: trust\n    label: Trust\n"
        "    definition: Trust between partners.\n"
    )
    content = qdc_bytes(load_codebook(path))
    codebook_schema.validate(io.BytesIO(content))
    assert b'name="Trust" isCodable="true"' in content and b'isCodable="false"' not in content


def test_the_schemas_reject_what_the_standard_forbids(codebook_schema, project_schema):
    broken = qdc_bytes(load_codebook(MINIMAL)).decode("utf-8").replace('isCodable="true"', "")
    assert not codebook_schema.is_valid(broken)
    assert not project_schema.is_valid(
        f'<Project xmlns="{NS}" name="x"><Sources><TextSource guid="not-a-guid"/></Sources></Project>'
    )


def test_export_is_deterministic(project: Path, exported: Path, tmp_path: Path):
    again = tmp_path / "again.qdpx"
    export_qdpx(
        transcripts_dir=project / "transcripts", codebook_path=MINIMAL, reports_dir=project / "reports", out=again
    )
    assert again.read_bytes() == exported.read_bytes()


def test_export_codes_evidence_only_with_provenance_notes(project: Path, exported: Path):
    tags = read_tags(project / "reports" / "tags.csv")
    qde = qde_of(exported)
    assert (~tags["evidence"]).any(), "the fixture has a negated tag"
    assert qde.count("<Coding ") == int(tags["evidence"].sum())
    negated = tags[~tags["evidence"]].iloc[0]
    assert f'startPosition="{negated.start_char}" endPosition="{negated.end_char}"' not in qde
    assert qde.count("<NoteRef ") == qde.count("<PlainTextSelection ") and '"rule_id": "lb.lower"' in qde
    assert 'name="side" typeOfVariable="Text"' in qde and 'name="exchange_months" typeOfVariable="Integer"' in qde


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_gives_the_same_transcripts(project: Path, imported: Path):
    before, _ = discover(project / "transcripts")
    after, skipped = discover(imported / "transcripts")
    assert not problems(skipped)
    assert {t.id for t in after} == {t.id for t in before}
    by_id = {t.id: t for t in after}
    for transcript in before:
        twin = by_id[transcript.id]
        assert twin.text == transcript.text, transcript.source
        assert (imported / "transcripts" / twin.source).read_bytes() == transcript.text.encode("utf-8")
        assert twin.source == transcript.source and twin.format == transcript.format
        assert twin.turns == transcript.turns
        for key, value in transcript.metadata.items():
            if key != "file":
                assert twin.metadata.get(key) == value, (transcript.id, key)


def test_round_trip_gives_the_same_codebook(imported: Path):
    original, back = load_codebook(MINIMAL), load_codebook(imported / "codebook.yaml")
    assert [g.model_dump() for g in back.groups] == [g.model_dump() for g in original.groups]
    assert back.tor_questions == original.tor_questions
    strip = lambda theme: theme.model_dump(exclude={"rules"})  # noqa: E731
    assert [strip(t) for t in back.themes] == [strip(t) for t in original.themes]
    assert all(not t.rules for t in back.themes)


def test_round_trip_gives_the_same_codings_and_provenance(project: Path, imported: Path):
    tags = read_tags(project / "reports" / "tags.csv")
    tags["transcript_id"] = pd.read_csv(project / "reports" / "tags.csv", dtype=str)["transcript_id"]
    evidence = tags[tags["evidence"]]
    expected = sorted(zip(evidence.transcript_id, evidence.start_char, evidence.end_char, evidence.theme))
    coded = pd.read_csv(imported / "coded" / "qualcode.csv", dtype={"transcript_id": str}, keep_default_na=False)
    assert sorted(zip(coded.transcript_id, coded.start_char, coded.end_char, coded.theme)) == expected
    provenance = pd.read_csv(imported / "provenance.csv", dtype=str, keep_default_na=False)
    assert sorted(zip(provenance.segment_id, provenance.rule_id, provenance.method)) == sorted(
        zip(evidence.segment_id, evidence.rule_id, evidence.method)
    )
    assert set(provenance.codebook_version) == {"0.1"}


def test_crlf_and_emoji_offsets_round_trip_exactly(project: Path, imported: Path):
    text = (imported / "transcripts" / "crlf_emoji.txt").read_bytes().decode("utf-8")
    assert text == CRLF_EMOJI
    coded = pd.read_csv(imported / "coded" / "qualcode.csv", dtype=str, keep_default_na=False)
    mine = coded[coded.transcript_id == "int_07"]
    quotes = [text[int(a) : int(b)] for a, b in zip(mine.start_char, mine.end_char)]
    assert "The language barrier was hard 🎉 for me, 🇳🇴 is hard." in quotes
    assert "I could not speak Norwegian at first 😅." in quotes
    assert list(mine.text) == quotes  # the coder file's text column is the text at the offsets


def test_imported_coder_files_are_gold_data(imported: Path):
    gold = load_gold(imported / "coded")
    assert set(gold["coder"]) == {"qualcode"} and set(gold["theme"]) == {"language_barrier"}


def test_reviewed_tags_are_coded_by_their_reviewer_and_rejected_ones_left_out(project: Path, tmp_path: Path):
    tags = read_tags(project / "reports" / "tags.csv")
    evidence = tags.index[tags["evidence"]]
    tags["review_status"], tags["reviewer"] = "unreviewed", ""
    tags.loc[evidence[0], ["review_status", "reviewer"]] = ["accepted", "ana"]
    tags.loc[evidence[1], ["review_status", "reviewer"]] = ["rejected", "ana"]
    reports = tmp_path / "reports"
    write_csv(tags, reports / "tags.csv")
    out = tmp_path / "reviewed.qdpx"
    result = export_qdpx(transcripts_dir=project / "transcripts", codebook_path=MINIMAL, reports_dir=reports, out=out)
    assert result.users == ["ana", "qualcode"] and result.codings == len(evidence) - 1
    back = import_qdpx(out, out=tmp_path / "back")
    assert back.coders == {"ana": 1, "qualcode": len(evidence) - 2}


# --- offset conventions -------------------------------------------------------------------------


def foreign_qdpx(
    path: Path,
    *,
    text: str,
    spans: list[tuple[int, int, str]],
    origin: str,
    bom: bool = False,
    encoding: str = "utf-8",
    folder: str = "Sources",
    qde: str = "Project.qde",
    codes: tuple[str, ...] = ("Barrier",),
    memo: str = "",
) -> Path:
    """A minimal project as another tool writes it: Project.qde, Sources/<guid>.txt, selections with codings."""
    source = "11e0d4d7-4de8-4501-a82f-653d3e5d1c15"
    user = "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"
    code_guids = [f"85D17F60-7BB0-481E-B742-B4861DD669{index:02d}" for index in range(len(codes))]
    code_xml = "".join(f'<Code guid="{g}" name="{name}" isCodable="true"/>' for g, name in zip(code_guids, codes))
    selections = "".join(
        f'<PlainTextSelection guid="4191294A-E287-4510-95B0-69BCE4638E{index:02d}" name="{name}" startPosition="{a}" '
        f'endPosition="{b}" creatingUser="{user}">{f"<Description>{memo}</Description>" if memo else ""}'
        f'<Coding guid="445A6AEC-1400-4502-919D-0867832FF2{index:02d}" '
        f'creatingUser="{user}"><CodeRef targetGUID="{code_guids[index % len(codes)]}"/></Coding></PlainTextSelection>'
        for index, (a, b, name) in enumerate(spans)
    )
    project = (
        f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="{NS}" name="Foreign" origin="{origin}">'
        f'<Users><User guid="{user}" name="Sebastian P"/></Users><CodeBook><Codes>{code_xml}</Codes></CodeBook>'
        f'<Sources><TextSource guid="{source}" name="Interview 1.docx" plainTextPath="internal://{source}.txt">'
        f"{selections}</TextSource></Sources></Project>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(qde, project)
        archive.writestr(f"{folder}/{source}.txt", (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_a_source_is_decoded_by_its_byte_order_mark(encoding: str, tmp_path: Path):
    text = "Interviewer: Was the café open?\r\nRespondent: It’s closed now 😅.\r\n"
    path = foreign_qdpx(tmp_path / "foreign.qdpx", text=text, spans=[], origin="NVivo 14", encoding=encoding)
    import_qdpx(path, out=tmp_path / "out")
    assert (tmp_path / "out" / "transcripts" / "Interview 1.txt").read_bytes() == text.encode("utf-8")  # mark dropped


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_a_source_longer_than_a_read_chunk_is_streamed_whole(encoding: str, tmp_path: Path):
    """Sources are decoded while streamed in 1 MiB chunks: characters split across chunks stay whole."""
    turn = "Respondent: the café was closed 😅 and the rota ran on.\r\n"
    text = turn * (3 * 2**20 // len(turn.encode(encoding)))  # about 3 MiB: several chunks, odd boundaries
    start = text.rindex("café")
    path = foreign_qdpx(
        tmp_path / "foreign.qdpx", text=text, spans=[(start, start + 4, "café")], origin="x", encoding=encoding
    )
    result = import_qdpx(path, out=tmp_path / "out")
    assert (tmp_path / "out" / "transcripts" / "Interview 1.txt").read_bytes() == text.encode("utf-8")
    coded = pd.read_csv(tmp_path / "out" / "coded" / "Sebastian P.csv", keep_default_na=False)
    assert coded.text.tolist() == ["café"]
    assert result.sources[0].characters == len(text)
    assert not list(tmp_path.glob(".out.import-*"))  # nothing staged is left behind


def test_a_source_that_is_not_utf8_is_listed_not_imported(tmp_path: Path):
    path = foreign_qdpx(
        tmp_path / "foreign.qdpx", text="Respondent: the café.", spans=[], origin="x", encoding="cp1252"
    )
    result = import_qdpx(path, out=tmp_path / "out")
    assert any(item.endswith("is not UTF-8 text") for item in result.not_imported)
    assert not (tmp_path / "out" / "transcripts").exists()  # its partly streamed file is not left behind


def _units(text: str, offset: int, convention: str) -> int:
    """`offset` (code points) in a tool's units: UTF-16 code units and/or CRLF counted once."""
    prefix = text[:offset]
    if convention.endswith("-lf"):
        prefix = prefix.replace("\r\n", "\n")
    return len(prefix.encode("utf-16-le")) // 2 if convention.startswith("utf16") else len(prefix)


@pytest.mark.parametrize("convention", ["codepoints", "utf16", "codepoints-lf"])
@pytest.mark.parametrize("named", [True, False], ids=["quoted-names", "unnamed"])
def test_each_convention_is_detected_and_converted(convention: str, named: bool, tmp_path: Path):
    text = CRLF_EMOJI * 3
    wanted = ["The language barrier was hard 🎉 for me, 🇳🇴 is hard.", "I could not speak Norwegian at first 😅."]
    spans = []
    for quote in wanted:
        start = text.index(quote, len(CRLF_EMOJI) * 2)  # late in the text, after many emoji and line endings
        spans.append(
            (
                _units(text, start, convention),
                _units(text, start + len(quote), convention),
                quote[:20] + "…" if named else "",
            )
        )
    origin = "MAXQDA 2022" if convention != "utf16" else "NVivo 14"
    if named and convention == "utf16":
        origin = "ATLAS.ti 23"  # names, not the origin, must decide
    path = foreign_qdpx(tmp_path / "foreign.qdpx", text=text, spans=spans, origin=origin, bom=True)
    result = import_qdpx(path, out=tmp_path / "out")
    written = (tmp_path / "out" / "transcripts" / "Interview 1.txt").read_bytes().decode("utf-8")
    assert written == text  # BOM dropped, CRLF kept
    coded = pd.read_csv(tmp_path / "out" / "coded" / "Sebastian P.csv", keep_default_na=False)
    assert [written[a:b] for a, b in zip(coded.start_char, coded.end_char)] == wanted
    assert result.sources[0].offsets.startswith(
        {"codepoints": "Unicode code points", "utf16": "UTF-16", "codepoints-lf": "code points with CRLF"}[convention]
    )


def test_offset_map_refuses_offsets_inside_a_character():
    text = "a😀b\r\nc"
    utf16 = OffsetMap(text, "utf16")
    assert [utf16.to_codepoint(u) for u in range(7)] == [0, 1, None, 2, 3, 4, 5]
    lf = OffsetMap(text, "codepoints-lf")
    assert lf.to_codepoint(4) == 5 and lf.to_codepoint(3) == 3 and lf.to_codepoint(6) is None
    assert detect_convention("plain", [RawSelection(0, 5, "plain")]).convention == "codepoints"


# --- real files from other tools ----------------------------------------------------------------

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/refi-qda is not available")


@pytest.fixture(scope="module")
def nvivo(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/refi-qda is not available")
    out = tmp_path_factory.mktemp("nvivo") / "nvivo"
    return import_qdpx(SHARED / "nvivo-win12-comments.qdpx", out=out), out


@needs_shared
def test_nvivo_utf16_offsets_land_on_whole_comments(nvivo):
    result, out = nvivo
    assert result.origin == "NVivo for Windows 12.6"
    assert result.sources[0].offsets.startswith("UTF-16 code units")
    text = (out / "transcripts" / "videos_selection.txt").read_bytes().decode("utf-8")
    assert text.startswith("video_id\r\n")  # the BOM is dropped and not counted
    coded = pd.read_csv(out / "coded" / "floriansipos.csv", keep_default_na=False)
    assert len(coded) == 97 and coded[["start_char", "end_char"]].drop_duplicates().shape[0] == 20
    for start, end in zip(coded.start_char, coded.end_char):  # each selection is one or more whole lines
        assert text[start - 2 : start] == "\r\n", (start, end)
        assert text[end : end + 2] == "\r\n" or text[end - 2 : end] == "\r\n", (start, end)
    quotes = {text[a:b] for a, b in zip(coded.start_char, coded.end_char)}
    assert "Mi az a fityesznek? Akkor írják át amikor akarják 🤣🤣🤣" in quotes
    assert "Nem tehetik kötelezővé! 😡😡" in quotes


@needs_shared
def test_nvivo_codebook_and_coder_file_are_usable(nvivo):
    result, out = nvivo
    codebook = load_codebook(out / "codebook.yaml")
    assert len(codebook.themes) == 60 and all(not t.rules for t in codebook.themes)
    assert {g.label for g in codebook.groups} >= {"4. Perceived Barriers – Észlelt akadályok"}
    gold = load_gold(out / "coded")
    assert set(gold["theme"]) <= set(codebook.theme_ids) and result.unknown_codes == {}


@needs_shared
@pytest.mark.parametrize("name", ["blank-atlas-project", "target-atlas-project"])
def test_atlas_projects_without_sources_import_and_say_so(name: str, tmp_path: Path):
    result = import_qdpx(SHARED / f"{name}.qdpx", out=tmp_path / "out")
    assert result.origin.startswith("ATLAS.ti") and result.sources == [] and result.coders == {}
    assert any("no text sources" in w for w in result.warnings)
    if name == "target-atlas-project":
        codebook = load_codebook(result.codebook_path)
        assert [g.label for g in codebook.groups] == ["Commits"] and len(codebook.themes) == 3
    else:
        assert result.written == [] and not (tmp_path / "out").exists()


# --- mapping onto a codebook --------------------------------------------------------------------


def test_codes_are_mapped_onto_a_given_codebook_and_unknown_ones_kept(tmp_path: Path):
    text = "Respondent: The language barrier was hard. Budgets were tight.\n"
    path = foreign_qdpx(
        tmp_path / "f.qdpx",
        text=text,
        spans=[(12, 42, ""), (43, 62, "")],
        origin="MAXQDA 2022",
        folder="sources",
        qde="project.qde",
        codes=("Language barrier", "Lack of resources"),
    )
    result = import_qdpx(path, out=tmp_path / "out", codebook_path=MINIMAL)
    coded = pd.read_csv(tmp_path / "out" / "coded" / "Sebastian P.csv", keep_default_na=False)
    assert list(coded.theme) == ["language_barrier", "lack_of_resources"]
    assert result.unknown_codes == {"lack_of_resources": ("Lack of resources", 1)}


def test_selections_that_do_not_fit_are_listed_and_memos_kept_as_notes(tmp_path: Path):
    text = "Respondent: The language barrier was hard.\n"
    path = foreign_qdpx(
        tmp_path / "f.qdpx",
        text=text,
        spans=[(12, 42, ""), (12, 4000, "")],
        origin="QualCoder 3.5",
        memo="check with the team",
    )
    result = import_qdpx(path, out=tmp_path / "out")
    coded = pd.read_csv(tmp_path / "out" / "coded" / "Sebastian P.csv", keep_default_na=False)
    assert list(zip(coded.start_char, coded.end_char, coded.note)) == [(12, 42, "check with the team")]
    assert any("1 selection(s) do not fit" in item and "12-4000" in item for item in result.not_imported)


def _with_qde(source: Path, target: Path, edit) -> Path:
    """A copy of a .qdpx whose project.qde is passed through `edit`."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["project.qde"] = edit(members["project.qde"].decode("utf-8")).encode("utf-8")
    return _zip(target, members)


def test_malformed_provenance_records_are_listed_and_the_rest_imported(exported: Path, tmp_path: Path):
    def spoil(qde: str) -> str:
        first, second = re.findall(r'\{"theme": "[^\n<]*\}', qde)[:2]
        spoiled = qde.replace(first, re.sub(r'"coder": "[^"]*", ', "", first), 1)
        return spoiled.replace(second, second[:-1] + ', "matched": {"nested": [1, 2]}}', 1)

    path = _with_qde(exported, tmp_path / "spoiled.qdpx", spoil)
    result = import_qdpx(path, out=tmp_path / "out")
    problems = [item for item in result.not_imported if "provenance note" in item]
    assert len(problems) == 2 and any("no 'coder'" in p for p in problems), problems
    assert any("'matched' is not a single value" in p for p in problems), problems
    assert all(re.search(r"line \d+: ", p) for p in problems)
    provenance = pd.read_csv(tmp_path / "out" / "provenance.csv", dtype=str, keep_default_na=False)
    assert result.provenance_rows == len(provenance) and (provenance.coder != "").all()
    full = pd.read_csv(tmp_path / "out" / "coded" / "qualcode.csv")
    assert len(full) == sum(result.coders.values())


def test_an_import_that_fails_while_writing_leaves_nothing(exported: Path, tmp_path: Path, monkeypatch):
    import pipeline.refi.reader as reader

    def fail(frame, path):
        raise OSError("disk full")

    monkeypatch.setattr(reader, "write_csv", fail)
    with pytest.raises(OSError, match="disk full"):
        import_qdpx(exported, out=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_import_refuses_to_write_into_a_folder_with_files(exported: Path, tmp_path: Path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ExchangeError, match="not empty"):
        import_qdpx(exported, out=tmp_path)
    import_qdpx(exported, out=tmp_path, force=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"


# --- codebooks from other tools -----------------------------------------------------------------


def test_import_qdc_of_another_tools_codebook_gives_a_valid_codebook_with_empty_rules(tmp_path: Path):
    result = import_qdc(REFI / "spec-example.qdc", out=tmp_path / "codebook.yaml")
    codebook = load_codebook(tmp_path / "codebook.yaml")
    assert {t.id for t in codebook.themes} == {"economy", "health_care", "conservatives", "liberals"}
    assert codebook.theme("economy").definition == "Anything about jobs or taxes or business"
    assert all(t.rules == [] for t in codebook.themes) and result.codebook.name == "spec-example"
    assert "rules" in (tmp_path / "codebook.yaml").read_text().split("\n", 3)[1]  # the header says so
    with pytest.raises(ExchangeError, match="already exists"):
        import_qdc(REFI / "spec-example.qdc", out=tmp_path / "codebook.yaml")


def test_descriptions_carry_definitions_and_notes_both_ways(tmp_path: Path):
    codebook = load_codebook(MINIMAL)
    (tmp_path / "c.qdc").write_bytes(qdc_bytes(codebook))
    theme = read_refi_codebook(tmp_path / "c.qdc").codebook.theme("language_barrier")
    assert theme.examples == codebook.theme("language_barrier").examples
    free, fields = parse_description("Free text\n\nInclude: a\nsecond line\n\nExclude: b")
    assert (free, fields) == ("Free text", {"include": "a\nsecond line", "exclude": "b"})


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Language barrier", "language_barrier"),
        ("1. Perceived Susceptibility – Észlelt fogékonyság", "code_1_perceived_susceptibility_eszlelt_fogekonysag"),
        ("Språk og kultur (Ø)", "sprak_og_kultur_o"),
        ("Coke::diet Coke", "coke_diet_coke"),
    ],
)
def test_snake_ids(name: str, expected: str):
    assert snake_id(name) == expected


# --- hostile input ------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
    return path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&lol3;"/>"""
GOOD_QDE = b'<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>'


@pytest.mark.parametrize(
    "members, message",
    [
        ({"project.qde": GOOD_QDE, "../evil.txt": b"x"}, "unsafe member name '../evil.txt'"),
        ({"project.qde": GOOD_QDE, "/etc/evil.txt": b"x"}, "absolute path"),
        ({"project.qde": GOOD_QDE, "sources/bomb.txt": b"\0" * (3 * 2**20)}, "zip bomb"),
        ({"notes.txt": b"hello"}, "no project.qde"),
        ({"project.qde": BILLION_LAUGHS}, "unsafe XML"),
        ({"project.qde": b"<Project><unclosed></Project>"}, "not well-formed XML"),
        ({"project.qde": b'<CodeBook xmlns="urn:QDA-XML:codebook:1.0"/>'}, "not a REFI-QDA project"),
    ],
    ids=["parent-dir", "absolute", "zip-bomb", "no-project", "billion-laughs", "malformed", "wrong-root"],
)
def test_hostile_archives_fail_with_one_clear_line(members, message, tmp_path: Path):
    path = _zip(tmp_path / "hostile.qdpx", members)
    with pytest.raises(ExchangeError, match=message) as caught:
        import_qdpx(path, out=tmp_path / "out", max_bytes=2**20)
    assert isinstance(caught.value, QualcodeError) and "\n" not in str(caught.value)
    assert str(path) in str(caught.value) and not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_a_file_that_is_not_a_qdpx_is_refused(tmp_path: Path):
    path = tmp_path / "notes.qdpx"
    path.write_text("just some text")
    with pytest.raises(ExchangeError, match="not a ZIP archive"):
        import_qdpx(path)


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", GOOD_QDE)
        archive.writestr("sources/bomb.txt", b"\0" * (64 * 2**20))
    assert len(buffer.getvalue()) < 2**20  # highly compressible: small on disk, 64 MB inflated
    (tmp_path / "bomb.qdpx").write_bytes(buffer.getvalue())
    with pytest.raises(ExchangeError, match="more than the limit"):
        import_qdpx(tmp_path / "bomb.qdpx", max_bytes=16 * 2**20)


# --- the commands -------------------------------------------------------------------------------


def qualcode(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pipeline"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_commands_export_and_import_through_the_entry_point(project: Path, tmp_path: Path):
    qdpx, qdc = tmp_path / "p.qdpx", tmp_path / "c.qdc"
    done = qualcode(
        "export-qdpx",
        "--out",
        str(qdpx),
        "--transcripts",
        str(project / "transcripts"),
        "--codebook",
        str(MINIMAL),
        "--reports",
        str(project / "reports"),
    )
    assert done.returncode == 0, done.stderr
    assert "4 transcripts" in done.stderr and "users: qualcode" in done.stderr
    done = qualcode("import-qdpx", str(qdpx), "--codebook", str(MINIMAL), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "imported" / "Minimal test codebook" / "coded" / "qualcode.csv").is_file()
    assert "offsets read as Unicode code points" in done.stderr
    done = qualcode("export-qdc", "--out", str(qdc), "--codebook", str(MINIMAL))
    assert done.returncode == 0 and qdc.is_file(), done.stderr
    done = qualcode("import-qdc", str(REFI / "spec-example.qdc"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 themes" in done.stderr and "rules are empty" in done.stderr
    assert yaml.safe_load((tmp_path / "codebook.yaml").read_text())["themes"][0]["rules"] == []


def test_command_errors_are_one_line(tmp_path: Path):
    (tmp_path / "x.qdpx").write_text("not a zip")
    done = qualcode("import-qdpx", str(tmp_path / "x.qdpx"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "not a ZIP archive" in done.stderr


def test_export_needs_a_run_and_matching_transcripts(project: Path, tmp_path: Path):
    with pytest.raises(ExchangeError, match="run `qualcode run` first"):
        export_qdpx(
            transcripts_dir=project / "transcripts",
            codebook_path=MINIMAL,
            reports_dir=tmp_path,
            out=tmp_path / "x.qdpx",
        )
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "plain.txt").write_text(LF_PLAIN.replace("everywhere", "somewhere"))
    with pytest.raises(ExchangeError, match="is not in the transcripts folder") as caught:
        export_qdpx(
            transcripts_dir=tmp_path / "transcripts",
            codebook_path=MINIMAL,
            reports_dir=project / "reports",
            out=tmp_path / "x.qdpx",
        )
    assert "tags.csv: row " in str(caught.value)  # located by file and row

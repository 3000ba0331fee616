"""Tests for pipeline.ingest: speaker layouts, exact offsets, metadata, encodings and bad files."""

from __future__ import annotations

import codecs
from pathlib import Path

import docx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.errors import TranscriptError
from pipeline.ingest import speakers
from pipeline.ingest.decode import decode_text, utf8_chunks
from pipeline.ingest.metadata import load_metadata, text_lines
from pipeline.ingest.read import (
    NO_LABELS_WARNING,
    TRANSCRIPT_SUFFIXES,
    discover,
    problems,
    read_folder,
    read_transcript,
    scan,
)
from pipeline.ingest.records import Skipped, Transcript
from pipeline.ingest.speakers import Event, _may_name, norm

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
ROOT = Path(__file__).resolve().parent.parent
I, R = "interviewer", "respondent"  # noqa: E741  (the case tables read as I/R, like the transcripts)

# fixture -> (warnings, [(speaker, role, content), ...])
EXPECTED: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {
    "plain.txt": (
        [],
        [
            ("Interviewer", I, "How did the exchange start?"),
            ("Respondent", R, "Through a partner university.\nWe applied in spring."),
            ("Interviewer", I, "What changed afterwards?"),
            ("Respondent", R, "The lab adopted new methods."),
        ],
    ),
    "qa.txt": (
        [],
        [
            ("Q", I, "What did you teach?"),
            ("A", R, "Statistics for the master's programme."),
            ("Q", I, "Would you go again?"),
            ("A", R, "Yes, without hesitation."),
        ],
    ),
    "two_interviewers.txt": (
        [],
        [
            ("Interviewer 1", I, "Welcome. Could you introduce yourself?"),
            ("Respondent", R, "I coordinate the nursing programme."),
            ("Interviewer 2", I, "How long was your stay?"),
            ("Respondent", R, "Six months in Bergen."),
        ],
    ),
    "names_front_matter.md": (
        [],
        [
            ("Kari Nilsen", I, "What was the main outcome?"),
            ("Dr. Mwale", R, "A joint curriculum in public health."),
            ("Kari Nilsen", I, "Is it still running?"),
            ("Dr. Mwale", R, "Yes, with twenty students a year."),
        ],
    ),
    "initials_timestamps.txt": (
        ["speaker roles guessed from question marks: AB=interviewer"],
        [
            ("AB", I, "Can you describe the partnership?"),
            ("KN", R, "It began with a shared grant."),
            ("AB", I, "Who led it?"),
            ("KN", R, "The dean in Lilongwe."),
            ("KN", R, "And later the department."),
        ],
    ),
    "otter.txt": (
        ["speaker roles guessed from question marks: Kari Nilsen=interviewer"],
        [
            ("Kari Nilsen", I, "So what did the students gain from the exchange?"),
            ("Speaker 1", R, "Confidence, mostly. And a network."),
            ("Kari Nilsen", I, "Did that last?"),
            ("Speaker 1", R, "Yes."),
        ],
    ),
    "rev.txt": (
        ["speaker roles guessed from question marks: Speaker 1=interviewer"],
        [
            ("Speaker 1", I, "Thanks for joining. What is your role?"),
            ("Speaker 2", R, "I am a lecturer in engineering."),
            ("Speaker 1", I, "And before the exchange?"),
            ("Speaker 2", R, "A PhD student."),
        ],
    ),
    "markdown_bold.md": (
        [],
        [
            ("Interviewer", I, "What surprised you most?"),
            ("Respondent", R, "The informal supervision style."),
            ("Interviewer", I, "Anything else?"),
            ("Respondent", R, "The winters."),
        ],
    ),
    "teams.vtt": (
        ["speaker roles guessed from question marks: Kari Nilsen=interviewer"],
        [
            ("Kari Nilsen", I, "What did you learn during the stay?"),
            ("Chikondi Mwale", R, "Mostly how to run a lab\non a small budget."),
            ("Chikondi Mwale", R, "And how to write grants."),
        ],
    ),
    "zoom.vtt": (
        ["speaker roles guessed from question marks: Kari Nilsen=interviewer"],
        [
            ("Kari Nilsen", I, "Can you hear me?"),
            ("Chikondi Mwale", R, "Yes, clearly."),
            ("Kari Nilsen", I, "Tell me about the project."),
            ("Chikondi Mwale", R, "It trained thirty nurses."),
        ],
    ),
    "subtitles.srt": (
        [],
        [
            ("Interviewer", I, "What was the hardest part?"),
            ("Respondent", R, "Finding housing\nfor the visiting staff."),
            ("Respondent", R, "Visas, too."),
        ],
    ),
    "no_labels.txt": (
        [NO_LABELS_WARNING],
        [
            ("", R, "Field note, visit to the teaching hospital."),
            ("", R, "The ward runs two shifts. Nurses trained in the exchange lead the morning handover."),
            ("", R, "Equipment from the partner is still in use: the monitors work."),
        ],
    ),
    "crlf.txt": (
        [],
        [
            ("Interviewer", I, "How many staff travelled?"),
            ("Respondent", R, "Four in total.\r\nTwo were technicians."),
            ("Interviewer", I, "Thank you."),
        ],
    ),
    "continuation.txt": (
        [],
        [
            ("Interviewer", I, "Could you walk me through the first year?"),
            (
                "Respondent",
                R,
                "The first months were about logistics.\n\nThen teaching started, and we co-wrote a course.",
            ),
            ("Respondent", R, "After that we published together."),  # split around the [00:12:40] line
            ("Interviewer", I, "Thank you."),
        ],
    ),
    # only the moderator is labelled: the unlabelled lines, and the text before the first label, are the participant's
    "think_aloud.txt": (
        ["only MODERATOR is labelled: unlabelled text read as Participant (respondent)"],
        [
            (
                "Participant",
                R,
                "Okay, so this is the start page. I can see the logo and a big green button that says Book now. "
                "I suppose that is where I begin, but I would rather check my existing appointments first.",
            ),
            ("MODERATOR", I, "Please go ahead and do what you would normally do. Where would you look first?"),
            (
                "Participant",
                R,
                "I'd look at the top menu. There is \"My page\" here, I'll click that.\n"
                "Hmm, it's asking me to log in again. I didn’t expect that, I logged in a minute ago.",
            ),
            ("MODERATOR", I, "What did you expect to happen?"),
            ("Participant", R, "That it would remember me. On my phone it always does."),
            ("MODERATOR", I, "Okay. Take your time."),
            (
                "Participant",
                R,
                "Right, I'm in. I see two appointments. The second one is the follow-up, I think? "
                "It doesn't say which clinic.",
            ),
            ("MODERATOR", I, "Is anything missing on this page?"),
            ("Participant", R, "The address of the clinic. And whether I need to bring anything."),
        ],
    ),
    # ATLAS.ti's Markdown export: bold / bold-italic labels alone on their line, hard line breaks (`\`) ending lines
    "atlas_ti.md": (
        [],
        [
            (
                "Interviewer",
                I,
                "Thank you for taking the time. Could you tell me how you became involved in the exchange?",
            ),
            ("Participant", R, "Of course. I was teaching at the nursing college when the call came out."),
            ("Participant", R, "My head of department encouraged me to apply."),  # split at the hard break
            ("Interviewer", I, "What was the hardest part of the first month?"),
            ("Participant", R, "Honestly, the cold. [laughs] And the language in the ward meetings."),
            ("Interviewer", I, "Did anything change when you came back?"),
            ("Participant", R, "We started a weekly case discussion. It is still running."),
        ],
    ),
    "false_positive.txt": (
        [],
        [
            ("Interviewer", I, "What was the main obstacle?"),
            (
                "Respondent",
                R,
                "Money. The problem was this: we had no budget.\n"
                "Honestly: nobody expected the costs.\nNote: the partner covered travel later.",
            ),
            ("Interviewer", I, "And at 10:30 the meeting ended?"),
            ("Respondent", R, "Yes. See http://example.org for the report."),
        ],
    ),
}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write a test file (str as UTF-8, bytes as given), creating parent folders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_docx(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table):
            for cell, value in zip(row.cells, values):
                cell.text = value
    document.save(path)
    return path


def check_offsets(transcript: Transcript) -> None:
    """Each turn's span is stripped content with no label markup at its ends; for text formats `text` is exactly
    the file decoded."""
    for turn in transcript.turns:
        content = transcript.text[turn.start_char : turn.end_char]
        assert content and content == content.strip(), turn
        assert not content.startswith(("*", "_", "<v")) and not content.endswith(("\\", "*", "</v>")), turn
        assert not (turn.speaker and content.startswith(turn.speaker)), turn
    if transcript.format != "docx":
        assert transcript.text == transcript.path.read_bytes().decode(transcript.encoding)


def turns_of(transcript: Transcript) -> list[tuple[str, str, str]]:
    return [(t.speaker, t.role, transcript.text[t.start_char : t.end_char]) for t in transcript.turns]


# --- fixtures: every layout -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_turns_roles_and_offsets(name: str) -> None:
    warnings, expected = EXPECTED[name]
    transcript = read_transcript(FIXTURES / name)
    assert turns_of(transcript) == expected
    assert transcript.warnings == warnings
    assert transcript.source == name
    assert transcript.format == name.rsplit(".", 1)[1]
    check_offsets(transcript)


LAYOUT_OF = {
    "atlas_ti.md": "stacked",
    "continuation.txt": "inline",
    "crlf.txt": "inline",
    "false_positive.txt": "inline",
    "initials_timestamps.txt": "inline",
    "markdown_bold.md": "inline",
    "names_front_matter.md": "inline",
    "no_labels.txt": "unlabelled",
    "otter.txt": "stacked",
    "plain.txt": "inline",
    "qa.txt": "inline",
    "rev.txt": "stacked",
    "subtitles.srt": "captions",
    "teams.vtt": "captions",
    "think_aloud.txt": "one-sided",
    "two_interviewers.txt": "inline",
    "zoom.vtt": "captions",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_layout_is_inferred(name: str) -> None:
    assert read_transcript(FIXTURES / name).layout == LAYOUT_OF[name]


@pytest.mark.parametrize("name", ["think_aloud.txt", "atlas_ti.md"])
def test_turns_and_the_lines_between_them_cover_the_file(name: str) -> None:
    """Nothing spoken is lost: outside the turns only labels, markup, blank lines and the header lines remain."""
    transcript = read_transcript(FIXTURES / name)
    rest = list(transcript.text)
    for turn in transcript.turns:
        rest[turn.start_char : turn.end_char] = " " * (turn.end_char - turn.start_char)
    left = [line.strip() for line in "".join(rest).splitlines() if line.strip()]
    assert (
        left
        == {
            "think_aloud.txt": [
                "Think-aloud session 4: booking a follow-up appointment",
                "Date: 14 May 2024",
                *["MODERATOR:"] * 4,
            ],
            "atlas_ti.md": [
                "# Interview 07: lecturer, nursing college, Mzuzu",
                "Document group: Malawi\\",
                "Exported from ATLAS.ti on 2 May 2024",
                "**Interviewer**\\",
                "***Participant***\\",
                "\\",  # the hard break closing the participant's first line
                *["**Interviewer**\\", "***Participant***\\"] * 2,
            ],
        }[name]
    )


def test_every_fixture_has_expectations() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix in TRANSCRIPT_SUFFIXES}
    assert on_disk == set(EXPECTED)


def test_fixture_folder_discovers_cleanly() -> None:
    transcripts, skipped = discover(FIXTURES)
    assert problems(skipped) == [] and [s.source for s in skipped] == [".gitattributes"]
    assert [t.source for t in transcripts] == sorted(EXPECTED)


def test_crlf_kept_in_text() -> None:
    transcript = read_transcript(FIXTURES / "crlf.txt")
    assert "\r\n" in transcript.text and transcript.text.count("\r\n") == transcript.text.count("\n")


def test_offsets_slice_the_original_file() -> None:
    path = FIXTURES / "names_front_matter.md"
    original = path.read_text(encoding="utf-8")
    transcript = read_transcript(path)
    assert [original[t.start_char : t.end_char] for t in transcript.turns][1] == "A joint curriculum in public health."


# --- front matter and metadata ----------------------------------------------------------------


def test_front_matter_parsed_and_typed() -> None:
    transcript = read_transcript(FIXTURES / "names_front_matter.md")
    assert transcript.id == "mw-07"
    assert transcript.metadata == {
        "id": "mw-07",
        "institution": "University of Malawi",
        "country": "Malawi",
        "exchange_months": 6,
        "synthetic": True,
        "names": ["Kari Nilsen", "Chikondi Mwale"],
        "interviewer": "Kari Nilsen",
    }
    assert transcript.text.startswith("---\nid: mw-07\n")


@pytest.mark.parametrize(
    ("front", "line", "message"),
    [
        ("---\nid: a\ncountry: [Kenya\n---\n", 4, "malformed YAML front matter"),
        ("---\nid: a\n  bad: indent\n---\n", 3, "malformed YAML front matter"),
        ("---\nid: a\nnote: x: y\n---\n", 3, "malformed YAML front matter"),
        ("---\nid: a\n", 1, "never closed"),
        ("---\nsynthetic: maybe\n---\n", None, "synthetic must be true or false"),
        ("---\nspeakers: [AB, KN]\n---\n", None, "'speakers' must map"),
        ('---\nid: a\ncountry: "Ke\\udc00nya"\n---\n', 3, "surrogate escape (\\udc00) is not a character"),
        ("---\nid: a\nnote: " + "[" * 5000 + "]" * 5000 + "\n---\n", 1, "nested too deeply"),
        ("---\nid: a\nnote: " + "{a: " * 80 + "1" + "}" * 80 + "\n---\n", 3, "nested too deeply"),
    ],
)
def test_malformed_front_matter(tmp_path: Path, front: str, line: int | None, message: str) -> None:
    path = write(tmp_path, "a.md", front + "Interviewer: Hello?\nRespondent: Hi.\n")
    with pytest.raises(TranscriptError) as caught:
        read_transcript(path)
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_rules_around_a_title_are_not_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "---\nInterview 5\n---\nInterviewer: Hello?\nRespondent: Hi.\n")
    transcript = read_transcript(path)
    assert (transcript.metadata, len(transcript.turns), transcript.warnings) == ({}, 2, [])


def test_front_matter_with_crlf_reports_the_right_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "---\r\nid: a\r\nx: [1\r\n---\r\nInterviewer: Hi?\r\n")
    with pytest.raises(TranscriptError) as caught:
        read_transcript(path)
    assert caught.value.line == 4


def test_speakers_mapping_sets_roles_and_warns_on_unknown_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.txt",
        (
            "---\nspeakers:\n  AB: interviewer\n  KN: Respondent\n  Tolk: interpreter\n  Ghost: respondent\n---\n"
            "AB: Welcome, thanks for coming.\nKN: Shall we start?\nTolk: She asks if we start.\nAB: Yes.\n"
        ),
    )
    transcript = read_transcript(path)
    assert [(t.speaker, t.role) for t in transcript.turns] == [
        ("AB", "interviewer"),
        ("KN", "respondent"),
        ("Tolk", "other"),
        ("AB", "interviewer"),
    ]
    assert transcript.warnings == ["metadata speakers with no turns in this transcript: Ghost"]


def test_interviewer_key_makes_the_others_respondents(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "AB: We begin.\nKN: Do we? Really?\nAB: Yes.\nKN: Fine?\n")
    transcript = read_transcript(path, metadata={"interviewer": ["AB"]})
    assert [(t.speaker, t.role) for t in transcript.turns][:2] == [("AB", "interviewer"), ("KN", "respondent")]
    assert transcript.warnings == []


def test_front_matter_overrides_sidecar_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, "sub/a.md", "---\nid: front\ncountry: Kenya\n---\nInterviewer: Hi?\n")
    transcript = read_transcript(path, root=tmp_path, metadata={"id": "side", "country": "Nepal", "sector": "health"})
    assert (transcript.id, transcript.source) == ("front", "sub/a.md")
    assert transcript.metadata == {"id": "front", "country": "Kenya", "sector": "health"}


METADATA_CSV = (
    "file,id,institution,country,side,sector,role,exchange_months,synthetic,names,extra\n"
    "a.txt,A1,Haukeland,Norway,north,health,nurse,12,true,Silje; Ingrid ;;,x\n"
    "sub/b.txt,,Mnazi Mmoja,Tanzania,south,health,doctor,6-12,No,,\n"
    '"c.txt",C,"Uni, Dept",Malawi,south,education,teacher, 3 ,1,Ann,\n'
)


def test_load_metadata_coerces_and_keeps_extra_columns(tmp_path: Path) -> None:
    write(tmp_path, "metadata.csv", "\ufeff" + METADATA_CSV.replace("\n", "\r\n"))
    rows = load_metadata(tmp_path)
    assert set(rows) == {"a.txt", "sub/b.txt", "c.txt"}
    assert rows["a.txt"] == {
        "file": "a.txt",
        "id": "A1",
        "institution": "Haukeland",
        "country": "Norway",
        "side": "north",
        "sector": "health",
        "role": "nurse",
        "exchange_months": 12,
        "synthetic": True,
        "names": ["Silje", "Ingrid"],
        "extra": "x",
    }
    assert rows["sub/b.txt"]["id"] is None
    assert rows["sub/b.txt"]["exchange_months"] == "6-12"
    assert rows["sub/b.txt"]["synthetic"] is False
    assert rows["sub/b.txt"]["names"] == []
    assert rows["c.txt"]["institution"] == "Uni, Dept"
    assert (rows["c.txt"]["exchange_months"], rows["c.txt"]["synthetic"]) == (3, True)


def test_csv_speakers_and_interviewer_columns_set_roles(tmp_path: Path) -> None:
    write(
        tmp_path,
        "metadata.csv",
        (
            "file,speakers,interviewer\n"
            "zoom.vtt,Kari Nilsen=interviewer; Chikondi Mwale = respondent,\n"
            "two.txt,,AB; CD\n"
        ),
    )
    write(tmp_path, "zoom.vtt", (FIXTURES / "zoom.vtt").read_bytes())
    write(tmp_path, "two.txt", "AB: Hello.\nCD: Welcome.\nKN: Thanks?\nAB: Right.\nCD: Yes.\nKN: Sure?\n")
    transcripts, skipped = discover(tmp_path)
    assert problems(skipped) == []
    two, zoom = transcripts
    assert zoom.metadata["speakers"] == {"Kari Nilsen": "interviewer", "Chikondi Mwale": "respondent"}
    assert ({(t.speaker, t.role) for t in zoom.turns}, zoom.warnings) == (
        {("Kari Nilsen", I), ("Chikondi Mwale", R)},
        [],
    )
    assert two.metadata["interviewer"] == ["AB", "CD"]
    assert {(t.speaker, t.role) for t in two.turns} == {("AB", I), ("CD", I), ("KN", R)}


def test_load_metadata_absent_or_empty(tmp_path: Path) -> None:
    assert load_metadata(tmp_path) == {}
    write(tmp_path, "metadata.csv", "")
    assert load_metadata(tmp_path) == {}


@pytest.mark.parametrize(
    ("csv_text", "line", "message"),
    [
        ("id,country\nA,Kenya\n", 1, "needs a 'file' column"),
        ("file,id\na.txt,A\nb.txt,B,extra\n", 3, "row has 3 fields but the header has 2"),
        ("file,id\na.txt,A\na.txt,B\n", 3, "listed twice"),
        ("file,id\n,A\n", 2, "empty 'file' value"),
        ('file,id\na.txt,"A\nb.txt,"B\n', 3, "malformed CSV"),
        ("file,synthetic\na.txt,true\nb.txt,perhaps\n", 3, "synthetic must be true or false"),
        ("file,speakers\na.txt,KN interviewer\n", 2, "speakers must be 'label=role; label=role'"),
    ],
)
def test_malformed_metadata_csv(tmp_path: Path, csv_text: str, line: int, message: str) -> None:
    write(tmp_path, "metadata.csv", csv_text)
    with pytest.raises(TranscriptError) as caught:
        load_metadata(tmp_path)
    assert (caught.value.line, caught.value.path) == (line, str(tmp_path / "metadata.csv"))
    assert message in caught.value.message


# --- encodings ---------------------------------------------------------------------------------

DIALOGUE = "Interviewer: Was the café open?\nRespondent: It’s closed now.\n"


@pytest.mark.parametrize(
    ("data", "encoding", "warnings"),
    [
        (DIALOGUE.encode("utf-8"), "utf-8", []),
        (codecs.BOM_UTF8 + DIALOGUE.encode("utf-8"), "utf-8-sig", []),
        (DIALOGUE.encode("utf-16"), "utf-16", []),
        (codecs.BOM_UTF16_BE + DIALOGUE.encode("utf-16-be"), "utf-16", []),
        (DIALOGUE.encode("utf-32"), "utf-32", []),
        (DIALOGUE.encode("utf-16-le"), "utf-16-le", ["no byte-order mark: decoded as UTF-16-LE"]),
        (DIALOGUE.encode("utf-16-be"), "utf-16-be", ["no byte-order mark: decoded as UTF-16-BE"]),
        (
            ("Interviewer: Hello?\n" + DIALOGUE).encode("cp1252"),
            "cp1252",
            ["not valid UTF-8 (line 2); decoded as cp1252"],
        ),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16be-bom", "utf32-bom", "utf16le-nobom", "utf16be-nobom", "cp1252"],
)
def test_encodings(tmp_path: Path, data: bytes, encoding: str, warnings: list[str]) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", data))
    assert transcript.encoding == encoding
    assert transcript.warnings == warnings
    assert not transcript.text.startswith("\ufeff")
    assert turns_of(transcript)[-2:] == [
        ("Interviewer", I, "Was the café open?"),
        ("Respondent", R, "It’s closed now."),
    ]
    check_offsets(transcript)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_decode_text_follows_the_byte_order_mark_and_drops_it(encoding: str) -> None:
    assert decode_text(DIALOGUE.encode(encoding)) == DIALOGUE


def test_decode_text_is_strict_utf8_without_a_mark() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_text(DIALOGUE.encode("cp1252"))


# --- bad files -----------------------------------------------------------------------------------


def corrupt_docx(path: Path) -> None:
    write_docx(path, ["Interviewer: Hi?"])
    path.write_bytes(path.read_bytes()[:200])


BAD_FILES = [
    # (name, bytes or a writer, expected message, expected line)
    ("empty.txt", b"", "empty file", None),
    ("blank.md", b"  \n\r\n\t\n", "empty file", None),
    ("nul.txt", b"Interviewer: hi\x00\x01\x02\x03\xff\x00\x00\x10garbage" * 20, "binary file, not a transcript", None),
    ("fake.txt", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "binary file, not a transcript", None),
    ("zipped.srt", b"PK\x03\x04\x14\x00\x00\x00rest of a zip", "binary file, not a transcript", None),
    ("undecodable.txt", b"Interviewer: ok\nRespondent: \x81\x8d bad\n", "not valid UTF-8 or cp1252", 2),
    ("only_front_matter.md", b"---\nid: x\n---\n\n# Title only\n", "empty file", None),
    ("corrupt.docx", corrupt_docx, "not a readable .docx", None),
    ("text.docx", b"Interviewer: this is not a zip\n", "not a readable .docx", None),
    ("empty.docx", lambda p: write_docx(p, ["", "   "]), "empty file", None),
    ("zero.docx", b"", "empty file", None),
    ("noheader.vtt", b"00:00:01.000 --> 00:00:02.000\nHi\n", "first line must be WEBVTT", 1),
    ("headeronly.vtt", b"WEBVTT\n\nNOTE nothing here\n", "empty file", None),
    (
        "badtiming.vtt",
        b"WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nHi\n\n2\n00:00:03 --> later\nYo\n",
        "malformed cue timing",
        8,
    ),
    ("notiming.srt", b"1\n00:00:01,000 --> 00:00:02,000\nHi\n\n2\nno timing here\nYo\n", "cue has no timing line", 5),
    ("slides.pdf", b"%PDF-1.7\n", "not a transcript file type", None),
]


@pytest.mark.parametrize(("name", "content", "message", "line"), BAD_FILES, ids=[row[0] for row in BAD_FILES])
def test_bad_files_raise(tmp_path: Path, name: str, content, message: str, line: int | None) -> None:
    path = tmp_path / name
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)
    with pytest.raises(TranscriptError) as caught:
        read_transcript(path)
    assert message in caught.value.message
    assert caught.value.line == line
    assert str(path) in str(caught.value)


CONTROLLED_SPEECH = "Interviewer: Was the rotation useful?\nRespondent: Yes, mostly. Kjære kolleger, takk.\n" * 20


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.encode("cp1252") + b"\xe6",  # not UTF-8 (a lone byte), so decoded as cp1252
        lambda text: text.encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "cp1252", "utf-16"],
)
def test_text_with_more_than_5_percent_control_characters_is_binary(tmp_path: Path, encode) -> None:
    """Control characters (not tab or line breaks) are counted in every encoding: at most 5% of the text is kept."""
    path = tmp_path / "t.txt"
    controls = len(CONTROLLED_SPEECH) // 19 // 2 * 2  # n controls are at most 5% of the text while n <= length / 19
    for added, binary in ((controls, False), (controls + 4, True)):
        path.write_bytes(encode(CONTROLLED_SPEECH + "\x01\x1f" * (added // 2)))
        if binary:
            with pytest.raises(TranscriptError, match="binary file"):
                read_transcript(path)
        else:
            assert read_transcript(path).turns


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="cannot read file"):
        read_transcript(tmp_path / "gone.txt")


# --- docx ------------------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_rows(tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "a.docx",
        [
            "Interview 3, Lilongwe",
            "Interviewer: What changed?",
            "Respondent: The curriculum.",
            "",
            "It took two years.",
        ],
        table=[["Interviewer", "And the staff?"], ["Respondent", "They stayed."]],
    )
    transcript = read_transcript(path)
    assert transcript.text == (
        "Interview 3, Lilongwe\nInterviewer: What changed?\nRespondent: The curriculum.\n\nIt took two years.\n"
        "Interviewer\tAnd the staff?\nRespondent\tThey stayed."
    )
    assert (transcript.format, transcript.encoding, transcript.warnings) == ("docx", "utf-8", [])
    assert turns_of(transcript) == [
        ("Interviewer", I, "What changed?"),
        ("Respondent", R, "The curriculum.\n\nIt took two years."),
        ("Interviewer", I, "And the staff?"),
        ("Respondent", R, "They stayed."),
    ]
    check_offsets(transcript)


def test_docx_without_labels_is_one_turn_per_paragraph(tmp_path: Path) -> None:
    transcript = read_transcript(write_docx(tmp_path / "note.docx", ["First observation.", "", "Second one."]))
    assert turns_of(transcript) == [("", R, "First observation."), ("", R, "Second one.")]
    assert transcript.warnings == [NO_LABELS_WARNING]


# --- labels, roles and warnings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "speakers"),
    [
        ("Interviewer: Hi?\nInterviewee: Hello.\n", [("Interviewer", I), ("Interviewee", R)]),
        ("I: Hi?\nR: Hello.\n", [("I", I), ("R", R)]),
        ("Moderator: Hi?\nP1: Hello.\nParticipant 2: Hey.\n", [("Moderator", I), ("P1", R), ("Participant 2", R)]),
        ("Facilitator: Hi?\nInformant: Hello.\n", [("Facilitator", I), ("Informant", R)]),
        ("**Interviewer:** Hi?\n**Respondent**: Hello.\n", [("Interviewer", I), ("Respondent", R)]),
        ("Interviewer (00:01:15): Hi?\nRespondent [00:01:20]: Hello.\n", [("Interviewer", I), ("Respondent", R)]),
        ("Interviewer:\nHi?\nRespondent:\nHello.\n", [("Interviewer", I), ("Respondent", R)]),
        ("interviewer: Hi?\nRESPONDENT: Hello.\n", [("interviewer", I), ("RESPONDENT", R)]),
        ("Interviewer\tHi?\nRespondent\tHello.\n", [("Interviewer", I), ("Respondent", R)]),
        # speaker lines over the speech: Zoom's text export, Descript, Teams' text export
        ("[Kari Nilsen] 10:02:15\nHi?\n\n[Amina Juma] 10:02:20\nHello.\n", [("Kari Nilsen", I), ("Amina Juma", R)]),
        ("00:00:03 Kari Nilsen\nHi?\n\n00:00:09 Amina Juma\nHello.\n", [("Kari Nilsen", I), ("Amina Juma", R)]),
        ("Kari Nilsen 00:00:03\nHi?\nAmina Juma 00:00:09\nHello.\n", [("Kari Nilsen", I), ("Amina Juma", R)]),
        # a name in brackets after the role; a timestamp opening (Sonix) or closing (f4/MAXQDA) the speech
        ("Interviewer (Kari): Hi?\nParticipant (P03): Hello.\n", [("Interviewer (Kari)", I), ("Participant (P03)", R)]),
        ("Speaker 1: [00:00:05] Hi?\nSpeaker 2: [00:00:09] Hello.\n", [("Speaker 1", I), ("Speaker 2", R)]),
        ("I: Hi? #00:00:12-5#\n\nB: Hello. #00:00:20-1#\n", [("I", I), ("B", R)]),
        ("Int: Hi?\nResp: Hello.\n", [("Int", I), ("Resp", R)]),
        # R is the researcher beside P1 (and the respondent beside I): decided by who asks
        ("R: Hi?\nP1: Hello.\nR: And then?\nP1: Fine.\n", [("R", I), ("P1", R), ("R", I), ("P1", R)]),
        ("Q. Hi?\nA. Hello.\nQ. And then?\nA. Fine.\n", [("Q", I), ("A", R), ("Q", I), ("A", R)]),
        ("Kari Nilsen - 00:00:03\nHi?\n\nAmina Juma - 00:00:09\nHello.\n", [("Kari Nilsen", I), ("Amina Juma", R)]),
        # labels alone on their line over the speech, set apart by emphasis, brackets or a hard break (ATLAS.ti)
        ("**Interviewer**\\\nHi?\n\n***Participant***\\\nHello.\n", [("Interviewer", I), ("Participant", R)]),
        ("*Interviewer*\nHi?\n*Respondent*\nHello.\n", [("Interviewer", I), ("Respondent", R)]),
        ("***Interviewer:*** Hi?\n***Respondent:*** Hello.\n", [("Interviewer", I), ("Respondent", R)]),
        (
            "[Kari Nilsen]\nHi?\n\n[Amina Juma]\nHello.\n\n[Kari Nilsen]\nWhy?\n\n[Amina Juma]\nFunding.\n",
            [("Kari Nilsen", I), ("Amina Juma", R), ("Kari Nilsen", I), ("Amina Juma", R)],
        ),
        # bare names: speakers because they recur, alternate and stand over speech
        (
            "Kari Nilsen\nHi?\nAmina Juma\nHello.\nKari Nilsen\nWhy?\nAmina Juma\nFunding.\n",
            [("Kari Nilsen", I), ("Amina Juma", R), ("Kari Nilsen", I), ("Amina Juma", R)],
        ),
    ],
)
def test_label_variants(tmp_path: Path, body: str, speakers: list[tuple[str, str]]) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert [(t.speaker, t.role) for t in transcript.turns] == speakers
    assert [transcript.text[t.start_char : t.end_char] for t in transcript.turns][:2] == ["Hi?", "Hello."]
    check_offsets(transcript)


ONE_SIDED = [
    # only the interviewer is labelled (a role word): every other line, the first too, is the participant's
    (
        "Hi?\nMODERATOR: Open the app?\nOk.\nMODERATOR: And now?\nIt loads.\n",
        [
            ("Participant", R, "Hi?"),
            ("MODERATOR", I, "Open the app?"),
            ("Participant", R, "Ok."),
            ("MODERATOR", I, "And now?"),
            ("Participant", R, "It loads."),
        ],
        "only MODERATOR is labelled: unlabelled text read as Participant (respondent)",
    ),
    # only the respondent is labelled, and the unlabelled lines ask: they are the interviewer's
    (
        "What do you do?\nP1: I teach.\nFor how long?\nP1: Six years.\nWhere?\nP1: Zomba.\n",
        [
            ("Interviewer", I, "What do you do?"),
            ("P1", R, "I teach."),
            ("Interviewer", I, "For how long?"),
            ("P1", R, "Six years."),
            ("Interviewer", I, "Where?"),
            ("P1", R, "Zomba."),
        ],
        "only P1 is labelled: unlabelled text read as Interviewer (interviewer)",
    ),
    # a name: the side that asks is the interviewer
    (
        "KN: What changed?\nThe ward rounds.\n\nKN: Why?\nThe nurses lead them now.\n",
        [
            ("KN", I, "What changed?"),
            ("Participant", R, "The ward rounds."),
            ("KN", I, "Why?"),
            ("Participant", R, "The nurses lead them now."),
        ],
        "only KN is labelled: unlabelled text read as Participant (respondent)",
    ),
    # a label alone on its line takes the lines under it, up to a blank line
    (
        "MODERATOR:\nPlease open the app.\n\nIt is slow.\nMODERATOR:\nWhy?\n\nNo idea.\n",
        [
            ("MODERATOR", I, "Please open the app."),
            ("Participant", R, "It is slow."),
            ("MODERATOR", I, "Why?"),
            ("Participant", R, "No idea."),
        ],
        "only MODERATOR is labelled: unlabelled text read as Participant (respondent)",
    ),
]


@pytest.mark.parametrize(("body", "turns", "warning"), ONE_SIDED, ids=["moderator", "respondent", "name", "alone"])
def test_one_sided_labelling(tmp_path: Path, body: str, turns: list[tuple[str, str, str]], warning: str) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert (turns_of(transcript), transcript.warnings, transcript.layout) == (turns, [warning], "one-sided")
    check_offsets(transcript)


@pytest.mark.parametrize(
    ("body", "speakers", "layout"),
    [
        # one speaker's paragraphs, nobody asking: continuation, not a second speaker
        ("KN: We began in 2019.\n\nThen it grew.\n\nKN: Later we stopped.\n\nFunding ended.\n", {"KN"}, "inline"),
        # the respondent labelled, the unlabelled lines not asking: still the respondent's
        ("Respondent: We began.\n\nIt grew.\n\nRespondent: It ended.\n\nSadly.\n", {"Respondent"}, "inline"),
        # short lines that recur but are not speakers: a sentence, a non-speaker word, one unmarked word
        ("Kari agreed.\nWe met.\nKari agreed.\nWe left.\n", {""}, "unlabelled"),
        ("Yes\nI think so.\nYes\nAgain.\n", {""}, "unlabelled"),
        ("**Summary**\nIt went well.\n**Summary**\nAgain.\n", {""}, "unlabelled"),
        ("Monday\nWe visited the ward.\n\nMonday\nWe left early.\n", {""}, "unlabelled"),
    ],
)
def test_what_is_not_a_speaker_layout(tmp_path: Path, body: str, speakers: set[str], layout: str) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert ({t.speaker for t in transcript.turns}, transcript.layout) == (speakers, layout)


def test_speaker_spelling_is_unified_to_first_use(tmp_path: Path) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", "Interviewer: Hi?\nRespondent: Yes.\nINTERVIEWER: Ok?\n"))
    assert [t.speaker for t in transcript.turns] == ["Interviewer", "Respondent", "Interviewer"]


def test_initials_in_speech_are_not_speakers(tmp_path: Path) -> None:
    body = "Respondent: A. Smith was our coordinator.\nInterviewer: Who else?\nRespondent: B. Jones, mostly.\n"
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert [(t.speaker, transcript.text[t.start_char : t.end_char]) for t in transcript.turns] == [
        ("Respondent", "A. Smith was our coordinator."),
        ("Interviewer", "Who else?"),
        ("Respondent", "B. Jones, mostly."),
    ]


def test_prose_colons_are_not_speakers(tmp_path: Path) -> None:
    body = (
        "We visited the ward on Monday.\nThe problem was this: we had no budget.\n"
        "Note: the partner paid later.\nNote: check the invoices.\nAt 10:30 the meeting ended.\n"
    )
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert {t.speaker for t in transcript.turns} == {""}
    assert transcript.warnings == [NO_LABELS_WARNING]
    assert len(transcript.turns) == 1  # one paragraph


def test_repeated_name_labels_are_speakers_but_single_ones_are_not(tmp_path: Path) -> None:
    body = "Kari: How was it?\nMwale: Good.\nKari: Really?\nMwale: Yes.\nBottom line: it worked.\n"
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert [t.speaker for t in transcript.turns] == ["Kari", "Mwale", "Kari", "Mwale"]
    assert turns_of(transcript)[-1] == ("Mwale", R, "Yes.\nBottom line: it worked.")


def test_header_lines_declare_roles_and_are_not_turns(tmp_path: Path) -> None:
    body = (
        "Date: 12 March 2024\nInterviewer: AB\nRespondent: KN\n\n"
        "AB: Thanks for coming.\nKN: Happy to help?\nAB: Let us begin.\nKN: Sure.\n"
    )
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert [(t.speaker, t.role) for t in transcript.turns] == [("AB", I), ("KN", R), ("AB", I), ("KN", R)]
    assert transcript.warnings == []


def test_caption_speaker_named_once_still_counts(tmp_path: Path) -> None:
    body = (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nKari Nilsen: Ready?\n\n"
        "2\n00:00:02.000 --> 00:00:03.000\nAnna Berg: Sorry, I must leave.\n\n"
        "3\n00:00:03.000 --> 00:00:04.000\nKari Nilsen: Then we begin?\n\n"
        "4\n00:00:04.000 --> 00:00:05.000\nChikondi Mwale: Yes.\n"
    )
    transcript = read_transcript(write(tmp_path, "a.vtt", body))
    assert [(t.speaker, t.role) for t in transcript.turns] == [
        ("Kari Nilsen", I),
        ("Anna Berg", R),
        ("Kari Nilsen", I),
        ("Chikondi Mwale", R),
    ]
    assert transcript.warnings == ["speaker roles guessed from question marks: Kari Nilsen=interviewer"]


def test_roles_not_guessed_when_questions_are_even(tmp_path: Path) -> None:
    body = "AB: Is it?\nKN: Is it not?\nAB: Maybe.\nKN: Maybe.\n"
    transcript = read_transcript(write(tmp_path, "a.txt", body))
    assert {t.role for t in transcript.turns} == {R}
    assert len(transcript.warnings) == 1 and transcript.warnings[0].startswith("could not tell the interviewer")


def test_single_named_speaker_is_a_respondent(tmp_path: Path) -> None:
    transcript = read_transcript(write(tmp_path, "a.txt", "[00:00:01] KN: I think so?\n[00:00:09] KN: Yes.\n"))
    assert [(t.speaker, t.role) for t in transcript.turns] == [("KN", R), ("KN", R)]
    assert transcript.warnings == []


def test_long_preamble_is_warned_about(tmp_path: Path) -> None:
    preamble = " ".join(["word"] * 45)
    transcript = read_transcript(write(tmp_path, "a.txt", f"{preamble}\n\nInterviewer: Hi?\nRespondent: Yes.\n"))
    assert len(transcript.turns) == 2
    assert transcript.warnings == ["45 words before the first speaker label were not coded"]


def test_vtt_with_unlabelled_cues(tmp_path: Path) -> None:
    body = "WEBVTT Kind: captions\n\n00:01.000 --> 00:02.000\nHello there.\n\n00:02.500 --> 00:04.000\nSecond cue.\n"
    transcript = read_transcript(write(tmp_path, "a.vtt", body))
    assert turns_of(transcript) == [("", R, "Hello there."), ("", R, "Second cue.")]
    assert transcript.warnings == [NO_LABELS_WARNING]


# --- discover ------------------------------------------------------------------------------------------


def test_discover_reads_good_files_and_skips_bad_ones(tmp_path: Path) -> None:
    write(tmp_path, "metadata.csv", "file,id,country,exchange_months\nb.txt,B-7,Kenya,6\nsub/c.md,C,Nepal,x\n")
    write(tmp_path, "README.md", "# About these transcripts\n")
    write(tmp_path, "a.txt", "Interviewer: Hi?\nRespondent: Yes.\n")
    write(tmp_path, "b.txt", "Q: Why?\nA: Because.\n")
    write(tmp_path, "sub/c.md", "---\ncountry: Malawi\n---\nInterviewer: Hi?\n")
    write(tmp_path, "sub/bad.txt", b"\x00\x01binary\x00" * 10)
    write(tmp_path, "empty.srt", b"")
    write(tmp_path, "notes.pdf", b"%PDF-1.4\n")
    write(tmp_path, ".hidden.txt", "Interviewer: Hi?\n")
    write(tmp_path, ".git/x.txt", "Interviewer: Hi?\n")
    write(tmp_path, "~$a.docx", b"lock")
    write(tmp_path, "codes.yaml", "themes: []\n")
    transcripts, skipped = discover(tmp_path)
    assert [(t.source, t.id) for t in transcripts] == [("a.txt", "a"), ("b.txt", "B-7"), ("sub/c.md", "C")]
    assert transcripts[1].metadata == {"file": "b.txt", "id": "B-7", "country": "Kenya", "exchange_months": 6}
    assert transcripts[2].metadata["country"] == "Malawi" and transcripts[2].metadata["exchange_months"] == "x"
    assert [s.source for s in problems(skipped)] == ["codes.yaml", "empty.srt", "notes.pdf", "sub/bad.txt"]
    assert [s.source for s in skipped if s.ignored] == [
        ".git/x.txt",
        ".hidden.txt",
        "README.md",
        "metadata.csv",
        "~$a.docx",
    ]
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["empty.srt"] == f"{tmp_path / 'empty.srt'}: empty file"
    assert reasons["sub/bad.txt"].endswith("binary file, not a transcript")
    assert reasons["notes.pdf"].endswith("unsupported format .pdf: save it as .docx or .txt")


ELEVEN_FILES = {
    "a.txt": "Interviewer: Hi?\nRespondent: Yes.\n",
    "sub/b.md": "Interviewer: Hi?\nRespondent: Yes.\n",
    "metadata.csv": "file,id\na.txt,a\n",
    "README.md": "# About\n",
    "sub/README.md": "Interviewer: Hi?\nRespondent: A transcript someone called README.\n",
    ".DS_Store": "\x00\x00",
    "c.txt.bak": "Interviewer: Hi?\nRespondent: An old copy.\n",
    "codes.csv": "theme\nx\n",
    "interview_07": "Interviewer: Hi?\nRespondent: No extension.\n",
    "~$d.docx": "lock",
    "sub/metadata.csv": "file,id\nb.md,b\n",
}
ELEVEN_REASONS = {
    ".DS_Store": (True, "a hidden file"),
    "README.md": (True, "not a transcript: a README"),
    "c.txt.bak": (False, "not a transcript (.bak files are not read"),
    "codes.csv": (False, "not a transcript (.csv files are not read"),
    "interview_07": (False, "not a transcript (files without an extension are not read"),
    "metadata.csv": (True, "the transcripts' metadata"),
    "sub/README.md": (True, "a README (rename it to code it)"),
    "sub/metadata.csv": (True, "only the top-level metadata.csv is read"),
    "~$d.docx": (True, "an Office lock file"),
}


def test_discover_lists_every_file_it_does_not_code_with_its_reason(tmp_path: Path) -> None:
    for name, content in ELEVEN_FILES.items():
        write(tmp_path, name, content)
    transcripts, skipped = discover(tmp_path)
    assert [t.source for t in transcripts] == ["a.txt", "sub/b.md"]
    assert sorted([t.source for t in transcripts] + [s.source for s in skipped]) == sorted(ELEVEN_FILES)
    for s in skipped:
        ignored, words = ELEVEN_REASONS[s.source]
        assert s.ignored == ignored and words in s.reason, (s.source, s.reason)


def test_scan_reads_one_file_at_a_time_in_discover_order(tmp_path: Path) -> None:
    """`scan` is `discover` as a stream: the same files, reasons and order, each read only when it is reached."""
    for name, content in ELEVEN_FILES.items():
        write(tmp_path, name, content)
    transcripts, skipped = discover(tmp_path)
    expected = {item.source: item for item in [*transcripts, *skipped]}
    items = scan(tmp_path)
    first = next(items)
    (tmp_path / "sub" / "b.md").unlink()  # gone before scan reaches it: it was not read ahead
    streamed = [first, *items]
    assert sorted(item.source for item in streamed) == sorted(expected)
    for item in streamed:
        if item.source == "sub/b.md":
            assert isinstance(item, Skipped) and "cannot read file" in item.reason
        else:
            assert item == expected[item.source]


def test_discover_skips_later_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path, "one/a.txt", "Interviewer: Hi?\n")
    write(tmp_path, "two/a.txt", "Interviewer: Hello?\n")
    write(tmp_path, "x.md", "---\nid: a\n---\nInterviewer: Hey?\n")
    transcripts, skipped = discover(tmp_path)
    assert [t.source for t in transcripts] == ["one/a.txt"]
    assert [s.source for s in skipped] == ["two/a.txt", "x.md"]
    assert all("duplicate id 'a' (already used by one/a.txt)" in s.reason for s in skipped)


def test_discover_malformed_metadata_raises(tmp_path: Path) -> None:
    write(tmp_path, "metadata.csv", "id\nA\n")
    with pytest.raises(TranscriptError, match="metadata.csv:1: metadata.csv needs a 'file' column"):
        discover(tmp_path)


def test_discover_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="not found"):
        discover(tmp_path / "nope")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no readable transcripts (no .txt, .md, .docx, .vtt or .srt files)"),
        ({"notes.yaml": "x: 1\n"}, "no readable transcripts (notes.yaml: {dir}/notes.yaml: not a transcript (.yaml"),
        ({"metadata.csv": "file,id\n"}, "no readable transcripts (no .txt, .md, .docx, .vtt or .srt files)"),
        ({"a.txt": b"", "b.pdf": b"%PDF-1.4\n"}, "no readable transcripts (a.txt: {dir}/a.txt: empty file; b.pdf: "),
    ],
    ids=["empty", "no-transcript-files", "only-metadata", "none-readable"],
)
def test_read_folder_needs_a_readable_transcript(tmp_path: Path, files: dict[str, str | bytes], message: str) -> None:
    for name, content in files.items():
        write(tmp_path, name, content)
    with pytest.raises(TranscriptError) as caught:
        read_folder(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: " + message.format(dir=tmp_path))
    assert read_folder(tmp_path, allow_empty=True) == discover(tmp_path)


def test_read_folder_missing_folder(tmp_path: Path) -> None:
    for allow_empty in (False, True):
        with pytest.raises(TranscriptError, match="nope: transcripts folder not found"):
            read_folder(tmp_path / "nope", allow_empty=allow_empty)


# Blank runs that made the speaker regexes backtrack: 50,000 blanks took 15 s (`Name`) and 90 s (`Name:` ... x);
# 200,000 would take minutes to hours before the fix, a fraction of a second after.
@pytest.mark.parametrize(
    "line",
    ["Name{}", "Name{tabs}x", "Name:{}x", "Name [00:01]{}: x", "Name: x{}#00:00:12-5#", "{}Name: x"],
    ids=["label-then-spaces", "label-then-tabs", "colon-then-spaces", "timestamp-then-spaces", "trailing-ts", "indent"],
)
def test_long_blank_runs_are_read_in_linear_time_and_like_short_ones(tmp_path: Path, line: str) -> None:
    def turns(blanks: int) -> tuple[list[tuple[str, str]], Transcript]:
        text = "Interviewer: Hello?\n" + line.format(" " * blanks, tabs="\t" * blanks) + "\nInterviewer: Thanks.\n"
        transcript = read_transcript(write(tmp_path, f"{blanks}.txt", text))
        return [(t.speaker, t.role) for t in transcript.turns], transcript

    long_turns, transcript = turns(200_000)
    assert long_turns == turns(2)[0]
    assert all(transcript.text[t.start_char : t.end_char].strip() for t in transcript.turns)


def _lines_char_by_char(text: str, start: int) -> list[tuple[int, str]]:
    """The straightforward line scan `text_lines` must agree with."""
    found, pos = [], start
    while pos <= len(text):
        end = pos
        while end < len(text) and text[end] not in "\r\n":
            end += 1
        found.append((pos, text[pos:end]))
        pos = end + (2 if text.startswith("\r\n", end) else 1)
    return found


@given(st.text(alphabet="ab \t\r\n\x0b\x1c\u2028", max_size=30), st.integers(min_value=0, max_value=30))
def test_text_lines_split_on_crlf_lf_and_cr_only(text, start):
    start = min(start, len(text))
    assert list(text_lines(text, start)) == _lines_char_by_char(text, start)


_LABELISH = st.text(alphabet="aBß.Σİﬁ1: \t\xa0", max_size=10)


@given(_LABELISH, st.lists(_LABELISH, max_size=3), st.booleans())
def test_role_declarations_only_skip_texts_that_cannot_name_an_accepted_label(content, others, named):
    """`role_declarations` normalises a label line's text only when its first word could start an accepted label."""
    accepted = {norm(other) for other in others} | ({norm(content)} if named else set())
    first_words = {key.split(" ")[0] for key in accepted}
    if norm(content) in accepted:
        assert _may_name(content, Event("label", 0, len(content)), first_words)


BREAK_LINES = ["## Heading", "---", "* * *", "___", "=== ", "[00:12:40]", "(01:02)", "00:01 - 00:02", "**00:12**"]
BREAK_LINES += ["Transcribed by https://otter.ai", " TRANSCRIBED BY HTTPS://OTTER.AI/abc ", "#hashtag", "-- -", "12:5"]


@given(st.text(alphabet=st.sampled_from("#-*_=[]():0123 \tToa.hs/"), max_size=20))
def test_one_break_scan_is_the_four_patterns_on_random_lines(line: str) -> None:
    patterns = (speakers._TS_LINE, speakers._HEADING, speakers._RULE, speakers._BOILERPLATE)
    assert bool(speakers._BREAK_LINE.fullmatch(line)) == any(p.fullmatch(line) for p in patterns)


def test_one_break_scan_is_the_four_patterns_on_real_lines() -> None:
    patterns = (speakers._TS_LINE, speakers._HEADING, speakers._RULE, speakers._BOILERPLATE)
    files = [p for p in sorted((ROOT / "transcripts").iterdir()) + sorted(FIXTURES.iterdir()) if p.is_file()]
    lines = [line for path in files for _, line in text_lines(path.read_text(errors="replace"))] + BREAK_LINES
    found = [bool(speakers._BREAK_LINE.fullmatch(line)) for line in lines]
    assert found == [any(p.fullmatch(line) for p in patterns) for line in lines]
    assert sum(found) >= len(BREAK_LINES) - 2  # "#hashtag" and "12:5" are not breaks


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
@pytest.mark.parametrize("size", [1, 3, 7, 1 << 20])
def test_utf8_chunks_decodes_as_decode_text_does_whatever_the_chunking(encoding: str, size: int) -> None:
    """Streamed decoding gives `decode_text`'s text, even with the mark or a character split across chunks."""
    data = "Respondent: the café 😅\r\nQ: ok?".encode(encoding)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert b"".join(utf8_chunks(chunks)).decode("utf-8") == decode_text(data)


def test_utf8_chunks_refuses_what_decode_text_refuses() -> None:
    with pytest.raises(UnicodeDecodeError):
        b"".join(utf8_chunks([b"caf", b"\xe9 ok"]))


@pytest.mark.parametrize(
    ("line", "label"),
    [
        # the most a label alone on its line can hold: a 40-character label with every mark around it
        (
            "[00:00:00.000]\t***Abcdefghij Abcdefghij Abcdefghij Abcdefg:*** [00:00:00.000]\\",
            "Abcdefghij " * 3 + "Abcdefg",
        ),
        (" " * 200 + "**Interviewer**" + " " * 200 + "\\", "Interviewer"),  # blanks are not counted
        ("Kari Nilsen said that the exchange was useful, and then she went on about the rotation for a while", None),
        ("Abcdefghij Abcdefghij Abcdefghij Abcdefghij", None),  # 43 characters: too long for a label
    ],
)
def test_a_label_alone_on_its_line_is_found_however_long_its_marks_and_blanks(line, label):
    found = speakers.alone_label(line)
    assert (found.label if found else None) == label
    assert speakers.alone_label(line.replace("\t", " ")) == found


BLANKS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@given(st.text(alphabet=st.sampled_from([*BLANKS, *"ab:\u200b"])), st.data())
def test_a_span_is_narrowed_to_what_str_strip_keeps(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    chunk = text[start:end]
    kept = chunk.strip()
    first = start + len(chunk) - len(chunk.lstrip())
    assert speakers._strip(text, start, end) == ((first, first + len(kept)) if kept else (start, start))

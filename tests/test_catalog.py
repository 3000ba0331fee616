"""The catalog a partitioned run keeps: the same transcripts and skipped files as `discover`, texts held only up
to `hold`, and a transcript read again exactly as first read, or a one-line error naming a file that changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.core.errors import TranscriptError
from pipeline.ingest.catalog import catalog_folder, read_again
from pipeline.ingest.read import discover, read_folder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "transcripts"
EXTRA = {  # skipped for every reason discover gives, beside the fixture transcripts
    "metadata.csv": "file,id,side\nplain.txt,,north\nqa.txt,Q-1,south\n",
    "README.md": "# About\n",
    ".hidden.txt": "Interviewer: Hi?\n",
    "notes.pdf": b"%PDF-1.4\n",
    "codes.csv": "theme\nx\n",
    "sub/bad.txt": b"\x00\x01binary\x00" * 10,
    "sub/empty.srt": b"",
    "sub/plain.txt": "Interviewer: Hi?\nRespondent: A duplicate id.\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "transcripts"
    shutil.copytree(FIXTURES, folder)
    for name, content in EXTRA.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def test_the_catalog_has_the_transcripts_and_skipped_files_discover_gives(folder):
    transcripts, skipped = discover(folder)
    catalog = catalog_folder(folder)
    assert catalog.skipped == skipped
    assert [(e.id, e.source, e.path, e.format, e.metadata) for e in catalog.entries] == [
        (t.id, t.source, t.path, t.format, t.metadata) for t in transcripts
    ]
    assert {s.source for s in skipped if not s.ignored} >= {"notes.pdf", "sub/bad.txt", "sub/plain.txt"}


@pytest.mark.parametrize("hold, held", [(0, False), (16, False), (17, True), (100, True)])
def test_the_transcripts_are_held_only_up_to_hold(folder, hold, held):
    transcripts, _ = discover(folder)
    assert len(transcripts) == 17
    catalog = catalog_folder(folder, hold=hold)
    assert catalog.transcripts == (transcripts if held else None)


def test_read_again_gives_the_transcripts_as_first_read(folder):
    transcripts, _ = discover(folder)
    catalog = catalog_folder(folder)
    (folder / "metadata.csv").write_text("file,id\n", encoding="utf-8")  # the run keeps the rows it read with
    assert read_again(catalog.entries) == transcripts
    assert all(t.sha256 for t in transcripts)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda path: path.write_text(path.read_text() + "\nRespondent: More.\n"), "its contents differ"),
        (lambda path: path.write_bytes(path.read_bytes().replace(b"e", b"E", 1)), "its contents differ"),
        (lambda path: path.unlink(), "cannot read file"),
    ],
    ids=["appended", "same-size", "removed"],
)
def test_a_file_changed_since_the_catalog_is_a_one_line_error_naming_it(folder, change, reason):
    catalog = catalog_folder(folder)
    path = folder / "qa.txt"
    change(path)
    with pytest.raises(TranscriptError) as error:
        read_again(catalog.entries)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: changed during the run (") and reason in message


def test_an_empty_folder_is_the_error_read_folder_gives(tmp_path):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    with pytest.raises(TranscriptError) as expected:
        read_folder(tmp_path)
    with pytest.raises(TranscriptError) as error:
        catalog_folder(tmp_path)
    assert str(error.value) == str(expected.value)


@pytest.mark.parametrize("read", [discover, catalog_folder])
def test_a_missing_folder_is_the_same_one_line_error(read, tmp_path):
    with pytest.raises(TranscriptError, match="transcripts folder not found") as caught:
        read(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)

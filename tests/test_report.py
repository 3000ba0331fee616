"""Reports: escaped HTML with transcript pages and quote links, safe Markdown, and a traceable run record."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeline.outputs.jinja import markdown_code, markdown_text
from pipeline.outputs.report import anchor
from pipeline.workflows.run import run_project

HOSTILE = 'Respondent: We had a language barrier <script>alert("x")</script> | all the time.\n'


@pytest.fixture(scope="module")
def result(tmp_path_factory, fixtures):
    folder = tmp_path_factory.mktemp("project")
    transcripts = folder / "transcripts"
    transcripts.mkdir()
    (transcripts / "a.txt").write_text("Interviewer: Any language problem?\n" + HOSTILE)
    (transcripts / "b.txt").write_text(
        "Interviewer: And you?\nRespondent: I could not speak Norwegian at first.\n"
        "Respondent: We never had a language problem later.\n"
    )
    (transcripts / "metadata.csv").write_text("file,id,side,institution\na.txt,a,north,X\nb.txt,b,south,Y\n")
    return run_project(
        transcripts_dir=transcripts, codebook_path=fixtures / "codebooks" / "minimal.yaml", out=folder / "reports"
    )


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.ids: set[str] = set()
        self.links: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.add(attrs["href"][1:])


def test_html_escapes_transcript_text(result):
    html = (result.written[0].parent / "findings_matrix.html").read_text()
    parser = _Scripts()
    parser.feed(html)
    assert parser.scripts == 0
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_every_quote_links_to_its_highlighted_segment(result):
    html = (result.written[0].parent / "findings_matrix.html").read_text()
    parser = _Scripts()
    parser.feed(html)
    quote_links = {link for link in parser.links if link.startswith("s-")}
    assert quote_links and quote_links <= parser.ids
    evidence = result.tags[result.tags["evidence"]]
    assert {anchor(s) for s in evidence["segment_id"]} <= parser.ids


def test_markdown_is_escaped(result):
    markdown = (result.written[0].parent / "findings_matrix.md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "\\| all the time" in markdown
    assert markdown_text("a\n|b <i>") == "a \\|b &lt;i&gt;"
    assert markdown_text("![x](y) *b* `c`") == "!\\[x\\](y) \\*b\\* \\`c\\`"


HOSTILE_ID = "x`<script>alert(1)</script>``y"
HOSTILE_MARKDOWN = (
    "Respondent: A language barrier <img src=x onerror=alert(3)> [click](https://tracker.example/p.png) *loud* ok.\n"
)


@pytest.fixture(scope="module")
def hostile_markdown(tmp_path_factory, fixtures) -> str:
    """The Markdown matrix of a transcript whose id has backticks and a script tag, and whose text is Markdown."""
    folder = tmp_path_factory.mktemp("hostile")
    transcripts = folder / "transcripts"
    transcripts.mkdir()
    (transcripts / "a.txt").write_text("Interviewer: Any language problem?\n" + HOSTILE_MARKDOWN)
    (transcripts / "metadata.csv").write_text(f'file,id,side\na.txt,"{HOSTILE_ID}",north\n')
    (transcripts / "notes.rtf").write_text("{\\rtf1 `<img src=x onerror=alert(2)>`}")  # listed as skipped
    result = run_project(
        transcripts_dir=transcripts, codebook_path=fixtures / "codebooks" / "minimal.yaml", out=folder / "reports"
    )
    assert result.record["transcripts"][0]["id"] == HOSTILE_ID
    return (folder / "reports" / "findings_matrix.md").read_text()


def test_markdown_ids_and_text_stay_text_when_rendered(hostile_markdown: str):
    rendered = MarkdownIt("commonmark").enable("table").render(hostile_markdown)
    parser = _Scripts()
    parser.feed(rendered)
    assert parser.scripts == 0 and "<img" not in rendered and "<a " not in rendered
    assert "<code>x`&lt;script&gt;alert(1)&lt;/script&gt;``y</code>" in rendered
    # "[click]" reads as an annotation ([laughs]) and is left out of the quote; the link syntax around it stays text
    assert "&lt;img src=x onerror=alert(3)&gt;" in rendered and "(https://tracker.example/p.png) *loud* ok." in rendered


@pytest.mark.parametrize(
    ("value", "span"),
    [("t1", "`t1`"), ("a`b", "``a`b``"), ("``x", "``` ``x ```"), ("a\nb", "`a b`"), ("", "`  `")],
)
def test_code_spans_are_fenced_by_more_backticks_than_they_hold(value: str, span: str):
    assert markdown_code(value) == span


def test_run_record_is_traceable(result):
    record = json.loads((result.written[0].parent / "run.json").read_text())
    assert record["codebook"]["hash"] == result.tags["codebook_hash"].iloc[0]
    assert record["counts"]["transcripts"] == 2
    assert record["counts"]["tags"] == len(result.tags)
    assert record["counts"]["evidence_tags"] == int(result.tags["evidence"].sum())
    assert {"spacy", "scikit-learn", "pandas", "python", "qualcode"} <= set(record["versions"])
    assert record["skipped"] == []
    assert record["not_transcripts"] == [
        {"source": "metadata.csv", "reason": "not a transcript: the transcripts' metadata"}
    ]


def test_written_tag_offsets_slice_the_files(result):
    folder = Path(result.record["options"]["transcripts"])
    for _, row in result.tags.iterrows():
        text = (folder / row["source"]).read_text()
        assert text[row["start_char"] : row["end_char"]] == row["text"]
        assert text[row["match_start"] : row["match_end"]].lower() in row["matched"].lower()


def test_every_matrix_and_transcript_page_says_how_the_tags_were_made(result):
    """Rules only, without a model card: the reports say so, and that the rules' accuracy is unmeasured."""
    folder = result.written[0].parent
    html = (folder / "findings_matrix.html").read_text()
    markdown = (folder / "findings_matrix.md").read_text()
    for text in (html, markdown):
        assert "How these tags were made" in text
        assert "Made by: rules only (2 rules of codebook" in text and "no classifier model" in text
        assert "accuracy is unmeasured (no model card)" in text
        assert "Precision bar 0.70: not applied" in text
        assert "Reviewed: 0 of 3 tags (0%)" in text
    assert markdown.count("evidence from rules; accuracy unmeasured") >= 1  # per theme, beside its quotes
    sections = html.split('<section class="transcript"')[1:]
    assert len(sections) == 2
    for section in sections:
        assert 'Tags made by rules only, accuracy unmeasured (<a href="#how">How these tags were made</a>)' in section
    record = json.loads((folder / "run.json").read_text())
    assert record["options"]["min_precision"] == 0.7
    assert record["tagging"]["model"] is None and record["tagging"]["measured"] is False

"""End to end in a real headless Chromium: review tags by click and by keyboard, add and change tags, then
check the SQLite log and the regenerated findings matrix."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")

from pipeline.review.app import HOST  # noqa: E402
from pipeline.review.log import ReviewLog  # noqa: E402
from pipeline.workflows.review import review_app as create_app  # noqa: E402
from pipeline.workflows.run import run_project  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "review"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE / "transcripts", tmp_path / "transcripts")
    shutil.copy(FIXTURE / "codebook.yaml", tmp_path / "codebook.yaml")
    run_project(
        transcripts_dir=tmp_path / "transcripts", codebook_path=tmp_path / "codebook.yaml", out=tmp_path / "reports"
    )
    return tmp_path


@pytest.fixture
def base_url(project: Path) -> Iterator[str]:
    """The app served by werkzeug on a free port of 127.0.0.1, in a thread."""
    from werkzeug.serving import make_server

    app = create_app(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
        reviewer="ana",
    )
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def all_themes(project: Path, column: str = "n_tags") -> dict[str, int]:
    matrix = pd.read_csv(project / "reports" / "matrix.csv")
    return matrix[matrix.side == "All"].set_index("theme")[column].to_dict()


def focus_of(page) -> tuple[str, str, str, str]:
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(page.url).query)
    return query["t"][0], query["s"][0], query["e"][0], query.get("focus", [""])[0]


def test_review_by_click_and_keyboard_then_regenerate(browser, base_url: str, project: Path) -> None:
    before = all_themes(project)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(base_url + "/queue")
    with page.expect_navigation():
        page.click("#next")
    assert focus_of(page) == ("t1_north", "273", "322", "language_barrier")  # negated: least certain first
    assert page.locator("mark#current strong.match").inner_text() == "language problem"

    with page.expect_navigation():
        page.click("#accept")  # by click: the negated mention is evidence
    assert focus_of(page) == ("t2_south", "157", "214", "language_barrier")
    page.fill("textarea[name=memo]", "a hypothetical, not a report")
    assert focus_of(page) == ("t2_south", "157", "214", "language_barrier")  # typing 'a' and 'r' does nothing
    page.locator("textarea[name=memo]").blur()
    with page.expect_navigation():
        page.keyboard.press("r")  # by keyboard, with the memo
    rejected = focus_of(page)  # the queue now favours themes with no reviews
    assert rejected[3] != "language_barrier"
    with page.expect_navigation():
        page.keyboard.press("r")
    skipped = focus_of(page)
    with page.expect_navigation():
        page.keyboard.press("j")  # next without deciding
    assert focus_of(page) != skipped
    with page.expect_navigation():
        page.keyboard.press("k")  # and back
    assert focus_of(page) == skipped
    new_theme = next(t for t in ("mentor", "short_stay", "language_barrier") if t != skipped[3])
    page.select_option("#new-theme", new_theme)
    with page.expect_navigation():
        page.click("#change")
    with page.expect_navigation():
        page.click("a.seg:has-text('The cards were printed in month seven.')")  # an untagged segment
    assert focus_of(page) == ("t1_north", "323", "361", "")
    page.select_option("#add-theme", "mentor")
    with page.expect_navigation():
        page.click("#add")
    assert page.locator("ul.tags").inner_text().startswith("Local mentor")

    with page.expect_navigation():
        page.click("#regenerate")
    assert "Matrix regenerated" in page.locator(".flash").inner_text()

    log = ReviewLog(project / "reports" / "review.sqlite").frame()
    spans = log[["action", "transcript_id", "start_char", "theme_before", "theme_after"]].values.tolist()
    assert spans == [
        ["accept", "t1_north", 273, "language_barrier", ""],
        ["reject", "t2_south", 157, "language_barrier", ""],
        ["reject", rejected[0], int(rejected[1]), rejected[3], ""],
        ["change", skipped[0], int(skipped[1]), skipped[3], new_theme],
        ["add", "t1_north", 323, "", "mentor"],
    ]
    assert set(log["reviewer"]) == {"ana"} and log.loc[1, "memo"] == "a hypothetical, not a report"
    expected = dict(before)
    for theme, change in (
        ("language_barrier", +1),
        (rejected[3], -1),
        (skipped[3], -1),
        (new_theme, +1),
        ("mentor", +1),
    ):
        expected[theme] += change
    assert all_themes(project) == expected
    reviewed = {"language_barrier": 0, "short_stay": 0, "mentor": 0}
    for theme in ("language_barrier", new_theme, "mentor"):
        reviewed[theme] += 1
    assert all_themes(project, "n_reviewed") == reviewed
    page.goto(base_url + "/matrix")
    facts = page.locator("header .facts").inner_text()  # a change reviews two rows: the old theme and the new
    assert "Reviewed tags: 6 of 11 (3 rejected or changed, 2 added; 5 decisions)" in facts
    page.close()


def test_two_reviewers_in_two_sessions_and_the_agreement_page(browser, base_url: str, project: Path) -> None:
    ana, ben = browser.new_context(), browser.new_context()
    try:
        pages = {"ana": ana.new_page(), "ben": ben.new_page()}
        pages["ben"].goto(base_url + "/queue")
        pages["ben"].fill("input[name=reviewer]", "ben")
        with pages["ben"].expect_navigation():
            pages["ben"].click("form.reviewer button")
        assert "reviewing as ben" in pages["ben"].locator(".flash").inner_text()
        url = base_url + "/tag?t=t1_north&s=48&e=103&focus=language_barrier"
        for name, key in (("ana", "a"), ("ben", "r")):
            pages[name].goto(url)
            with pages[name].expect_navigation():
                pages[name].keyboard.press(key)
        log = ReviewLog(project / "reports" / "review.sqlite").frame()
        assert log[["reviewer", "action"]].values.tolist() == [["ana", "accept"], ["ben", "reject"]]
        pages["ana"].goto(url)
        assert pages["ana"].locator("#status").inner_text() == "rejected"  # the latest decision wins
        assert pages["ana"].locator("table.history tbody tr").count() == 2
        pages["ana"].goto(base_url + "/agreement")
        row = pages["ana"].locator("#theme-language_barrier td").all_inner_texts()
        assert row[1:4] == ["2", "1", "5"]  # decisions, reviewed tags, tags (negated ones too)
        assert row[5] == "1"  # machine only: evidence the reviewers rejected
    finally:
        ana.close()
        ben.close()

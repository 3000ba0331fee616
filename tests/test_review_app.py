"""The review app through Flask's test client (CSRF, escaping, decisions, redirects, hosts) and the CLI
through its real entry point (address on 127.0.0.1 only, no --host, coder-file export)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from pipeline.review.log import Decision, ReviewLog
from pipeline.workflows.review import review_app as create_app
from pipeline.workflows.run import run_project

FIXTURE = Path(__file__).parent / "fixtures" / "review"
HOSTILE = "Respondent: The <script>alert('owned')</script> language barrier was real & <b>loud</b>.\n"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("app")
    shutil.copytree(FIXTURE / "transcripts", root / "transcripts")
    (root / "transcripts" / "t3_script.txt").write_text(HOSTILE, encoding="utf-8")
    shutil.copy(FIXTURE / "codebook.yaml", root / "codebook.yaml")
    run_project(transcripts_dir=root / "transcripts", codebook_path=root / "codebook.yaml", out=root / "reports")
    return root


@pytest.fixture
def project(first_run: Path, tmp_path: Path) -> Path:
    shutil.copytree(first_run, tmp_path / "p")
    return tmp_path / "p"


@pytest.fixture
def app(project: Path):
    return create_app(
        reports_dir=project / "reports",
        transcripts_dir=project / "transcripts",
        codebook_path=project / "codebook.yaml",
        reviewer="ana",
    )


def token(client, url: str = "/queue") -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def decision_form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "t": "t1_north",
        "s": "48",
        "e": "103",
        "theme": "language_barrier",
        "action": "reject",
        **fields,
    }


def log_of(project: Path) -> ReviewLog:
    return ReviewLog(project / "reports" / "review.sqlite")


def test_queue_lists_tags_least_certain_first(app) -> None:
    page = app.test_client().get("/queue").get_data(as_text=True)
    assert "<strong>10</strong> tags match" in page
    first = re.search(r'id="next" href="([^"]+)"', page).group(1)
    assert dict(parse_qsl(urlsplit(html.unescape(first)).query)) == {
        "t": "t1_north",
        "s": "273",
        "e": "322",
        "focus": "language_barrier",
    }


@pytest.mark.parametrize("url", ["/queue", "/tag?t=t3_script&s=12&e=88&focus=language_barrier", "/queue?status=all"])
def test_transcript_text_is_escaped(app, url: str) -> None:
    response = app.test_client().get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert" not in page and "<b>loud</b>" not in page
    assert "&lt;script&gt;alert(" in page


def test_tag_page_shows_context_definition_and_why(app) -> None:
    page = app.test_client().get("/tag?t=t1_north&s=273&e=322&focus=language_barrier").get_data(as_text=True)
    assert '<mark id="current" class="current">We never had a <strong class="match">language problem</strong>' in page
    assert "Not speaking the host language limits learning." in page
    assert "English as a working language without problems." in page  # exclude note
    assert "negated by “never”" in page and "lb.phrase" in page
    assert "Respondent" in page and 'id="accept"' in page


@pytest.mark.parametrize("csrf", ["", "forged"])
def test_posts_without_the_sessions_csrf_token_are_refused(app, project: Path, csrf: str) -> None:
    client = app.test_client()
    token(client)
    for url, data in [
        ("/decide", decision_form(csrf)),
        ("/reviewer", {"csrf_token": csrf, "reviewer": "eve"}),
        ("/regenerate", {"csrf_token": csrf}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True)
    assert log_of(project).count() == 0


def test_a_token_from_another_session_is_refused(app, project: Path) -> None:
    other = token(app.test_client())
    client = app.test_client()
    token(client)
    assert client.post("/decide", data=decision_form(other)).status_code == 400
    assert log_of(project).count() == 0


def test_a_decision_is_logged_with_its_tag_and_redirects_to_next(app, project: Path) -> None:
    client = app.test_client()
    csrf = token(client)
    response = client.post("/decide", data=decision_form(csrf, memo="staff, not language", next="/tag?t=x&s=1&e=2"))
    assert response.status_code == 303 and response.headers["Location"] == "/tag?t=x&s=1&e=2"
    row = log_of(project).frame().iloc[0]
    assert (row.reviewer, row.action, row.theme_before, row.memo, row.tag_method, row.tag_rule_id) == (
        "ana",
        "reject",
        "language_barrier",
        "staff, not language",
        "rule",
        "lb.phrase",
    )
    assert row.codebook_hash == app.extensions["qualcode_review"].corpus().codebook.hash
    page = client.get("/tag?t=t1_north&s=48&e=103&focus=language_barrier").get_data(as_text=True)
    assert '<span class="status rejected" id="status">rejected</span>' in page
    assert "staff, not language" in page


def test_json_clients_get_the_decision_id(app, project: Path) -> None:
    client = app.test_client()
    csrf = token(client)
    response = client.post(
        "/decide",
        data=decision_form(csrf, action="add", theme="", new_theme="mentor", s="323", e="361"),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json["id"] == log_of(project).last_id() and response.json["action"] == "add"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"theme": "nonsense"}, "not in the codebook"),
        ({"action": "approve"}, "unknown action"),
        ({"s": "49"}, "no segment"),
        ({"s": "x"}, "integer"),
        ({"action": "change", "new_theme": ""}, "needs theme_after"),
    ],
)
def test_bad_decisions_are_refused(app, project: Path, fields: dict, message: str) -> None:
    client = app.test_client()
    response = client.post("/decide", data=decision_form(token(client), **fields))
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert log_of(project).count() == 0


OFFSITE = [
    "//evil.example/x",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\\evil.example",
    "/x\\..\\/evil",
    "https://evil.example",
    "evil.example",
    " /\t/evil.example",
    "/\u3000/evil.example",
    "/\x00x",
]


@pytest.mark.parametrize("target", OFFSITE)
def test_no_open_redirect_after_a_decision(app, target: str) -> None:
    client = app.test_client()
    response = client.post("/decide", data=decision_form(token(client), next=target))
    assert response.headers["Location"] == "/tag?t=t1_north&s=48&e=103&focus=language_barrier"


@pytest.mark.parametrize("target", OFFSITE)
def test_no_open_redirect_after_choosing_a_reviewer(app, target: str) -> None:
    client = app.test_client()
    response = client.post("/reviewer", data={"csrf_token": token(client), "reviewer": "bo", "next": target})
    assert response.headers["Location"] == "/queue"


def test_local_paths_are_followed(app) -> None:
    client = app.test_client()
    response = client.post("/reviewer", data={"csrf_token": token(client), "reviewer": "bo", "next": "/tag?t=a%2Fb"})
    assert response.headers["Location"] == "/tag?t=a%2Fb"


def test_foreign_host_headers_are_refused(app) -> None:
    assert app.test_client().get("/queue", headers={"Host": "evil.example"}).status_code == 400
    assert app.test_client().get("/queue", headers={"Host": "127.0.0.1:8765"}).status_code == 200


def test_pages_send_a_content_security_policy(app) -> None:
    response = app.test_client().get("/queue")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script src="/static/review.v1.js"' in response.get_data(as_text=True)


def test_each_session_names_its_reviewer(app, project: Path) -> None:
    ben, ana = app.test_client(), app.test_client()
    assert ben.post("/reviewer", data={"csrf_token": token(ben), "reviewer": "ben"}).status_code == 303
    ben.post("/decide", data=decision_form(token(ben)))
    ana.post("/decide", data=decision_form(token(ana), action="accept"))
    assert log_of(project).frame()["reviewer"].tolist() == ["ben", "ana"]
    bad = ben.post("/reviewer", data={"csrf_token": token(ben), "reviewer": "../x"})
    assert bad.status_code == 400


def test_stale_and_agreement_pages(app, project: Path) -> None:
    log_of(project).append(
        Decision(
            reviewer="ana",
            transcript_id="t1_north",
            start_char=48,
            end_char=103,
            text_sha="0" * 64,
            action="accept",
            theme_before="language_barrier",
        )
    )
    client = app.test_client()
    stale = client.get("/stale").get_data(as_text=True)
    assert "the text at these offsets changed" in stale
    agreement = client.get("/agreement").get_data(as_text=True)
    assert 'id="theme-language_barrier"' in agreement and "Cohen" in agreement


def test_regenerate_from_the_app(app, project: Path) -> None:
    client = app.test_client()
    csrf = token(client)
    client.post("/decide", data=decision_form(csrf))
    response = client.post("/regenerate", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert "Matrix regenerated" in client.get("/agreement").get_data(as_text=True)
    assert client.get("/matrix").status_code == 200


def test_the_app_needs_a_finished_run(tmp_path: Path) -> None:
    from pipeline.core.errors import QualcodeError

    with pytest.raises(QualcodeError, match="run `qualcode run` first"):
        create_app(
            reports_dir=tmp_path,
            transcripts_dir=FIXTURE / "transcripts",
            codebook_path=FIXTURE / "codebook.yaml",
            reviewer="ana",
        )


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) listening on `port`."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                addresses.add(address)
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp to see listening sockets")
def test_cli_serves_on_127_0_0_1_only_and_prints_the_address(project: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "review",
        "--port",
        "0",
        "--reviewer",
        "ana",
        "--reports",
        str(project / "reports"),
        "--transcripts",
        str(project / "transcripts"),
        "--codebook",
        str(project / "codebook.yaml"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        port = int(match.group(1))
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else (no 0.0.0.0, no IPv6)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_has_no_host_option(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "review", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "No such option" in result.stderr


def test_cli_review_export(project: Path, app) -> None:
    client = app.test_client()
    client.post("/decide", data=decision_form(token(client), action="accept"))
    out = project / "coded" / "ana.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "review-export",
            "--reviewer",
            "ana",
            "--out",
            str(out),
            "--reports",
            str(project / "reports"),
            "--transcripts",
            str(project / "transcripts"),
            "--codebook",
            str(project / "codebook.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 1 codes by ana" in result.stderr
    assert out.read_text().splitlines() == [
        "transcript_id,start_char,end_char,theme",
        "t1_north,48,103,language_barrier",
    ]


@pytest.fixture
def numeric_project(tmp_path: Path) -> Path:
    """The review fixture with transcripts named 01.txt and 02.txt: ids that look like numbers."""
    root = tmp_path / "numeric"
    (root / "transcripts").mkdir(parents=True)
    shutil.copy(FIXTURE / "transcripts" / "t1_north.txt", root / "transcripts" / "01.txt")
    shutil.copy(FIXTURE / "transcripts" / "t2_south.txt", root / "transcripts" / "02.txt")
    (root / "transcripts" / "metadata.csv").write_text(
        "file,institution,side\n01.txt,Bergen Hospital,north\n02.txt,Zanzibar Hospital,south\n", encoding="utf-8"
    )
    shutil.copy(FIXTURE / "codebook.yaml", root / "codebook.yaml")
    run_project(transcripts_dir=root / "transcripts", codebook_path=root / "codebook.yaml", out=root / "reports")
    return root


def test_numeric_transcript_ids_stay_text_through_the_review_flow(numeric_project: Path) -> None:
    app = create_app(
        reports_dir=numeric_project / "reports",
        transcripts_dir=numeric_project / "transcripts",
        codebook_path=numeric_project / "codebook.yaml",
        reviewer="ana",
    )
    client = app.test_client()
    tag = "/tag?t=01&s=273&e=322&focus=language_barrier"
    assert client.get(tag).status_code == 200
    assert client.get("/transcript?t=01").status_code == 302
    first = re.search(r'id="next" href="([^"]+)"', client.get("/queue").get_data(as_text=True)).group(1)
    assert dict(parse_qsl(urlsplit(html.unescape(first)).query))["t"] in ("01", "02")
    response = client.post("/decide", data=decision_form(token(client), t="01"))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = log_of(numeric_project).frame().iloc[0]
    assert (row.transcript_id, row.action, row.tag_rule_id) == ("01", "reject", "lb.phrase")
    assert client.post("/regenerate", data={"csrf_token": token(client)}).status_code == 303
    assert "Matrix regenerated" in client.get("/agreement").get_data(as_text=True)
    page = client.get("/tag?t=01&s=48&e=103&focus=language_barrier").get_data(as_text=True)
    assert '<span class="status rejected" id="status">rejected</span>' in page

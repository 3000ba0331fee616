"""Load: 8 concurrent browser-like clients post 2,000 decisions over loopback to the real app; every decision
must be in the log, with no error response."""

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from pipeline.review.app import HOST
from pipeline.review.log import ReviewLog
from pipeline.workflows.review import review_app as create_app
from pipeline.workflows.run import run_project

FIXTURE = Path(__file__).parent / "fixtures" / "review"
CLIENTS = 8
DECISIONS = 2000
TIME_LIMIT_S = 60.0
ACTIONS = ("accept", "reject", "memo", "change", "add")


@pytest.fixture
def served(tmp_path: Path):
    shutil.copytree(FIXTURE / "transcripts", tmp_path / "transcripts")
    shutil.copy(FIXTURE / "codebook.yaml", tmp_path / "codebook.yaml")
    run_project(
        transcripts_dir=tmp_path / "transcripts", codebook_path=tmp_path / "codebook.yaml", out=tmp_path / "reports"
    )
    from werkzeug.serving import make_server

    app = create_app(
        reports_dir=tmp_path / "reports",
        transcripts_dir=tmp_path / "transcripts",
        codebook_path=tmp_path / "codebook.yaml",
        reviewer="load",
    )
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_port}", tmp_path
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


class Client:
    """One browser session: its own cookies, CSRF token and reviewer name."""

    def __init__(self, base: str, name: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.opener.open(base + "/queue", timeout=30).read().decode()
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.post("/reviewer", {"reviewer": name}, json_reply=False)

    def post(self, path: str, fields: dict[str, str], *, json_reply: bool = True) -> tuple[int, dict]:
        body = urllib.parse.urlencode({"csrf_token": self.token, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Accept": "application/json" if json_reply else "text/html"}
        )
        with self.opener.open(request, timeout=30) as response:
            payload = response.read()
            return response.status, json.loads(payload) if json_reply else {}


def test_eight_clients_post_2000_decisions_and_all_are_kept(served) -> None:
    base, project = served
    segments = pd.read_csv(project / "reports" / "segments.csv")
    spans = list(zip(segments.transcript_id, segments.start_char, segments.end_char))
    themes = ["language_barrier", "short_stay", "mentor"]
    per_client = DECISIONS // CLIENTS

    def work(index: int) -> list[tuple[int, int]]:
        client = Client(base, f"reviewer{index}")
        results = []
        for n in range(per_client):
            t, s, e = spans[(index * 7 + n) % len(spans)]
            theme = themes[n % len(themes)]
            action = ACTIONS[n % len(ACTIONS)]
            fields = {
                "t": t,
                "s": str(s),
                "e": str(e),
                "theme": theme,
                "action": action,
                "memo": f"client {index} decision {n}",
                "new_theme": themes[(n + 1) % len(themes)],
            }
            status, reply = client.post("/decide", fields)
            results.append((status, reply.get("id", -1)))
        return results

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = [r for chunk in pool.map(work, range(CLIENTS)) for r in chunk]
    elapsed = time.monotonic() - started

    assert [status for status, _ in results] == [200] * DECISIONS
    ids = [decision_id for _, decision_id in results]
    log = ReviewLog(project / "reports" / "review.sqlite").frame()
    assert len(log) == DECISIONS and sorted(ids) == sorted(log["id"].tolist())
    assert log["reviewer"].value_counts().to_dict() == {f"reviewer{i}": per_client for i in range(CLIENTS)}
    assert log["memo"].is_unique
    assert elapsed < TIME_LIMIT_S, f"{DECISIONS} decisions took {elapsed:.1f}s"
    print(f"\n{DECISIONS} decisions from {CLIENTS} clients in {elapsed:.1f}s ({DECISIONS / elapsed:.0f}/s)")

"""The review log: append-only SQLite in WAL mode, and the current state replayed from it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import QualcodeError
from pipeline.review.log import COLUMNS, Decision, ReviewLog, derive_state, read_log, text_sha

TEXT = "Interviewer: Hi.\nRespondent: There was a language barrier. My mentor helped me.\n"
FIRST = (29, 58)  # "There was a language barrier."
SECOND = (59, 79)  # "My mentor helped me."
SEGMENTS = pd.DataFrame(
    {"transcript_id": ["t1", "t1"], "start_char": [FIRST[0], SECOND[0]], "end_char": [FIRST[1], SECOND[1]]}
)
THEMES = {"language_barrier", "mentor", "short_stay"}


def decision(
    action: str,
    *,
    span: tuple[int, int] = FIRST,
    reviewer: str = "ana",
    text: str = TEXT,
    before: str = "language_barrier",
    after: str = "",
    memo: str = "",
) -> Decision:
    return Decision(
        reviewer=reviewer,
        transcript_id="t1",
        start_char=span[0],
        end_char=span[1],
        text_sha=text_sha(text[span[0] : span[1]]),
        action=action,
        theme_before=before,  # type: ignore[arg-type]
        theme_after=after,
        memo=memo,
        tag_method="rule",
        tag_rule_id="lb.phrase",
        codebook_hash="abc",
    )


@pytest.fixture
def log(tmp_path: Path) -> ReviewLog:
    return ReviewLog.open(tmp_path / "review.sqlite")


def state_of(
    log: ReviewLog,
    *,
    text: str = TEXT,
    segments: pd.DataFrame = SEGMENTS,
    reviewer: str | None = None,
    themes: set[str] | None = THEMES,
):
    return derive_state(log.frame(), segments=segments, texts={"t1": text}, theme_ids=themes, reviewer=reviewer)


def status(state, span: tuple[int, int], theme: str) -> str:
    rows = state.current[(state.current.start_char == span[0]) & (state.current.theme == theme)]
    return rows.iloc[0]["status"] if len(rows) else "none"


def test_fixture_offsets_bound_the_sentences() -> None:
    assert TEXT[slice(*FIRST)] == "There was a language barrier."
    assert TEXT[slice(*SECOND)] == "My mentor helped me."


def test_wal_mode_and_schema(log: ReviewLog) -> None:
    with sqlite3.connect(log.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in connection.execute("PRAGMA table_info(decisions)")]
    assert columns == COLUMNS
    ReviewLog.open(log.path)  # opening again is harmless


def test_append_returns_increasing_ids_and_keeps_every_field(log: ReviewLog) -> None:
    first = log.append(decision("accept", memo="clear case"))
    second = log.append(decision("reject", reviewer="ben"))
    frame = log.frame()
    assert [first, second] == frame["id"].tolist() and second > first
    row = frame.iloc[0]
    assert (row.reviewer, row.action, row.theme_before, row.memo, row.tag_rule_id) == (
        "ana",
        "accept",
        "language_barrier",
        "clear case",
        "lb.phrase",
    )
    assert row.created_at.endswith("+00:00")
    assert row.text_sha == text_sha("There was a language barrier.")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET action = 'reject'",
        "UPDATE decisions SET memo = 'rewritten' WHERE id = 1",
        "DELETE FROM decisions",
        "DELETE FROM decisions WHERE id = 1",
        "INSERT OR REPLACE INTO decisions SELECT 1, 'eve', created_at, transcript_id, source, start_char, end_char,"
        " text_sha, theme_before, theme_after, 'reject', 'rewritten', tag_method, tag_rule_id, tag_score,"
        " codebook_hash FROM decisions WHERE id = 1",
        "REPLACE INTO decisions (id, reviewer, created_at, transcript_id, start_char, end_char, text_sha, action,"
        " theme_before, memo) VALUES (1, 'eve', 'now', 't1', 29, 58, 'x', 'reject', 'language_barrier', 'rewritten')",
        "INSERT INTO decisions (id, reviewer, created_at, transcript_id, start_char, end_char, text_sha, action,"
        " theme_before, memo) VALUES (1, 'eve', 'now', 't1', 29, 58, 'x', 'reject', 'language_barrier', 'rewritten')"
        " ON CONFLICT (id) DO UPDATE SET action = 'reject', memo = 'rewritten'",
    ],
)
def test_log_is_append_only(log: ReviewLog, statement: str) -> None:
    log.append(decision("accept"))
    with sqlite3.connect(log.path) as connection, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        connection.execute(statement)
    assert log.frame()[["id", "reviewer", "action", "memo"]].values.tolist() == [[1, "ana", "accept", ""]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"action": "approve"}, "unknown review action"),
        ({"action": "change", "after": ""}, "needs theme_after"),
        ({"action": "change", "after": "language_barrier"}, "different theme"),
        ({"action": "add", "before": "", "after": ""}, "needs theme_after"),
        ({"action": "accept", "reviewer": " "}, "reviewer"),
    ],
)
def test_malformed_decisions_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(QualcodeError, match=message):
        decision(**kwargs)


def test_latest_decision_wins_and_memos_only_annotate(log: ReviewLog) -> None:
    log.append(decision("accept"))
    log.append(decision("reject", reviewer="ben"))
    log.append(decision("memo", memo="ask the team"))
    state = state_of(log)
    row = state.current.iloc[0]
    assert (row.status, row.reviewer, row.memo) == ("rejected", "ben", "ask the team")
    assert state.n_decisions == 3 and state.stale.empty


def test_state_per_reviewer(log: ReviewLog) -> None:
    log.append(decision("accept"))
    log.append(decision("reject", reviewer="ben"))
    log.append(decision("add", span=SECOND, before="", after="mentor", reviewer="ben"))
    assert status(state_of(log, reviewer="ana"), FIRST, "language_barrier") == "accepted"
    assert status(state_of(log, reviewer="ana"), SECOND, "mentor") == "none"
    assert status(state_of(log, reviewer="ben"), FIRST, "language_barrier") == "rejected"
    assert status(state_of(log, reviewer="ben"), SECOND, "mentor") == "added"


def test_change_rejects_old_theme_and_adds_new(log: ReviewLog) -> None:
    log.append(decision("change", after="short_stay"))
    state = state_of(log)
    assert status(state, FIRST, "language_barrier") == "changed"
    assert status(state, FIRST, "short_stay") == "added"


def test_memo_only_key_stays_unreviewed(log: ReviewLog) -> None:
    log.append(decision("memo", memo="not sure"))
    row = state_of(log).current.iloc[0]
    assert (row.status, row.memo) == ("unreviewed", "not sure")


def test_changed_text_is_flagged_stale_not_dropped(log: ReviewLog) -> None:
    log.append(decision("accept"))
    edited = TEXT.replace("language barrier", "language bridge!")
    assert len(edited) == len(TEXT)
    state = state_of(log, text=edited)
    assert state.current.empty
    assert state.stale["reason"].tolist() == ["the text at these offsets changed"]
    assert state.stale["id"].tolist() == log.frame()["id"].tolist()


def test_a_new_decision_on_the_new_text_supersedes_the_stale_one(log: ReviewLog) -> None:
    log.append(decision("accept"))
    edited = TEXT.replace("language barrier", "language bridge!")
    log.append(decision("reject", text=edited))
    state = state_of(log, text=edited)
    assert status(state, FIRST, "language_barrier") == "rejected" and state.stale.empty
    assert len(read_log(log.path)) == 2  # the old decision is still in the log


@pytest.mark.parametrize(
    "segments, texts, themes, reason",
    [
        (SEGMENTS.iloc[1:], {"t1": TEXT}, THEMES, "segmentation changed"),
        (SEGMENTS, {}, THEMES, "transcript no longer in the corpus"),
        (SEGMENTS, {"t1": TEXT}, {"mentor"}, "not in the codebook"),
        (SEGMENTS, {"t1": TEXT[:40]}, THEMES, "text at these offsets changed"),
    ],
)
def test_stale_reasons(log: ReviewLog, segments, texts, themes, reason: str) -> None:
    log.append(decision("accept"))
    state = derive_state(log.frame(), segments=segments, texts=texts, theme_ids=themes)
    assert state.current.empty
    assert len(state.stale) == 1 and reason in state.stale.iloc[0]["reason"]


def test_concurrent_appends_from_threads_are_all_kept(log: ReviewLog) -> None:
    def work(name: str) -> None:
        for _ in range(50):
            log.append(decision("accept", reviewer=name))

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    frame = log.frame()
    assert len(frame) == 300 and frame["id"].is_unique
    assert frame["reviewer"].value_counts().to_dict() == {f"r{i}": 50 for i in range(6)}


def test_read_log_without_a_file_is_empty(tmp_path: Path) -> None:
    frame = read_log(tmp_path / "none.sqlite")
    assert frame.empty and list(frame.columns) == COLUMNS
    assert not (tmp_path / "none.sqlite").exists()

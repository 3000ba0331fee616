"""The reviewers' audit log: an append-only SQLite table of decisions, and the current state derived from it.

Decisions are keyed by transcript and character offsets (never by segment or rule ids), so they survive
re-segmentation and codebook edits; a decision whose text changed is flagged stale, never dropped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pipeline.coding.table import CODEBOOK_HASH, END_CHAR, SOURCE, START_CHAR, THEME, TRANSCRIPT_ID
from pipeline.core.errors import QualcodeError

LOG_NAME = "review.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

Action = Literal["accept", "reject", "change", "add", "memo"]
ACTIONS: tuple[str, ...] = ("accept", "reject", "change", "add", "memo")
STATUSES: tuple[str, ...] = ("unreviewed", "accepted", "rejected", "changed", "added", "stale")
REVIEWED: tuple[str, ...] = ("accepted", "rejected", "changed", "added")
KEY = [TRANSCRIPT_ID, START_CHAR, END_CHAR, THEME]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reviewer TEXT NOT NULL CHECK (length(reviewer) > 0),
    created_at TEXT NOT NULL,
    transcript_id TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    start_char INTEGER NOT NULL CHECK (start_char >= 0),
    end_char INTEGER NOT NULL CHECK (end_char > start_char),
    text_sha TEXT NOT NULL,
    theme_before TEXT NOT NULL DEFAULT '',
    theme_after TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL CHECK (action IN ({", ".join(f"'{a}'" for a in ACTIONS)})),
    memo TEXT NOT NULL DEFAULT '',
    tag_method TEXT NOT NULL DEFAULT '',
    tag_rule_id TEXT NOT NULL DEFAULT '',
    tag_score REAL,
    codebook_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_by_span ON decisions (transcript_id, start_char, end_char);
CREATE TRIGGER IF NOT EXISTS decisions_no_replace BEFORE INSERT ON decisions
WHEN EXISTS (SELECT 1 FROM decisions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the review log is append-only: a decision cannot be replaced'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the review log is append-only: decisions cannot be updated'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the review log is append-only: decisions cannot be deleted'); END;
"""

COLUMNS = [
    "id",
    "reviewer",
    "created_at",
    TRANSCRIPT_ID,
    SOURCE,
    START_CHAR,
    END_CHAR,
    "text_sha",
    "theme_before",
    "theme_after",
    "action",
    "memo",
    "tag_method",
    "tag_rule_id",
    "tag_score",
    CODEBOOK_HASH,
]


def text_sha(text: str) -> str:
    """Fingerprint of a segment's text at decision time; a different hash later means the text changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one tag (or segment), as it is appended to the log."""

    reviewer: str
    transcript_id: str
    start_char: int
    end_char: int
    text_sha: str
    action: Action
    theme_before: str = ""
    theme_after: str = ""
    memo: str = ""
    source: str = ""
    tag_method: str = ""
    tag_rule_id: str = ""
    tag_score: float | None = None
    codebook_hash: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise QualcodeError(f"unknown review action {self.action!r} (one of {', '.join(ACTIONS)})")
        if not self.reviewer.strip():
            raise QualcodeError("a decision needs a reviewer name")
        if not 0 <= self.start_char < self.end_char:
            raise QualcodeError(f"bad offsets {self.start_char}-{self.end_char}")
        needs = {
            "accept": ("theme_before",),
            "reject": ("theme_before",),
            "memo": ("theme_before",),
            "add": ("theme_after",),
            "change": ("theme_before", "theme_after"),
        }[self.action]
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            raise QualcodeError(f"a {self.action!r} decision needs {' and '.join(missing)}")
        if self.action == "change" and self.theme_before == self.theme_after:
            raise QualcodeError("a change must name a different theme")


class ReviewLog:
    """The decisions table of one SQLite file in WAL mode; each call opens its own connection (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path) -> ReviewLog:
        """Create the file and schema if needed (idempotent) and return the log."""
        log = cls(path)
        log.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(log._connect()) as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QualcodeError(
                    f"review log has schema version {version}; this qualcode reads {SCHEMA_VERSION} (upgrade qualcode)",
                    path=log.path,
                )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return log

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.DatabaseError as exc:
            raise QualcodeError(f"cannot open review log: {exc}", path=self.path) from exc
        return connection

    def append(self, decision: Decision, *, now: datetime | None = None) -> int:
        """Insert one decision (never update, never delete) and return its id."""
        row = asdict(decision)
        row["created_at"] = (now or datetime.now(UTC)).isoformat(timespec="microseconds")
        names = list(row)
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                f"INSERT INTO decisions ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [row[name] for name in names],
            )
            return int(cursor.lastrowid)

    def rows(self) -> Iterator[dict[str, Any]]:
        with closing(self._connect()) as connection:
            connection.row_factory = sqlite3.Row
            for row in connection.execute(f"SELECT {', '.join(COLUMNS)} FROM decisions ORDER BY id"):
                yield dict(row)

    def frame(self) -> pd.DataFrame:
        """Every decision, oldest first, as a DataFrame with the log's columns."""
        frame = pd.DataFrame(list(self.rows()), columns=COLUMNS)
        frame["tag_score"] = frame["tag_score"].astype("float64")
        return frame

    def count(self) -> int:
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def last_id(self) -> int:
        """The newest decision's id (0 for an empty log): a cheap test of whether anything changed."""
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0])


def read_log(path: str | Path) -> pd.DataFrame:
    """The decisions of an existing log file (an empty frame if there is no file)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    return ReviewLog.open(path).frame()


@dataclass(frozen=True)
class ReviewState:
    """The current decision per (transcript, offsets, theme), and the stale decisions nobody has superseded."""

    current: pd.DataFrame
    stale: pd.DataFrame
    n_decisions: int


STATE_COLUMNS = [*KEY, "status", "action", "reviewer", "decision_id", "created_at", "memo"]
STALE_COLUMNS = [*COLUMNS, "reason"]


def derive_state(
    decisions: pd.DataFrame,
    *,
    segments: pd.DataFrame,
    texts: Mapping[str, str],
    theme_ids: Collection[str] | None = None,
    reviewer: str | None = None,
) -> ReviewState:
    """Replay the log: the latest valid decision on each key wins (memos only add a note).

    A decision is stale when its transcript is gone, its offsets no longer bound a segment, the text at
    its offsets no longer hashes the same, or its theme left the codebook; stale decisions are listed.
    """
    if reviewer is not None:
        decisions = decisions[decisions["reviewer"] == reviewer]
    decisions = decisions.sort_values("id", kind="stable")
    bounds = set(zip(segments[TRANSCRIPT_ID], segments[START_CHAR].astype(int), segments[END_CHAR].astype(int)))
    reasons = [
        stale_reason(row, bounds=bounds, texts=texts, theme_ids=theme_ids) for row in decisions.itertuples(index=False)
    ]
    decisions = decisions.assign(reason=reasons)
    current: dict[tuple, dict[str, Any]] = {}
    stale: dict[tuple, list[dict[str, Any]]] = {}
    for row in decisions.to_dict("records"):
        for key, status in _effects(row):
            if row["reason"]:
                stale.setdefault(key, []).append(row)
                continue
            if status:
                stale.pop(key, None)  # a later valid decision supersedes stale ones on the same key
            entry = current.setdefault(
                key,
                {
                    "status": "unreviewed",
                    "action": "",
                    "reviewer": "",
                    "decision_id": None,
                    "created_at": "",
                    "memo": "",
                },
            )
            if row["memo"]:
                entry["memo"] = row["memo"]
            if status:
                entry.update(
                    status=status,
                    action=row["action"],
                    reviewer=row["reviewer"],
                    decision_id=int(row["id"]),
                    created_at=row["created_at"],
                )
    current_frame = pd.DataFrame([(*key, *entry.values()) for key, entry in current.items()], columns=STATE_COLUMNS)
    current_frame["decision_id"] = current_frame["decision_id"].astype("Int64")
    stale_rows = {id(row): row for rows in stale.values() for row in rows}
    stale_frame = pd.DataFrame(sorted(stale_rows.values(), key=lambda r: r["id"]), columns=STALE_COLUMNS)
    return ReviewState(current=current_frame, stale=stale_frame, n_decisions=len(decisions))


def _effects(row: Mapping[str, Any]) -> list[tuple[tuple, str]]:
    """The keys a decision touches and the status it gives each ('' for a memo, which changes no status)."""
    span = (row[TRANSCRIPT_ID], int(row[START_CHAR]), int(row[END_CHAR]))
    action = row["action"]
    if action == "accept":
        return [((*span, row["theme_before"]), "accepted")]
    if action == "reject":
        return [((*span, row["theme_before"]), "rejected")]
    if action == "add":
        return [((*span, row["theme_after"]), "added")]
    if action == "change":
        return [((*span, row["theme_before"]), "changed"), ((*span, row["theme_after"]), "added")]
    return [((*span, row["theme_before"] or row["theme_after"]), "")]


def stale_reason(
    row: Any, *, bounds: Collection[tuple[str, int, int]], texts: Mapping[str, str], theme_ids: Collection[str] | None
) -> str:
    """Why a decision no longer applies to the current run ('' when it does)."""
    transcript_id, start, end = row.transcript_id, int(row.start_char), int(row.end_char)
    text = texts.get(transcript_id)
    if text is None:
        return "transcript no longer in the corpus"
    if end > len(text) or text_sha(text[start:end]) != row.text_sha:
        return "the text at these offsets changed"
    if (transcript_id, start, end) not in bounds:
        return "no segment has these offsets any more (segmentation changed)"
    if theme_ids is not None:
        gone = [t for t in (row.theme_before, row.theme_after) if t and t not in theme_ids]
        if gone:
            return f"theme {gone[0]!r} is not in the codebook"
    return ""

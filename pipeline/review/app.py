"""The local review app: a Flask app over the last run's tags and the append-only review log.

Server-rendered, autoescaped jinja2 pages with a little plain JavaScript for keyboard shortcuts; a CSRF token
per session on every POST; meant to be served on 127.0.0.1 only (see cli_review.py).
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
)
from jinja2 import StrictUndefined
from werkzeug.exceptions import BadRequest, HTTPException

from pipeline.coding.table import (
    END_CHAR,
    MATCH_END,
    MATCH_START,
    METHOD,
    RULE_ID,
    SCORE,
    SEGMENT_ID,
    SOURCE,
    START_CHAR,
    TEXT,
    THEME,
    TRANSCRIPT_ID,
)
from pipeline.core.errors import QualcodeError
from pipeline.core.pieces import Piece, split_text
from pipeline.review.apply import apply_decisions
from pipeline.review.corpus import Corpus, load_corpus
from pipeline.review.log import ACTIONS, LOG_NAME, STATUSES, Decision, ReviewLog, ReviewState, derive_state, text_sha
from pipeline.review.queue import QueueFilter, build_queue, machine_agreement

HOST = "127.0.0.1"
PAGE_SIZE = 50
MAX_MEMO = 5000
REVIEWER_PATTERN = re.compile(r"^[\w][\w .@-]{0,63}$")
STATIC = {"review.v1.js": "text/javascript", "review.v1.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
MATRIX_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"


# Rewrites the reports from the review log: (reports_dir, transcripts_dir, codebook_path) -> (matrix, run record)
Regenerate = Callable[..., tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class Snapshot:
    """Everything a page shows, derived from one corpus and one state of the log."""

    corpus: Corpus
    decisions: pd.DataFrame
    state: ReviewState
    reviewed: pd.DataFrame
    queue: pd.DataFrame
    segments: dict[tuple[str, int, int], dict[str, Any]]


@dataclass
class Workspace:
    """Where the app reads and writes: the reports folder, transcripts, codebook and the review log."""

    reports_dir: Path
    transcripts_dir: Path
    codebook_path: Path
    log: ReviewLog
    regenerate: Regenerate
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _corpus: tuple[tuple, Corpus] | None = None
    _segments: dict[tuple[str, int, int], dict[str, Any]] = field(default_factory=dict)
    _tags: dict[tuple[str, int, int, str], dict[str, Any]] = field(default_factory=dict)
    _snapshot: tuple[tuple, Snapshot] | None = None

    def _stamp(self) -> tuple:
        paths = [self.reports_dir / n for n in ("tags.csv", "segments.csv", "run.json")] + [self.codebook_path]
        return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)

    def corpus(self) -> Corpus:
        """The last run, reloaded when its files or the codebook change."""
        stamp = self._stamp()
        with self._lock:
            if self._corpus is None or self._corpus[0] != stamp:
                corpus = load_corpus(
                    reports_dir=self.reports_dir, transcripts_dir=self.transcripts_dir, codebook_path=self.codebook_path
                )
                segments = corpus.segments.to_dict("records")
                self._corpus = (stamp, corpus)
                self._segments = {(s[TRANSCRIPT_ID], int(s[START_CHAR]), int(s[END_CHAR])): s for s in segments}
                self._tags = {
                    (t[TRANSCRIPT_ID], int(t[START_CHAR]), int(t[END_CHAR]), t[THEME]): t
                    for t in corpus.tags.to_dict("records")
                }
            return self._corpus[1]

    def segment(self, key: tuple[str, int, int]) -> dict[str, Any] | None:
        self.corpus()
        return self._segments.get(key)

    def machine_tag(self, key: tuple[str, int, int, str]) -> dict[str, Any] | None:
        self.corpus()
        return self._tags.get(key)

    def snapshot(self) -> Snapshot:
        """The current state of the review, recomputed only when the log or the run changed."""
        corpus = self.corpus()
        stamp = (self._stamp(), self.log.last_id())
        with self._lock:
            if self._snapshot is not None and self._snapshot[0] == stamp:
                return self._snapshot[1]
        decisions = self.log.frame()
        state = derive_state(
            decisions, segments=corpus.segments, texts=corpus.texts, theme_ids=corpus.codebook.theme_ids
        )
        reviewed = apply_decisions(corpus.tags, state, segments=corpus.segments, codebook=corpus.codebook)
        thresholds = (corpus.run.get("classifier") or {}).get("thresholds") or {}
        snapshot = Snapshot(
            corpus=corpus,
            decisions=decisions,
            state=state,
            reviewed=reviewed,
            queue=build_queue(reviewed, thresholds=thresholds),
            segments=dict(self._segments),
        )
        with self._lock:
            self._snapshot = (stamp, snapshot)
        return snapshot


def create_app(
    *, reports_dir: Path, transcripts_dir: Path, codebook_path: Path, reviewer: str, regenerate: Regenerate
) -> Flask:
    """The review app for one project; raises QualcodeError when there is no finished run to review.

    `regenerate` rewrites the reports from the log (workflows.regenerate.regenerate_reports, injected so that
    review never imports the workflows above it)."""
    if not REVIEWER_PATTERN.match(reviewer):
        raise QualcodeError(f"reviewer name {reviewer!r}: use letters, digits, space, . @ _ - (at most 64)")
    workspace = Workspace(
        reports_dir=Path(reports_dir),
        transcripts_dir=Path(transcripts_dir),
        codebook_path=Path(codebook_path),
        log=ReviewLog.open(Path(reports_dir) / LOG_NAME),
        regenerate=regenerate,
    )
    workspace.corpus()
    app = Flask("pipeline", template_folder="templates", static_folder=None)
    app.jinja_options = {
        **app.jinja_options,
        "autoescape": True,
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        TRUSTED_HOSTS=[HOST, "localhost"],
        MAX_CONTENT_LENGTH=64 * 1024,
        QUALCODE_REVIEWER=reviewer,
    )
    app.extensions["qualcode_review"] = workspace
    app.jinja_env.globals.update(
        csrf_token=csrf_token, tag_url=tag_url, fmt=_fmt, reviewer=lambda: current_reviewer(app)
    )
    app.register_blueprint(review_blueprint(workspace))
    return app


def csrf_token() -> str:
    """This session's CSRF token (made on first use); every POST must send it back."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def current_reviewer(app: Flask) -> str:
    return session.get("reviewer") or app.config["QUALCODE_REVIEWER"]


def tag_url(transcript_id: str, start: int, end: int, theme: str = "", filters: QueueFilter | None = None) -> str:
    """The page of one tag (or, without a theme, of one segment), keeping the queue's filters."""
    params = {
        "t": transcript_id,
        "s": start,
        "e": end,
        **({"focus": theme} if theme else {}),
        **(filters.query() if filters else {}),
    }
    return "/tag?" + urlencode(params)


def next_url(transcript_id: str, start: int, end: int, theme: str, filters: QueueFilter) -> str:
    """Where "next" goes: chosen when followed, so it reflects decisions made meanwhile (the queue reorders)."""
    return "/next?" + urlencode({"t": transcript_id, "s": start, "e": end, "focus": theme, **filters.query()})


def _local(url: str, fallback: str) -> str:
    """Only same-site paths are followed after a POST (no open redirects): one leading '/', and no backslash,
    whitespace or control character (browsers drop tabs and newlines, so `/<tab>/host` would become `//host`)."""
    local = (
        url.startswith("/")
        and not url.startswith("//")
        and "\\" not in url
        and all(char.isprintable() and not char.isspace() for char in url)
    )
    return url if local else fallback


def review_blueprint(workspace: Workspace) -> Blueprint:
    """Every page and action of the review app for one workspace, as a Flask blueprint."""
    bp = Blueprint("review", __name__)

    @bp.before_app_request
    def check_csrf() -> None:
        if request.method == "POST":
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
            expected = session.get("csrf_token", "")
            if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
                abort(400, "missing or wrong CSRF token: reload the page and try again")

    @bp.after_app_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.app_errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Any, int]:
        if request.accept_mimetypes.best == "application/json":
            return jsonify(error=error.description), error.code or 500
        return render_template("review_error.html.j2", error=error), error.code or 500

    @bp.app_errorhandler(QualcodeError)
    def qualcode_error(error: QualcodeError) -> tuple[str, int]:
        return render_template("review_error.html.j2", error=BadRequest(str(error))), 500

    @bp.get("/static/<name>")
    def static_file(name: str) -> Response:
        if name not in STATIC:
            abort(404)
        body = (files("pipeline") / "templates" / name).read_text(encoding="utf-8")
        return Response(body, mimetype=STATIC[name])

    @bp.get("/")
    def home() -> Response:
        return redirect("/queue")

    @bp.get("/queue")
    def queue() -> str:
        snap = workspace.snapshot()
        filters = _filters()
        shown = filters.apply(snap.queue)
        page = max(1, request.args.get("page", 1, type=int) or 1)
        rows = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        statuses = snap.queue["review_status"].value_counts()
        return render_template(
            "review_queue.html.j2",
            filters=filters,
            rows=rows.to_dict("records"),
            total=len(shown),
            page=page,
            pages=max(1, -(-len(shown) // PAGE_SIZE)),
            options=_filter_options(snap),
            labels=_labels(snap),
            counts={s: int(statuses.get(s, 0)) for s in STATUSES},
            n_stale=len(snap.state.stale),
            first=_row_url(rows.iloc[0], filters) if len(rows) else "",
        )

    @bp.get("/tag")
    def tag_page() -> str:
        snap = workspace.snapshot()
        filters = _filters()
        key = _span_from(request.args)
        segment = snap.segments.get(key)
        if segment is None:
            abort(404, f"no segment {key[0]} {key[1]}-{key[2]} in the last run")
        theme = request.args.get("focus", "")
        if theme and theme not in snap.corpus.codebook.theme_ids:
            abort(404, f"theme {theme!r} is not in the codebook")
        on_segment = snap.queue[
            (snap.queue[TRANSCRIPT_ID] == key[0])
            & (snap.queue[START_CHAR] == key[1])
            & (snap.queue[END_CHAR] == key[2])
        ].sort_values(THEME)
        focus = on_segment[on_segment[THEME] == theme].to_dict("records") if theme else []
        keys = _keys(filters.apply(snap.queue))
        position = keys.index((*key, theme)) if (*key, theme) in keys else None
        previous = keys[position - 1] if position else None
        history = snap.decisions[
            (snap.decisions[TRANSCRIPT_ID] == key[0])
            & (snap.decisions[START_CHAR] == key[1])
            & (snap.decisions[END_CHAR] == key[2])
        ]
        text = snap.corpus.texts.get(key[0], "")
        theme_state = snap.state.current[
            (snap.state.current[TRANSCRIPT_ID] == key[0])
            & (snap.state.current[START_CHAR] == key[1])
            & (snap.state.current[END_CHAR] == key[2])
        ]
        return render_template(
            "review_tag.html.j2",
            segment=segment,
            key=key,
            theme=theme,
            filters=filters,
            focus=focus[0] if focus else None,
            tags=on_segment.to_dict("records"),
            codebook=snap.corpus.codebook,
            labels=_labels(snap),
            pieces=_pieces(snap, key, focus),
            changed=text[key[1] : key[2]] != segment[TEXT],
            history=history.iloc[::-1].to_dict("records"),
            memos={r[THEME]: r["memo"] for r in theme_state.to_dict("records") if r["memo"]},
            next_url=next_url(*key, theme, filters),
            prev_url=tag_url(*previous, filters=filters) if previous else "",
            position=position,
            total=len(keys),
            self_url=request.full_path.rstrip("?"),
            metadata=_metadata(snap, key[0]),
        )

    @bp.get("/next")
    def next_tag() -> Response:
        """The tag after this one in the queue as it is now; the first one if this one has left the queue."""
        snap = workspace.snapshot()
        filters = _filters()
        key = (*_span_from(request.args), request.args.get("focus", ""))
        keys = _keys(filters.apply(snap.queue))
        following = keys[keys.index(key) + 1 :] if key in keys else [k for k in keys if k != key]
        if not following:
            flash("Nothing left to review with these filters.")
            return redirect("/queue?" + urlencode(filters.query()))
        return redirect(tag_url(*following[0], filters=filters))

    @bp.get("/transcript")
    def transcript_page() -> Response:
        snap = workspace.snapshot()
        tid = request.args.get("t", "")
        own = snap.corpus.segments[snap.corpus.segments[TRANSCRIPT_ID] == tid]
        if own.empty:
            abort(404, f"no transcript {tid!r} in the last run")
        first = own.sort_values(START_CHAR).iloc[0]
        return redirect(tag_url(tid, int(first[START_CHAR]), int(first[END_CHAR])))

    @bp.post("/decide")
    def decide() -> Any:
        corpus = workspace.corpus()
        form = request.form
        key = _span_from(form)
        segment = workspace.segment(key)
        if segment is None:
            abort(400, f"no segment {key[0]} {key[1]}-{key[2]} in the last run")
        action = form.get("action", "")
        if action not in ACTIONS:
            abort(400, f"unknown action {action!r}")
        before, after = form.get("theme", ""), form.get("new_theme", "")
        if action == "add":
            before, after = "", after or before
        elif action != "change":
            after = ""
        for theme in filter(None, (before, after)):
            if theme not in corpus.codebook.theme_ids:
                abort(400, f"theme {theme!r} is not in the codebook")
        memo = form.get("memo", "").strip()
        if len(memo) > MAX_MEMO:
            abort(400, f"memo longer than {MAX_MEMO} characters")
        machine = workspace.machine_tag((*key, before)) if before else None
        score = machine.get(SCORE) if machine else None
        try:
            decision = Decision(
                reviewer=current_reviewer(current_app),
                transcript_id=key[0],
                start_char=key[1],
                end_char=key[2],
                text_sha=text_sha(segment[TEXT]),
                action=action,
                theme_before=before,  # type: ignore[arg-type]
                theme_after=after,
                memo=memo,
                source=str(segment.get(SOURCE, "")),
                tag_method=str(machine[METHOD]) if machine else "human",
                tag_rule_id=str(machine.get(RULE_ID, "")) if machine else "",
                tag_score=None if score is None or pd.isna(score) else float(score),
                codebook_hash=corpus.codebook.hash,
            )
        except QualcodeError as exc:
            abort(400, str(exc))
        decision_id = workspace.log.append(decision)
        if request.accept_mimetypes.best == "application/json":
            return jsonify(id=decision_id, action=action, reviewer=decision.reviewer)
        here = tag_url(*key, after if action in ("add", "change") else before)
        target = form.get("back", "") if action == "memo" else form.get("next", "")
        return redirect(_local(target, here), code=303)

    @bp.post("/reviewer")
    def set_reviewer() -> Response:
        name = request.form.get("reviewer", "").strip()
        if not REVIEWER_PATTERN.match(name):
            abort(400, "reviewer name: letters, digits, space, . @ _ - (at most 64 characters)")
        session["reviewer"] = name
        flash(f"You are reviewing as {name}.")
        return redirect(_local(request.form.get("next", ""), "/queue"), code=303)

    @bp.get("/agreement")
    def agreement() -> str:
        snap = workspace.snapshot()
        table = machine_agreement(snap.reviewed, snap.decisions, codebook=snap.corpus.codebook)
        by_reviewer = snap.decisions.groupby("reviewer")["action"].value_counts().unstack(fill_value=0)
        return render_template(
            "review_agreement.html.j2",
            rows=table.to_dict("records"),
            n_decisions=len(snap.decisions),
            reviewers=[(name, row.to_dict()) for name, row in by_reviewer.iterrows()],
            actions=ACTIONS,
            n_stale=len(snap.state.stale),
        )

    @bp.get("/stale")
    def stale() -> str:
        snap = workspace.snapshot()
        return render_template(
            "review_stale.html.j2",
            rows=snap.state.stale.iloc[::-1].to_dict("records"),
            labels=_labels(snap),
            n_stale=len(snap.state.stale),
        )

    @bp.post("/regenerate")
    def regenerate() -> Response:
        try:
            _, run = workspace.regenerate(
                reports_dir=workspace.reports_dir,
                transcripts_dir=workspace.transcripts_dir,
                codebook_path=workspace.codebook_path,
            )
        except QualcodeError as exc:
            flash(f"Not regenerated: {exc}", "error")
        else:
            review = run.get("review") or {}
            flash(
                f"Matrix regenerated: {run['counts']['evidence_tags']} evidence tags, "
                f"{review.get('reviewed_tags', 0)} reviewed."
            )
        return redirect(_local(request.form.get("next", ""), "/agreement"), code=303)

    @bp.get("/matrix")
    def matrix() -> Response:
        path = workspace.reports_dir / "findings_matrix.html"
        if not path.exists():
            abort(404, "no findings_matrix.html: run `qualcode run`")
        response = send_file(path.resolve(), mimetype="text/html", max_age=0)
        response.headers["Content-Security-Policy"] = MATRIX_CSP
        return response

    return bp


def _filters() -> QueueFilter:
    try:
        return QueueFilter.from_args(request.args)
    except ValueError as exc:
        abort(400, f"bad filter: {exc}")


def _span_from(values: Any) -> tuple[str, int, int]:
    try:
        return (
            values.get("t") or values.get(TRANSCRIPT_ID, ""),
            int(values.get("s", values.get(START_CHAR, ""))),
            int(values.get("e", values.get(END_CHAR, ""))),
        )
    except (TypeError, ValueError):
        abort(400, "a transcript id and integer start and end offsets are needed")


def _keys(queue: pd.DataFrame) -> list[tuple[str, int, int, str]]:
    return [
        (t, int(s), int(e), theme)
        for t, s, e, theme in zip(queue[TRANSCRIPT_ID], queue[START_CHAR], queue[END_CHAR], queue[THEME])
    ]


def _row_url(row: Any, filters: QueueFilter) -> str:
    return tag_url(row[TRANSCRIPT_ID], int(row[START_CHAR]), int(row[END_CHAR]), row[THEME], filters)


def _labels(snap: Snapshot) -> dict[str, str]:
    return {t.id: t.label for t in snap.corpus.codebook.themes}


def _metadata(snap: Snapshot, transcript_id: str) -> dict[str, Any]:
    for transcript in snap.corpus.transcripts:
        if transcript.id == transcript_id:
            return {k: v for k, v in transcript.metadata.items() if k not in ("speakers", "names")}
    return {}


def _filter_options(snap: Snapshot) -> dict[str, list[str]]:
    return {
        "theme": snap.corpus.codebook.theme_ids,
        "transcript": list(dict.fromkeys(snap.corpus.segments[TRANSCRIPT_ID])),
        "status": [*STATUSES, "all"],
        "method": sorted(set(snap.queue[METHOD])),
    }


def _pieces(snap: Snapshot, key: tuple[str, int, int], focus: list[dict[str, Any]]) -> list[Piece]:
    """The transcript split at its segments; every segment links to its page, the current one is marked."""
    text = snap.corpus.texts.get(key[0], "")
    own = snap.corpus.segments[snap.corpus.segments[TRANSCRIPT_ID] == key[0]].sort_values(START_CHAR)
    tagged = set(
        zip(
            snap.reviewed[snap.reviewed[TRANSCRIPT_ID] == key[0]][START_CHAR].astype(int),
            snap.reviewed[snap.reviewed[TRANSCRIPT_ID] == key[0]][END_CHAR].astype(int),
        )
    )

    def segment_piece(start: int, end: int, segment_id: str) -> Piece:
        current = (start, end) == key[1:]
        match = None
        if current and focus and pd.notna(focus[0].get(MATCH_START)) and pd.notna(focus[0].get(MATCH_END)):
            m_start, m_end = int(focus[0][MATCH_START]), int(focus[0][MATCH_END])
            if start <= m_start < m_end <= end:
                match = (text[start:m_start], text[m_start:m_end], text[m_end:end])
        return Piece(
            text[start:end],
            segment_id=segment_id,
            url=tag_url(key[0], start, end),
            current=current,
            tagged=(start, end) in tagged,
            match=match,
        )

    spans = ((int(row[START_CHAR]), int(row[END_CHAR]), row[SEGMENT_ID]) for row in own.to_dict("records"))
    return split_text(text, ((start, end, sid) for start, end, sid in spans if end <= len(text)), segment_piece)


def _fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell: '–' for missing or undefined (NaN)."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)

"""`qualcode review` (the local review app, on 127.0.0.1 only) and `qualcode review-export` (coder files)."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from pipeline.cli.app import CODEBOOK, TRANSCRIPTS, app, console
from pipeline.core.errors import QualcodeError

REPORTS = typer.Option(Path("reports"), "--reports", help="The reports folder of `qualcode run` (holds review.sqlite).")


def default_reviewer() -> str:
    """The login name, as a first guess at who is reviewing."""
    try:
        return getpass.getuser() or "reviewer"
    except (KeyError, OSError):
        return "reviewer"


@app.command("review")
def review(
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="Your name in the audit log (default: login name); each browser session can change it."
    ),
    reports: Path = REPORTS,
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
) -> None:
    """Start the review app on 127.0.0.1 and print its address; decisions go to REPORTS/review.sqlite."""
    from werkzeug.serving import make_server

    from pipeline.review.app import HOST
    from pipeline.workflows.review import review_app

    flask_app = review_app(
        reports_dir=reports,
        transcripts_dir=transcripts,
        codebook_path=codebook,
        reviewer=reviewer or default_reviewer(),
    )
    try:
        server = make_server(HOST, port, flask_app, threaded=True)
    except OSError as exc:
        raise QualcodeError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc} (try --port 0)") from None
    typer.echo(f"http://{HOST}:{server.server_port}/", err=False)
    console.print(f"reviewing {reports}/ (decisions in {reports / 'review.sqlite'}); Ctrl+C to stop", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@app.command("review-export")
def review_export(
    reviewer: str = typer.Option(..., "--reviewer", help="Whose decisions to export."),
    out: Path | None = typer.Option(None, "--out", help="Coder file to write (default: coded/NAME.csv)."),
    reports: Path = REPORTS,
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
) -> None:
    """Write one reviewer's codes (accepted, added, changed-to themes) as a coder file for `qualcode agree`."""
    from pipeline.review.export import export_coder_file

    target = out or Path("coded") / f"{reviewer}.csv"
    path, n_codes, n_stale = export_coder_file(
        reviewer=reviewer, out=target, reports_dir=reports, transcripts_dir=transcripts, codebook_path=codebook
    )
    console.print(
        f"wrote {n_codes} codes by {reviewer} to {path}"
        + (f" ({n_stale} stale decisions left out: see the Stale page of `qualcode review`)" if n_stale else ""),
        highlight=False,
    )

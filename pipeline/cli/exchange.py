"""`qualcode export-qdpx / export-qdc / import-qdc / import-qdpx`: REFI-QDA exchange with other QDA tools."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.app import CODEBOOK, TRANSCRIPTS, app, console


def _say(message: str, *, style: str = "") -> None:
    console.print(f"[{style}]{message}[/{style}]" if style else message, highlight=False, soft_wrap=True)


@app.command("export-qdpx")
def export_qdpx_command(
    out: Path = typer.Option(Path("reports/project.qdpx"), "--out", help="The .qdpx file to write."),
    transcripts: Path = TRANSCRIPTS,
    codebook: Path = CODEBOOK,
    reports: Path = typer.Option(Path("reports"), "--reports", help="Folder of the run whose tags.csv is exported."),
    name: str | None = typer.Option(None, "--name", help="Project name (default: the codebook's name)."),
) -> None:
    """Export transcripts, codebook, metadata and evidence tags as a REFI-QDA project for NVivo, ATLAS.ti, MAXQDA."""
    from pipeline.refi.writer import export_qdpx

    result = export_qdpx(transcripts_dir=transcripts, codebook_path=codebook, reports_dir=reports, out=out, name=name)
    for warning in result.warnings:
        _say(f"warning: {warning}", style="yellow")
    users = ", ".join(result.users) or "none"
    _say(
        f"wrote {result.path}: {result.transcripts} transcripts, {result.themes} themes, {result.selections} coded "
        f"selections with {result.codings} codings (users: {users}); provenance in a note on each selection"
    )


@app.command("export-qdc")
def export_qdc_command(
    out: Path = typer.Option(Path("reports/codebook.qdc"), "--out", help="The .qdc file to write."),
    codebook: Path = CODEBOOK,
) -> None:
    """Export the codebook alone as a REFI-QDA codebook (.qdc): groups with their themes, ToR questions as sets."""
    from pipeline.refi.codebook import export_qdc

    path = export_qdc(codebook_path=codebook, out=out)
    _say(f"wrote {path}")


@app.command("import-qdc")
def import_qdc_command(
    file: Path = typer.Argument(..., help="A .qdc codebook (or a .qdpx project, whose codebook is taken)."),
    out: Path = typer.Option(Path("codebook.yaml"), "--out", help="The codebook.yaml to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Make a codebook.yaml from a codebook made in another tool: codes, hierarchy and descriptions; rules empty."""
    from pipeline.refi.codebook import import_qdc

    result = import_qdc(file, out=out, force=force)
    for note in result.notes:
        _say(f"note: {note}", style="yellow")
    cb = result.codebook
    _say(
        f"wrote {result.path}: {len(cb.themes)} themes in {len(cb.groups)} groups, "
        f"{len(cb.tor_questions)} ToR questions"
    )
    _say(
        "rules are empty: add phrases or patterns to each theme (or train the classifier) before `qualcode run`",
        style="yellow",
    )


@app.command("import-qdpx")
def import_qdpx_command(
    file: Path = typer.Argument(
        ..., help="A .qdpx project exported by NVivo, ATLAS.ti, MAXQDA, QualCoder or qualcode."
    ),
    out: Path | None = typer.Option(None, "--out", help="Folder to write (default: imported/<project name>/)."),
    codebook: Path | None = typer.Option(
        None, "--codebook", help="Map the project's codes onto this codebook's themes."
    ),
    force: bool = typer.Option(False, "--force", help="Write into --out even if it is not empty."),
) -> None:
    """Import a coded project: transcripts with metadata, one coder file of human codes per user, codebook.yaml."""
    from pipeline.refi.reader import import_qdpx

    result = import_qdpx(file, out=out, codebook_path=codebook, force=force)
    _say(f"{result.name!r} from {result.origin}")
    for source in result.sources:
        offsets = f"; offsets read as {source.offsets}" if source.offsets != "no selections" else ""
        _say(f"  {source.file}: {source.characters:,} characters, {source.codings} codings{offsets}")
    for coder, count in result.coders.items():
        _say(f"  coded/{coder}.csv: {count} coded spans")
    if result.provenance_rows:
        _say(f"  provenance.csv: how qualcode found {result.provenance_rows} tags")
    if result.codebook_path:
        _say("  codebook.yaml: the project's codes (rules empty)")
    for theme, (name, count) in sorted(result.unknown_codes.items()):
        _say(
            f"unknown code {name!r} (theme id {theme!r}, {count} spans): not in "
            f"{codebook or 'the codebook'}; kept in the coder files",
            style="yellow",
        )
    for item in result.not_imported:
        _say(f"not imported: {item}", style="yellow")
    for warning in result.warnings:
        _say(f"warning: {warning}", style="yellow")
    if result.written:
        _say(f"wrote {len(result.written)} files to {result.out}/")
    else:
        _say("nothing written")

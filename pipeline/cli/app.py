"""The `qualcode` command: a thin typer layer over the library; errors become one line (exit 1; usage, 2)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from pipeline import __version__
from pipeline.core.choices import Combine, Unit
from pipeline.core.errors import QualcodeError

app = typer.Typer(
    name="qualcode",
    help="Code qualitative interviews against a YAML codebook and write a ToR findings matrix.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

TRANSCRIPTS = typer.Option(
    Path("transcripts"), "--transcripts", help="Folder of transcripts (.txt .md .docx .vtt .srt)."
)
CODEBOOK = typer.Option(Path("codebook.yaml"), "--codebook", help="The YAML codebook.")
SPACY_MODEL = typer.Option(
    None, "--spacy-model", help="An installed trained spaCy pipeline (e.g. en_core_web_sm) instead of blank English."
)
UNIT = typer.Option(Unit.SENTENCE, "--unit", help="Segment unit: sentence or turn.")
UNIT_AS_RUN = typer.Option(Unit.SENTENCE, "--unit", help="Segment unit: sentence or turn (use the one you run with).")
CLASSIFIER_MODEL = typer.Option(
    None,
    "--model",
    help=(
        "Classifier model (.skops) from `qualcode train` (default: models/classifier.skops if it exists and "
        "fits the codebook; else rules only)."
    ),
)
COMBINE = typer.Option(
    Combine.AUTO,
    "--combine",
    help="rules, classifier, union, or auto (the mode the model card measured best; rules without a model).",
)


class TagFormat(StrEnum):
    """What `qualcode tag` prints."""

    CSV = "csv"
    JSON = "json"


class SuggestFormat(StrEnum):
    """What `qualcode suggest` prints."""

    TABLE = "table"
    CSV = "csv"


def print_version(value: bool) -> None:
    """`--version`: print `qualcode <version>` and stop before any command runs."""
    if value:
        typer.echo(f"qualcode {__version__}")
        raise typer.Exit()


@app.callback()
def qualcode(
    version: bool = typer.Option(
        False, "--version", callback=print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Code qualitative interviews against a YAML codebook and write a ToR findings matrix."""


def main() -> None:
    """Console-script entry point: run the app, turning qualcode errors into one line on stderr (exit 1) and
    usage errors (an unknown option, a bad choice) into one line naming the command (exit 2)."""
    if not sys.argv[1:]:
        app()  # `qualcode` alone: the help, as typer shows it
        return
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's errors: usage errors carry the command's context
        context = getattr(exc, "ctx", None)
        if context is None:
            raise
        message = " ".join(exc.format_message().replace("Value error, ", "").split())
        where = context.command_path
        console.print(f"[red]error:[/red] {where}: {message} (see {where} --help)", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("[red]aborted[/red]", highlight=False)
        sys.exit(1)
    except QualcodeError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

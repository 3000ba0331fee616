"""The progress bars of long commands: done / total, rate, elapsed and time left; on a terminal only, and gone
when the command prints its results (so output piped, logged or compared in tests is unchanged)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipeline.cli.app import console


class RateColumn(ProgressColumn):
    """Items per second, in the task's `unit` (e.g. "transcripts/s")."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "")
        if not speed:
            return Text("", style="progress.data.speed")
        shown = f"{speed:.1f}" if speed >= 1 else f"{60 * speed:.1f}"
        return Text(f"{shown} {unit}/{'s' if speed >= 1 else 'min'}", style="progress.data.speed")


def progress_bar() -> Progress:
    """A transient progress bar on stderr, disabled when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )

"""The progress bars of long commands: shown only on a terminal, with a rate in the task's unit."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from pipeline.cli.progress import RateColumn, progress_bar


def test_no_bar_off_a_terminal():
    """Output piped, logged or compared in tests has no bar in it."""
    assert progress_bar().disable


@pytest.mark.parametrize("speed, shown", [(None, ""), (12.34, "12.3 transcripts/s"), (0.05, "3.0 transcripts/min")])
def test_the_rate_is_per_second_or_per_minute(speed, shown):
    progress = Progress()
    task_id = progress.add_task("coding", total=10, unit="transcripts")
    task = progress.tasks[task_id]
    if speed is not None:
        task.finished_speed = speed
    assert RateColumn().render(task).plain == shown

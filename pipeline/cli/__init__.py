"""The `qualcode` command: a thin typer layer that parses options, calls a workflow and prints the result.

Each feature area registers its commands on `app.app` from its own module; importing them here builds the app.
"""

from pipeline.cli import annex, commands, exchange, learn, measure, review  # noqa: F401  (register commands)
from pipeline.cli.app import app, main

__all__ = ["app", "main"]

"""docs/cli.md is exactly what `pipeline.cli.reference` renders from the commands, so it cannot drift."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from pipeline.cli import app
from pipeline.cli.reference import render_reference

CLI_MD = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_docs_cli_md_is_the_generated_reference():
    assert CLI_MD.read_text(encoding="utf-8") == render_reference(), "docs/cli.md is stale: run `make cli-docs`"


def test_reference_has_every_command_with_its_options():
    reference = render_reference()
    for name, command in get_command(app).commands.items():
        section = reference.split(f"\n## qualcode {name}\n", 1)[1].split("\n## ", 1)[0]
        assert section.startswith(f"\n```text\nUsage: qualcode {name} "), name
        for param in command.params:
            for option in param.opts if param.param_type_name == "option" else []:
                assert option in section, f"qualcode {name}: {option} missing from the reference"


def test_reference_is_plain_text_whatever_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERMINAL_WIDTH", "40")
    reference = render_reference()
    assert reference == CLI_MD.read_text(encoding="utf-8")
    assert not set("╭─│╰") & set(reference)

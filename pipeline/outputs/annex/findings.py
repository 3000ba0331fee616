"""The consultant's own finding statements (findings.yaml): per ToR question, statements linked to themes.

Every problem is reported as one line with the file and the line, like the codebook's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.codebook.load import line_of, yaml_error
from pipeline.codebook.model import Codebook
from pipeline.core.errors import FindingsError
from pipeline.core.files import read_utf8
from pipeline.core.yamltext import YamlProblem, load_yaml

STATEMENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Statement(_Strict):
    """One finding in the consultant's words, and the codebook themes whose evidence supports it."""

    text: str = Field(min_length=1)
    themes: list[str] = Field(min_length=1)
    id: str | None = Field(default=None, pattern=STATEMENT_ID_PATTERN)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a statement needs text")
        return " ".join(value.split())


class Findings(_Strict):
    """The whole file: an optional title, and statements per ToR question id (in the file's order)."""

    title: str = ""
    findings: dict[str, list[Statement]] = Field(default_factory=dict)
    path: str = ""

    def statements(self, tor_id: str) -> list[Statement]:
        return self.findings.get(tor_id, [])


def load_findings(path: str | Path, *, codebook: Codebook) -> Findings:
    """Read and validate findings.yaml against the codebook; raises FindingsError naming file and line."""
    path = Path(path)
    text = read_utf8(path, what="findings file", error=FindingsError)
    try:
        raw, node = load_yaml(text)
    except yaml.YAMLError as exc:
        error = yaml_error(exc, path=path)
        raise FindingsError(error.message, path=path, line=error.line) from None
    except YamlProblem as exc:
        raise FindingsError(exc.message, path=path, line=exc.line) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FindingsError("findings file must be a YAML mapping with a `findings:` key", path=path, line=1)
    try:
        findings = Findings.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        message = re.sub(r"^Value error, ", "", error["msg"])
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise FindingsError(f"{'.'.join(map(str, loc))}: {message}{more}", path=path, line=line_of(node, loc)) from None
    problems = _reference_problems(findings, codebook)
    if problems:
        (loc, message), more = problems[0], len(problems) - 1
        line = _key_line(node, loc[1]) if len(loc) == 2 else line_of(node, loc)
        raise FindingsError(message + (f" (and {more} more problems)" if more else ""), path=path, line=line)
    return findings


def _key_line(node: yaml.Node | None, tor_id: str) -> int | None:
    """1-based line of a ToR question id under `findings:` (the key itself, not its list of statements)."""
    findings = next((v for k, v in getattr(node, "value", []) if getattr(k, "value", None) == "findings"), None)
    key = next((k for k, _ in getattr(findings, "value", []) if getattr(k, "value", None) == tor_id), None)
    return key.start_mark.line + 1 if key is not None else line_of(node, ("findings",))


def _reference_problems(findings: Findings, codebook: Codebook) -> list[tuple[tuple[Any, ...], str]]:
    """Unknown ToR ids, unknown themes, themes that do not inform the question, and repeated statement ids."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    tor_ids = [q.id for q in codebook.tor_questions]
    seen_ids: set[str] = set()
    for tor_id, statements in findings.findings.items():
        if tor_id not in tor_ids:
            problems.append(
                (
                    ("findings", tor_id),
                    f"unknown ToR question id {tor_id!r} (codebook {codebook.path or codebook.name} has "
                    f"{', '.join(tor_ids) or 'none'})",
                )
            )
            continue
        linked = {theme.id for theme in codebook.themes_for(tor_id)}
        for s_index, statement in enumerate(statements):
            where = ("findings", tor_id, s_index)
            if statement.id is not None:
                if statement.id in seen_ids:
                    problems.append(((*where, "id"), f"statement id {statement.id!r} is used twice"))
                seen_ids.add(statement.id)
            for t_index, theme_id in enumerate(statement.themes):
                if theme_id not in codebook.theme_ids:
                    problems.append(
                        ((*where, "themes", t_index), f"{tor_id}: unknown theme id {theme_id!r} (not in the codebook)")
                    )
                elif theme_id not in linked:
                    problems.append(
                        (
                            (*where, "themes", t_index),
                            f"{tor_id}: theme {theme_id!r} does not inform {tor_id} in the codebook "
                            f"(add {tor_id} to the theme's `tor` list, or link another theme)",
                        )
                    )
    return problems

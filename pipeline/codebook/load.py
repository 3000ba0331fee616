"""Load and check a codebook file: YAML errors, schema errors and consistency problems, each located by file and
line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.codebook.model import Codebook, codebook_hash
from pipeline.core.errors import CodebookError
from pipeline.core.yamltext import YamlProblem, load_yaml


def load_codebook(path: str | Path) -> Codebook:
    """Read, parse and validate a codebook file; raises CodebookError naming file, line and theme."""
    codebook, problems = check_codebook(path)
    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.message += f" (and {len(problems) - 1} more problems; run `qualcode validate`)"
        raise first
    assert codebook is not None
    return codebook


def check_codebook(path: str | Path) -> tuple[Codebook | None, list[CodebookError]]:
    """Every problem of a codebook file, each located by line; the codebook when there are none."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        return None, [CodebookError(f"cannot read codebook: {exc.strerror or exc}", path=path)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        return None, [CodebookError("codebook is not valid UTF-8", path=path, line=line)]
    try:
        raw, node = load_yaml(text)
    except yaml.YAMLError as exc:
        return None, [yaml_error(exc, path=path)]
    except YamlProblem as exc:
        return None, [CodebookError(exc.message, path=path, line=exc.line)]
    if not isinstance(raw, dict):
        return None, [
            CodebookError("codebook must be a YAML mapping with `name`, `version` and `themes`", path=path, line=1)
        ]
    try:
        codebook = Codebook.model_validate({**raw, "hash": codebook_hash(content), "path": str(path)})
    except ValidationError as exc:
        return None, [
            CodebookError(
                _describe(raw, tuple(error["loc"]), error["msg"]), path=path, line=line_of(node, tuple(error["loc"]))
            )
            for error in exc.errors()
        ]
    problems = [
        CodebookError(message, path=path, line=line_of(node, loc)) for loc, message in consistency_problems(codebook)
    ]
    return (None if problems else codebook), problems


def yaml_error(exc: yaml.YAMLError, *, path: Path, line_offset: int = 0) -> CodebookError:
    """One line for a YAML syntax error: where the parser stopped, and where the construct it was in began."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 + line_offset if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        problem += f" ({context} starting at line {context_mark.line + 1 + line_offset})"
    return CodebookError(f"YAML syntax error: {problem}", path=path, line=line)


def consistency_problems(codebook: Codebook) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-references pydantic cannot check: unique ids, known groups and ToR ids, valid patterns."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    tor_ids = {q.id for q in codebook.tor_questions}
    group_ids = {g.id for g in codebook.groups}
    for index, question in enumerate(codebook.tor_questions):
        if [q.id for q in codebook.tor_questions].index(question.id) != index:
            problems.append((("tor_questions", index, "id"), f"duplicate ToR question id {question.id!r}"))
    for index, group in enumerate(codebook.groups):
        if [g.id for g in codebook.groups].index(group.id) != index:
            problems.append((("groups", index, "id"), f"duplicate group id {group.id!r}"))
    seen_themes: set[str] = set()
    seen_rules: dict[str, str] = {}
    for t_index, theme in enumerate(codebook.themes):
        where = ("themes", t_index)
        if theme.id in seen_themes:
            problems.append(((*where, "id"), f"duplicate theme id {theme.id!r}"))
        seen_themes.add(theme.id)
        if group_ids and theme.group and theme.group not in group_ids:
            problems.append(((*where, "group"), f"theme {theme.id!r}: unknown group {theme.group!r}"))
        for q_index, tor_id in enumerate(theme.tor):
            if tor_id not in tor_ids:
                problems.append(((*where, "tor", q_index), f"theme {theme.id!r}: unknown ToR question id {tor_id!r}"))
        for r_index, rule in enumerate(theme.rules):
            if rule.id in seen_rules:
                problems.append(
                    (
                        (*where, "rules", r_index, "id"),
                        f"theme {theme.id!r}: rule id {rule.id!r} is already used by theme {seen_rules[rule.id]!r}",
                    )
                )
            seen_rules[rule.id] = theme.id
            if rule.pattern is not None:
                message = pattern_problem(rule.pattern)
                if message:
                    problems.append(
                        (
                            (*where, "rules", r_index, "pattern"),
                            f"theme {theme.id!r}, rule {rule.id!r}: bad spaCy token pattern: {message}",
                        )
                    )
    for c_index, rule in enumerate(codebook.context.rules):
        if rule.pattern is not None:
            message = pattern_problem(rule.pattern)
            if message:
                problems.append(
                    (
                        ("context", "rules", c_index, "pattern"),
                        f"context rule {rule.literal!r}: bad spaCy token pattern: {message}",
                    )
                )
    return problems


def pattern_problem(pattern: list[dict[str, Any]]) -> str | None:
    """spaCy's own validation of a Matcher token pattern; None when the pattern is valid."""
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

    matcher = Matcher(Vocab(), validate=True)
    try:
        matcher.add("check", [pattern])
    except (MatchPatternError, ValueError, TypeError, KeyError) as exc:
        return " ".join(str(exc).split())[:200]
    return None


def lint(codebook: Codebook) -> list[str]:
    """Advice that does not make a codebook invalid (e.g. too few examples for the classifier)."""
    advice = []
    for theme in codebook.themes:
        if len(theme.examples.positive) < 3:
            advice.append(f"theme {theme.id!r}: fewer than 3 positive examples")
        if not theme.examples.near_miss:
            advice.append(f"theme {theme.id!r}: no near-miss example")
        if not theme.rules:
            advice.append(f"theme {theme.id!r}: no rules; only the classifier can tag it")
        if not theme.tor:
            advice.append(f"theme {theme.id!r}: informs no ToR question, so it is not in the findings matrix")
    return advice


def line_of(node: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """1-based line of the YAML node at a pydantic location path (deepest node that exists); for any YAML file."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node = match
        line = node.start_mark.line + 1
    return line


def _describe(raw: dict[str, Any], loc: tuple[Any, ...], message: str) -> str:
    """A one-line validation message that names the theme when the problem is inside one."""
    where = ".".join(str(part) for part in loc)
    theme = ""
    if len(loc) >= 2 and loc[0] == "themes" and isinstance(loc[1], int):
        try:
            theme_id = raw["themes"][loc[1]].get("id")
        except (IndexError, AttributeError, KeyError, TypeError):
            theme_id = None
        theme = f"theme {theme_id!r}: " if theme_id else f"theme #{loc[1] + 1}: "
        where = ".".join(str(part) for part in loc[2:]) or where
    message = re.sub(r"^Value error, ", "", message)
    return f"{theme}{where}: {message}"

"""YAML from users' files, parsed once: nesting too deep and lone surrogates become located problems, not crashes."""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_YAML_DEPTH = 64  # a codebook is about 5 levels deep; the parser itself recurses and fails near 300
_SURROGATE = re.compile("[\ud800-\udfff]")


class YamlProblem(ValueError):
    """Valid YAML syntax that qualcode still cannot use; `line` is 1-based within the parsed text (None: unknown)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message, self.line = message, line
        super().__init__(message)


def load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The data and node tree (for line numbers) of one YAML document read with the safe loader.

    Raises yaml.YAMLError for bad syntax, and YamlProblem for nesting deeper than MAX_YAML_DEPTH or a string
    holding a surrogate (a `"\\ud800"` escape: not a character, it cannot be written as UTF-8 later).
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlProblem(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)") from None
        if node is None:
            return None, None
        _check_nodes(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node) -> None:
    """Walk the node graph without recursion (aliases visited once): depth bounded, no lone surrogates."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        line = node.start_mark.line + 1
        if depth > MAX_YAML_DEPTH:
            raise YamlProblem(f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", line=line)
        if isinstance(node, yaml.ScalarNode):
            found = _SURROGATE.search(node.value)
            if found:
                raise YamlProblem(
                    f"a surrogate escape (\\u{ord(found.group()):04x}) is not a character: write the character "
                    "itself, or escape it whole (\\U0001F600, not \\ud83d\\ude00)",
                    line=line,
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.extend(((value, depth + 1), (key, depth + 1)))

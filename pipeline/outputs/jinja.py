"""The one jinja2 environment: templates are package data, HTML is autoescaped."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def environment() -> Environment:
    """Templates are package data; everything HTML is autoescaped."""
    env = Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = markdown_text
    env.filters["code"] = markdown_code
    env.filters["pct"] = lambda value: f"{100 * value:.0f}%"
    return env


_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]~|])")
_BACKTICKS = re.compile(r"`+")


def markdown_text(value: Any) -> str:
    """Text safe inside a Markdown table cell or quote: one line, no raw HTML, and no Markdown of its own
    (backticks, emphasis, links and images, pipes are escaped: a quote cannot load a remote image)."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def markdown_code(value: Any) -> str:
    """A Markdown code span of `value` on one line, fenced by more backticks than any run inside it (CommonMark)."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{padding}{text}{padding}{fence}"

"""Quote text as a report shows it: without transcriber annotations such as `[laughs]`, `[inaudible]`, `(pause)`.

Only the displayed text changes; a quote's segment id and offsets still locate the full text in the transcript.
"""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# `[laughs]`, `[inaudible 00:12:40]`, `[crosstalk]`: any short bracketed note (square brackets are the transcriber's)
_BRACKETED = re.compile(r"[ \t]*\[[^\[\]\n]{1,60}\]")
# `(pause)`, `(laughs)`, `(long pause)`: parentheses only around one to three lowercase words that are not
# function words, so that a spoken aside such as "(in Oslo)" or "(the old one)" stays
_PARENTHESISED = re.compile(r"[ \t]*\((?P<words>[a-z][a-z-]*(?: [a-z][a-z-]*){0,2})\)")


def _note(match: re.Match[str]) -> str:
    words = match.groupdict().get("words")
    return match.group() if words and any(w in ENGLISH_STOP_WORDS for w in words.split()) else ""


def quote_text(text: str) -> str:
    """`text` without its transcriber annotations, spaces tidied ("It's Bergen. [laughs]" -> "It's Bergen.");
    the text itself if nothing else would be left."""
    shown = _PARENTHESISED.sub(_note, _BRACKETED.sub("", text))
    shown = re.sub(r"[ \t]{2,}", " ", shown).strip()
    return shown or text

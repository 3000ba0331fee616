"""Quote text as a report shows it: without transcriber annotations such as `[laughs]`, `[inaudible]`, `(pause)`.

Only the displayed text changes; a quote's segment id and offsets still locate the full text in the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# `[laughs]`, `[inaudible 00:12:40]`, `[crosstalk]`: any short bracketed note (square brackets are the transcriber's)
_BRACKETED = re.compile(r"[ \t]*\[[^\[\]\n]{1,60}\]")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[,.;:!?])")
_DOUBLED_COMMA = re.compile(r",(?:[ \t]*,)+")  # "me, [laughs], after" -> "me, after"
# `(pause)`, `(laughs)`, `(long pause)`: parentheses only around one to three lowercase words that are not
# function words, so that a spoken aside such as "(in Oslo)" or "(the old one)" stays
_PARENTHESISED = re.compile(r"[ \t]*\((?P<words>[a-z][a-z-]*(?: [a-z][a-z-]*){0,2})\)")


def quote_text(text: str, *, keep: Collection[str] = ()) -> str:
    """`text` without its transcriber annotations, spaces tidied ("It's Bergen. [laughs]" -> "It's Bergen.");
    bracketed tags in `keep` (redaction's "[colleague]") stay; the text itself if nothing else would be left."""

    def note(match: re.Match[str]) -> str:
        words = match.groupdict().get("words")
        spoken = words is not None and any(w in ENGLISH_STOP_WORDS for w in words.split())
        return match.group() if spoken or match.group().strip() in keep else ""

    shown = _PARENTHESISED.sub(note, _BRACKETED.sub(note, text))
    shown = _DOUBLED_COMMA.sub(",", _SPACE_BEFORE_PUNCT.sub("", re.sub(r"[ \t]{2,}", " ", shown))).strip()
    return shown or text

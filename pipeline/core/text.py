"""Text forms used for matching only: never for offsets or display."""

from __future__ import annotations

# Curly quotes and apostrophes (as Word and transcription tools write them) and their straight forms; each maps
# one character to one, so a folded text has the offsets of the original.
_STRAIGHT = str.maketrans({"’": "'", "‘": "'", "‚": "'", "ʼ": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"'})


def plain_quotes(text: str) -> str:
    """`text` with curly quotes and apostrophes made straight ("didn’t" -> "didn't"), same length.

    ASCII text has none and is returned as it is (`translate` with this table costs a dict lookup per character;
    spaCy calls this once per new word, for LOWER and the lemma)."""
    return text if text.isascii() else text.translate(_STRAIGHT)

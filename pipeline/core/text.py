"""Text forms used for matching only: never for offsets or display."""

from __future__ import annotations

# Curly quotes and apostrophes (as Word and transcription tools write them) and their straight forms; each maps
# one character to one, so a folded text has the offsets of the original.
_STRAIGHT = str.maketrans({"’": "'", "‘": "'", "‚": "'", "ʼ": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"'})


def plain_quotes(text: str) -> str:
    """`text` with curly quotes and apostrophes made straight ("didn’t" -> "didn't"), same length."""
    return text.translate(_STRAIGHT)

"""Quote text as shown: transcriber annotations out, spoken words (asides in parentheses too) kept."""

from __future__ import annotations

import pytest

from pipeline.outputs.annex.redact import REDACTION_TAGS
from pipeline.outputs.quotes import quote_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("It's Bergen. [laughs]", "It's Bergen."),
        ("[laughs] Snow. I remember the snow.", "Snow. I remember the snow."),
        ("So (laughs) it was [crosstalk] fine.", "So it was fine."),
        ("I said no (long pause) maybe.", "I said no maybe."),
        ("The money [inaudible 00:12:40] came late.", "The money came late."),
        ("We met (in Oslo) twice.", "We met (in Oslo) twice."),  # a spoken aside: function word inside
        ("We went to (Bergen) twice.", "We went to (Bergen) twice."),  # a name, not a note
        ("[inaudible]", "[inaudible]"),  # nothing else to show
        ("No annotations here.", "No annotations here."),
        ("We went [laughs], and then it rained.", "We went, and then it rained."),
        ("Before me, [laughs], she went.", "Before me, she went."),
    ],
)
def test_quote_text(text: str, shown: str) -> None:
    assert quote_text(text) == shown


def test_redaction_tags_are_not_annotations() -> None:
    text = "A nurse who went before me, [colleague], came back. [laughs] She told [respondent] about it."
    assert quote_text(text, keep=REDACTION_TAGS) == (
        "A nurse who went before me, [colleague], came back. She told [respondent] about it."
    )

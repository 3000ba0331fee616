"""Matching forms of text: curly quotes made straight, offsets kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.text import _STRAIGHT, plain_quotes


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("didn’t", "didn't"),
        ("“Yes,” ‘no’", "\"Yes,\" 'no'"),
        ("plain ascii", "plain ascii"),
        ("naïve ’", "naïve '"),
        ("", ""),
    ],
)
def test_plain_quotes(text, plain):
    assert plain_quotes(text) == plain


@given(st.text(alphabet=st.sampled_from("ab '\"’‘‚ʼ′“”„″é\n")) | st.text())
def test_plain_quotes_is_the_translation_on_any_text(text):
    """The ASCII shortcut gives what translating every character gives."""
    assert plain_quotes(text) == text.translate(_STRAIGHT)
    assert len(plain_quotes(text)) == len(text)

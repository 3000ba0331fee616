"""The faster prefix, suffix and infix searches and URL matches give the regexes' own matches, so the tokenizer
gives spaCy's tokens."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path

import pytest
import spacy

from pipeline.nlp import affixes
from pipeline.nlp.affixes import (
    GuardedMatch,
    InfixFinditer,
    PrefixSearch,
    SuffixSearch,
    WholeMatch,
    _required_characters,
    _tree,
    speed_up_affixes,
)
from pipeline.nlp.language import make_nlp

ROOT = Path(__file__).resolve().parent.parent
# Letters, digits, units, every kind of punctuation spaCy splits off, quotes, symbols, blanks and line breaks.
PIECES = [*"abcxyzKMGsmtlbnrAÆßéñøç0123456789.,;:!?'\"()[]{}<>-–—_/\\+*^%$€£°&@#…’‘“”«»¿¡|=~ \n\t"]
PIECES += ["km", "kg", "'s", "n't", "...", "’s", "°C", "😀", "U.S.", "e.g.", "--", "http://x.org"]


TEXT_FILES = (".txt", ".md", ".vtt", ".srt")
TRANSCRIPTS = sorted(path for path in (ROOT / "transcripts").iterdir() if path.suffix in TEXT_FILES)


def _fuzz(pieces: list[str], count: int, seed: int = 13) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) for _ in range(count)]


def _corpus_words() -> list[str]:
    """Every whitespace-separated chunk of the bundled transcripts and docs, and each chunk's ends."""
    texts = [path.read_text(encoding="utf-8") for path in [*TRANSCRIPTS, *sorted(ROOT.glob("docs/*.md"))]]
    chunks = sorted({chunk for text in texts for chunk in text.split()})
    return chunks + [chunk[1:] for chunk in chunks] + [chunk[:-1] for chunk in chunks]


STRINGS = _fuzz(PIECES, 20_000) + _corpus_words()
LANGUAGES = ["en", "de", "nl", "nb", "es", "pt", "fi", "ru", "el", "xx", "fr", "it"]


def _spans(match: re.Match | None) -> tuple[int, int] | None:
    return None if match is None else match.span()


def _same_suffixes(regex: re.Pattern, fast: SuffixSearch, strings: list[str]) -> None:
    for string in strings:
        assert _spans(fast.search(string)) == _spans(regex.search(string)), string


def _same_infixes(regex: re.Pattern, fast: InfixFinditer, strings: list[str]) -> None:
    for string in strings:
        assert [m.span() for m in fast.finditer(string)] == [m.span() for m in regex.finditer(string)], string


@pytest.mark.parametrize("lang", LANGUAGES)
def test_spacys_own_regexes_give_the_same_matches(lang):
    tokenizer = spacy.blank(lang).tokenizer
    suffixes, infixes = tokenizer.suffix_search.__self__, tokenizer.infix_finditer.__self__
    fast_suffixes = SuffixSearch.of(suffixes)
    assert fast_suffixes is not None  # every language's suffix regex is of the form it speeds up
    _same_suffixes(suffixes, fast_suffixes, STRINGS)
    fast_infixes = InfixFinditer.of(infixes)
    if lang in ("fr", "it"):  # an infix of two lookarounds matches an empty string: spaCy's search is kept
        assert fast_infixes is None
    else:
        assert fast_infixes is not None
        _same_infixes(infixes, fast_infixes, STRINGS)


URLS = ["example.org", "https://www.nav.no/x?y=1", "mail@example.org", "10.0.0.1", "8.8.8.8:53", "a.b", "x.Y"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_spacys_prefix_searches_and_url_matches_give_the_same_matches(lang):
    tokenizer = spacy.blank(lang).tokenizer
    prefixes, urls = tokenizer.prefix_search.__self__, tokenizer.url_match.__self__
    fast = PrefixSearch.of(prefixes)
    assert fast is not None  # every language's prefixes start with `^`
    guarded = GuardedMatch.of(urls)
    assert guarded is not None and guarded._required == (".",)
    strings = STRINGS + URLS + [url + tail for url in URLS for tail in (".", ",", ")")]
    for string in strings:
        assert _spans(fast.search(string)) == _spans(prefixes.search(string)), string
        assert _spans(guarded.match(string)) == _spans(urls.match(string)), string
    assert any(urls.match(string) for string in strings)  # the strings test matches, not only misses


@pytest.mark.parametrize(
    ("pattern", "required"),
    [
        (r"a(b|bc)d+e?(?:x|y)", {"a", "b", "d"}),
        (r"(?:ab){2}|xab", {"a", "b"}),
        (r"(?>q\.)z*[./]", {"q", "."}),
        (r"(?i:k)@(?=t)", {"@"}),  # case-insensitive parts and lookaheads hold nothing
        (r"\w+", set()),
    ],
)
def test_required_characters_are_those_every_match_holds(pattern, required):
    assert _required_characters(_tree(re.compile(pattern)).data) == required


@pytest.mark.parametrize("pattern", [r"a(b|bc)d+e?(?:x|y)", r"(?:ab){2}|xab", r"(?>q\.)z*[./]", r"(?i:k)@(?=t)"])
def test_guarded_matches_are_the_regexes_own(pattern):
    regex = re.compile(pattern)
    guarded = GuardedMatch.of(regex)
    assert guarded is not None
    pieces = ["a", "b", "bc", "d", "dd", "e", "x", "y", "ab", "q.", "z", ".", "/", "k", "K", "@", "t", " "]
    strings = _fuzz(pieces, 20_000) + ["abdx", "abcddey", "ababz", "xab.", "q.zz/", "q.", "k@t", "K@tx", "k@x"]
    assert any(regex.match(string) for string in strings)
    for string in strings:
        assert _spans(guarded.match(string)) == _spans(regex.match(string)), string


WHOLE_PATTERNS = [r"(?<=[0-9])(?:km|m)$", r"'s$|’s$|[.,]$", r"^[(\[]|^\.\.+", r"(?<=[a-z])\.(?=[A-Z])", r"(?i:x)y|ly$"]


@pytest.mark.parametrize("pattern", WHOLE_PATTERNS)
def test_a_whole_match_holds_only_for_strings_no_match_can_be_found_in(pattern):
    regex = re.compile(pattern)
    whole = WholeMatch.of([regex])
    assert whole is not None
    pieces = ["k", "m", "km", "3", "'s", "’s", ".", ",", "(", "[", "..", "a", "B", "x", "X", "y", "ly", "s", " "]
    strings = _fuzz(pieces, 20_000) + ["3km", "km", "Let's", "(a", "a.B", "xy", "Xy", "fly", "yl"]
    assert any(regex.search(string) for string in strings)  # the strings test matches, not only misses
    passed = [string for string in strings if whole.match(string)]
    assert passed and all(regex.search(string) is None for string in passed)


def test_a_whole_match_passes_words_the_needed_classes_leave_out():
    whole = WholeMatch.of([re.compile(r"(?<=[0-9])(?:km|m)$"), re.compile(r"'s$"), None])
    assert whole.match("km") and whole.match("Kari")  # the digit the units need, not their letters
    assert not whole.match("3km") and not whole.match("Kari's")


def test_a_token_match_spacy_cannot_save_is_left_as_it_is():
    tokenizer = spacy.blank("en").tokenizer
    tokenizer.token_match = own = lambda string: string == "U.S."  # noqa: E731  (a function, not a regex's match)
    assert speed_up_affixes(tokenizer).token_match is own


@pytest.mark.parametrize("pattern", [r".$", r"[^a]", r"x?$"])
def test_a_whole_match_is_not_made_for_a_regex_of_no_known_needed_character(pattern):
    assert WholeMatch.of([re.compile(r"'s$"), re.compile(pattern)]) is None


@pytest.mark.parametrize(("pattern", "flags"), [(r"\w+\.?", 0), (r"a\.", re.IGNORECASE)])
def test_match_regexes_it_cannot_vouch_for_keep_their_own_match(pattern, flags):
    assert GuardedMatch.of(re.compile(pattern, flags)) is None


@pytest.mark.parametrize(("pattern", "flags"), [(r"^a|b", 0), (r"^a|^b", re.MULTILINE), (r"(^a)|^b", 0)])
def test_searches_not_anchored_at_the_start_keep_their_own_search(pattern, flags):
    assert PrefixSearch.of(re.compile(pattern, flags)) is None


@pytest.mark.parametrize("pattern", [r"^a|^bc|^[xy]z|^\d+|^(?:US\$|C\$)|^x*q|^(?=z)|\A\.\.+", r"^[^a]b|^a?c|^$"])
def test_prefix_regexes_of_every_form_give_the_same_matches(pattern):
    regex = re.compile(pattern)
    fast = PrefixSearch.of(regex)
    assert fast is not None
    strings = _fuzz([*"abcxyzq0129.$ ", "US$", "C$", "..."], 20_000)
    assert any(regex.search(string) for string in strings)
    for string in strings:
        assert _spans(fast.search(string)) == _spans(regex.search(string)), string


def test_infix_search_remembers_only_characters_no_match_starts_with():
    regex = spacy.blank("en").tokenizer.infix_finditer.__self__
    fast = InfixFinditer(regex)
    _same_infixes(regex, fast, STRINGS + STRINGS)
    assert fast._never and not any(fast._starts.match(char) for char in fast._never)


SUFFIXES = [
    r"x+$|ab$|(?<=[0-9])(?:km|m)$|\.\.+$|[%°]$|(?<=[a-z])\.$",  # literal, bounded, unbounded alternatives
    r"(?i)ab$|c$|(?<=a)B$",  # case-insensitive literals are searched, not looked up
    r"(?:'s|n't)$|(a|b)c$|\)\Z",  # groups, and \Z
    r"(?<=\d)(?:st|nd|rd|th)$|(?<!\.)\.$|\W+$",
    r"[^a-z0-9]$|b[a-c]?$|(?<=x)\d$",  # bounded alternatives whose last character is not known
]


@pytest.mark.parametrize("pattern", SUFFIXES)
def test_suffix_regexes_of_every_form_give_the_same_matches(pattern):
    regex = re.compile(pattern)
    fast = SuffixSearch.of(regex)
    assert fast is not None
    _same_suffixes(regex, fast, _fuzz([*"abcxBC0123.%°')n't\n ", "km", "st", "...", "'s"], 20_000))


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        (r"(a)\1$", 0),  # a back reference
        (r"a$|b$", re.MULTILINE),  # `$` before every line break
        (r"a|b$", 0),  # an alternative not at the end
        (r"a?$", 0),  # an alternative that matches an empty string
    ],
)
def test_suffix_regexes_it_cannot_vouch_for_keep_their_own_search(pattern, flags):
    assert SuffixSearch.of(re.compile(pattern, flags)) is None


@pytest.mark.parametrize(
    "pattern",
    [
        r"\.\.+|…|(?<=[0-9])[+\-*^](?=[0-9-])|(?<=[a-z0-9])[:<>=/](?=[a-z])",
        r"(?<=[a-z]),(?=[a-z])|(?<=[a-z0-9])(?:-|–|—|--)(?=[a-z])|(?:y|z)w",
        r"(?:ab)+|[\d]{2,}|(?=c)cd",
    ],
)
def test_infix_regexes_of_every_form_give_the_same_matches(pattern):
    regex = re.compile(pattern)
    fast = InfixFinditer.of(regex)
    assert fast is not None
    _same_infixes(regex, fast, _fuzz([*"abcdxX0129.,:-–—+/*^…= \n"], 20_000))


@pytest.mark.parametrize("pattern", [r"[^a]", r"x*y", r"(?<=a)(?=b)", r"(a)\1", r".b", r"(?i:x)"])
def test_infix_regexes_whose_first_characters_are_unknown_keep_their_own_finditer(pattern):
    assert InfixFinditer.of(re.compile(pattern)) is None


def test_the_remembered_suffixes_are_forgotten_when_full_and_give_the_same_matches(monkeypatch):
    monkeypatch.setattr(affixes, "MEMO_SIZE", 50)
    regex = spacy.blank("en").tokenizer.suffix_search.__self__
    fast = SuffixSearch(regex)
    strings = _fuzz(PIECES, 2_000)
    _same_suffixes(regex, fast, strings + strings)
    assert len(fast._memo) <= 50


def _tokens(tokenizer, texts: list[str]) -> list[list[tuple[str, int, str]]]:
    return [[(t.text, t.idx, t.whitespace_) for t in tokenizer(text)] for text in texts]


TEXTS = [path.read_text(encoding="utf-8") for path in TRANSCRIPTS] + [
    " ".join(_fuzz(PIECES, 3_000, seed=seed)) for seed in range(3)
]


def test_qualcodes_tokenizer_gives_spacys_tokens():
    nlp = make_nlp()
    assert isinstance(nlp.tokenizer.suffix_search.__self__, SuffixSearch)
    assert isinstance(nlp.tokenizer.infix_finditer.__self__, InfixFinditer)
    assert isinstance(nlp.tokenizer.url_match.__self__, GuardedMatch)
    assert isinstance(nlp.tokenizer.prefix_search.__self__, PrefixSearch)
    assert isinstance(nlp.tokenizer.token_match.__self__, WholeMatch)
    assert _tokens(nlp.tokenizer, TEXTS) == _tokens(spacy.blank("en").tokenizer, TEXTS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_languages_tokenizer_with_the_faster_searches_gives_spacys_tokens(lang):
    sample = random.Random(lang).sample(STRINGS, 6_000)  # fuzz and corpus chunks, with their ends
    texts = TEXTS[-3:] + [" ".join(sample[start : start + 400]) for start in range(0, len(sample), 400)]
    fast = speed_up_affixes(spacy.blank(lang).tokenizer)
    assert _tokens(fast, texts) == _tokens(spacy.blank(lang).tokenizer, texts)


def test_a_whole_match_keeps_the_tokenizers_own_token_match():
    own = re.compile(r"\d+-\d+|(?:[A-Z]\.){2,}").match  # "2019-2021" and "U.S." stay whole
    tokenizer, stock = spacy.blank("en").tokenizer, spacy.blank("en").tokenizer
    tokenizer.token_match = stock.token_match = own
    speed_up_affixes(tokenizer)
    assert isinstance(tokenizer.token_match.__self__, WholeMatch)
    assert tokenizer.token_match.__self__.pattern == own.__self__.pattern  # what spaCy saves
    text = "From 2019-2021 the U.S. office (and Kari's team) rotated staff, e.g. twice. " + TEXTS[-1]
    assert _tokens(tokenizer, [text]) == _tokens(stock, [text])
    assert "2019-2021" in [token.text for token in tokenizer(text)]


def test_a_tokenizer_with_the_faster_searches_saves_copies_and_reloads_as_spacys():
    tokenizer = speed_up_affixes(spacy.blank("en").tokenizer)
    stock = spacy.blank("en").tokenizer
    for setting in ("prefix_search", "suffix_search", "infix_finditer", "url_match"):
        assert getattr(tokenizer, setting).__self__.pattern == getattr(stock, setting).__self__.pattern
    reloaded = spacy.blank("en").tokenizer.from_bytes(tokenizer.to_bytes())
    copied = copy.deepcopy(tokenizer)
    assert isinstance(copied.suffix_search.__self__, SuffixSearch)
    assert isinstance(copied.url_match.__self__, GuardedMatch)
    assert isinstance(copied.token_match.__self__, WholeMatch)
    assert tokenizer.token_match.__self__.pattern == "(?!)"  # saved as a match that never holds, as no token_match
    expected = _tokens(stock, TEXTS[-1:])
    assert _tokens(reloaded, TEXTS[-1:]) == expected
    assert _tokens(copied, TEXTS[-1:]) == expected
    text = TEXTS[-1][:2_000]
    assert [piece for _, piece in tokenizer.explain(text)] == [piece for _, piece in stock.explain(text)]

"""A spaCy tokenizer's prefix, suffix and infix searches and URL match, with the same results, found without trying
every alternative of a regex at every position of every new word.

spaCy tokenises a word it has not seen by searching its prefix regex (English: about 100 alternatives, each
starting with `^`), its suffix regex (82 alternatives, each ending in `$`) and its infix regex, and by matching
its URL regex, and `re` tries each alternative at every position: on a million words of new text the suffix and
infix searches alone took about 1 s of the tokenizer's 2.5 s (docs/speed.md).
- `PrefixSearch` tries only the alternatives that can start with the word's first character, and only at the start.
- `SuffixSearch` works out where the leftmost match starts: the longest literal alternative the word ends with
  (a set lookup per length), the other alternatives that can end with the word's last character searched only as
  far back as their width reaches, and alternatives of unbounded width over the whole word. It then runs the
  regex itself from that start, so the match it returns is the regex's own.
- `InfixFinditer` runs the regex only on words holding a character that some infix can start with (characters
  known to start none are remembered); no infix can match in the others.
- `GuardedMatch` runs a match regex (the URL regex) only on words holding the characters every match holds.
- `WholeMatch`, the tokenizer's `token_match`, passes whole a string holding no character that any prefix, suffix,
  infix or URL match needs (for English: a word of letters), so none of those searches runs on it.

All read the regex's parse tree with CPython's own parser (`re._parser`, Python 3.11 and later), and spaCy's
regex is kept for any they cannot vouch for: back references, alternatives that can match an empty string,
MULTILINE, case-insensitive matching where it matters, or a first (last) character they cannot tell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _compiler, _parser
from re import _constants as sre
from string import ascii_letters
from typing import Any, Self

_ZERO_WIDTH = {sre.ASSERT, sre.ASSERT_NOT, sre.AT}
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}
_ENDS = {sre.AT_END, sre.AT_END_STRING}
_UNSEEN = object()
MEMO_SIZE = 1 << 16  # words whose suffix search is remembered (then forgotten all at once)


def _tree(regex: re.Pattern) -> Any:
    """The parse tree of a regex, fresh on each call (compiling part of a tree is done on its own copy)."""
    return _parser.parse(regex.pattern, regex.flags)


def _alternatives(tree: Any) -> list[Any]:
    """The top-level alternatives of a parse tree (the tree itself when it has none)."""
    if len(tree.data) == 1 and tree.data[0][0] is sre.BRANCH:
        return list(tree.data[0][1][1])
    return [tree]


def _compile(tree: Any, picked: list[int], flags: int) -> re.Pattern | None:
    """A regex of these of the tree's top-level alternatives, in their order (None if there are none)."""
    alternatives = _alternatives(tree)
    chosen = [alternatives[i] for i in picked]
    if not chosen:
        return None
    items = chosen[0].data if len(chosen) == 1 else [(sre.BRANCH, (None, chosen))]
    return _compiler.compile(_parser.SubPattern(tree.state, items), flags)


def _items(items: list[tuple]) -> Iterator[tuple]:
    """Every (op, argument) of a parse tree's items, nested ones too."""
    for op, av in items:
        yield op, av
        for part in [av] if isinstance(av, _parser.SubPattern) else av if isinstance(av, (tuple, list)) else ():
            if isinstance(part, _parser.SubPattern):
                yield from _items(part.data)
            elif isinstance(part, list) and part and isinstance(part[0], _parser.SubPattern):
                for branch in part:
                    yield from _items(branch.data)


def _analysable(regex: Any) -> bool:
    """Whether the regex is a `re` pattern whose parse tree these searches may rely on: a str pattern without
    back references, none of whose alternatives can match an empty string (an empty match can be anywhere)."""
    if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
        return False
    tree = _tree(regex)
    if any(op in (sre.GROUPREF, sre.GROUPREF_EXISTS) for op, _ in _items(tree.data)):
        return False
    return all(alternative.getwidth()[0] >= 1 for alternative in _alternatives(tree))


def _class_of(edges: list[list[tuple] | None], regex: re.Pattern) -> re.Pattern | None:
    """One character class of all these edge characters (None if any is unknown or there are none)."""
    if not edges or any(edge is None for edge in edges):
        return None
    items = [item for edge in edges for item in edge]
    return _compiler.compile(_parser.SubPattern(_tree(regex).state, [(sre.IN, items)]), regex.flags)


class _Vouched:
    """A faster stand-in for a regex method, built only for regexes whose form it can vouch for."""

    @classmethod
    def of(cls, regex: Any) -> Self | None:
        """The stand-in for this regex, or None when its form is not one the class can vouch for (its ValueError)."""
        try:
            return cls(regex)
        except ValueError:
            return None


class _EdgeIndex:
    """Some of a regex's top-level alternatives by the character they start (or, `last`, end) with: for a character,
    the regex of those that can (those whose character is unknown included, in their order, so the first to match
    is the regex's own) and the widest one's width; None if none can. One regex per set picked, remembered per
    character."""

    def __init__(self, regex: re.Pattern, picks: list[int], *, last: bool) -> None:
        alternatives = _alternatives(_tree(regex))
        self.regex = regex
        self.picks = picks
        self.edges = {i: _class_of([_edge_characters(alternatives[i].data, last=last)], regex) for i in picks}
        self.widths = {i: alternatives[i].getwidth()[1] for i in picks}
        self.by_char: dict[str, tuple[re.Pattern, int] | None] = {}
        self.by_set: dict[tuple[int, ...], tuple[re.Pattern, int] | None] = {}

    def get(self, char: str) -> tuple[re.Pattern, int] | None:
        if char in self.by_char:
            return self.by_char[char]
        picked = tuple(i for i in self.picks if self.edges[i] is None or self.edges[i].match(char))
        if picked not in self.by_set:
            pattern = _compile(_tree(self.regex), list(picked), self.regex.flags)
            self.by_set[picked] = None if pattern is None else (pattern, max(self.widths[i] for i in picked))
        found = self.by_char[char] = self.by_set[picked]
        return found


class SuffixSearch(_Vouched):
    """`regex.search` for a suffix regex whose alternatives all end in `$` (spaCy's `compile_suffix_regex`)."""

    def __init__(self, regex: re.Pattern) -> None:
        if (
            not _analysable(regex)
            or regex.flags & re.MULTILINE
            or not all(
                alternative.data[-1][0] is sre.AT and alternative.data[-1][1] in _ENDS
                for alternative in _alternatives(_tree(regex))
            )
        ):
            raise ValueError(f"not a suffix regex SuffixSearch can vouch for: {str(regex)[:80]}")
        alternatives = _alternatives(_tree(regex))
        bounded, unbounded = [], []
        literals: dict[int, set[str]] = {}
        for index, alternative in enumerate(alternatives):
            body = alternative.data[:-1]
            if not regex.flags & re.IGNORECASE and all(op is sre.LITERAL for op, _ in body):
                literals.setdefault(len(body), set()).add("".join(chr(code) for _, code in body))
            elif alternative.getwidth()[1] < sre.MAXREPEAT:
                bounded.append(index)
            else:
                unbounded.append(index)
        self.regex = regex
        self.pattern = regex.pattern  # what spaCy saves for a tokenizer's suffix_search (`search.__self__.pattern`)
        self._literals = {length: frozenset(found) for length, found in sorted(literals.items(), reverse=True)}
        # The bounded alternatives by the characters they can end with: a word's last character picks those that
        # may match at its end (spaCy's units, symbols and abbreviation dots, one or two of them mostly), and only
        # they are searched, from as far back as they reach.
        self._ending = _EdgeIndex(regex, bounded, last=True)
        self._unbounded = _compile(_tree(regex), unbounded, regex.flags)
        self._memo: dict[str, re.Match | None] = {}  # a word stripped of its punctuation is searched again

    def search(self, string: str) -> re.Match | None:
        """The regex's leftmost match in `string`, as `regex.search(string)` gives it."""
        found = self._memo.get(string, _UNSEEN)
        if found is _UNSEEN:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            found = self._memo[string] = self._search(string)
        return found

    def _search(self, string: str) -> re.Match | None:
        if string.endswith("\n"):  # `$` also matches before a final line break
            return self.regex.search(string)
        size = len(string)
        start = size  # the leftmost start found so far (every alternative takes a character at least)
        for length, words in self._literals.items():
            if length <= size and string[size - length :] in words:
                start = size - length
                break
        ending = self._ending.get(string[-1:])
        if ending is not None:
            found = ending[0].search(string, max(size - ending[1], 0))
            if found is not None and found.start() < start:
                start = found.start()
        if self._unbounded is not None:
            found = self._unbounded.search(string)
            if found is not None and found.start() < start:
                start = found.start()
        # no match starts before `start`, so the regex searched from there finds the match it finds from 0
        return self.regex.search(string, start) if start < size else None

    def __reduce__(self) -> tuple:
        return SuffixSearch, (self.regex,)


def _edge_characters(items: list[tuple], *, last: bool = False) -> list[tuple] | None:
    """Character-class items that any match of this sequence of parse items starts (or, `last`, ends) with, or
    None if unknown."""
    for op, av in reversed(items) if last else items:
        if op in _ZERO_WIDTH:
            continue
        if op is sre.LITERAL:
            return [(sre.LITERAL, av)]
        if op is sre.IN:
            return None if any(kind is sre.NEGATE for kind, _ in av) else list(av)
        if op is sre.BRANCH:
            found: list[tuple] = []
            for branch in av[1]:
                edge = _edge_characters(branch.data, last=last)
                if edge is None:
                    return None
                found.extend(edge)
            return found
        if op in _REPEATS:
            low, _, repeated = av
            return _edge_characters(repeated.data, last=last) if low >= 1 else None
        if op is sre.SUBPATTERN:
            _, add_flags, del_flags, inner = av
            return None if add_flags or del_flags else _edge_characters(inner.data, last=last)
        return None
    return None


class InfixFinditer(_Vouched):
    """`regex.finditer` for an infix regex, run only on strings holding a character some match starts with."""

    def __init__(self, regex: re.Pattern) -> None:
        starts = _edge_characters(_tree(regex).data) if _analysable(regex) else None
        if starts is None:
            raise ValueError(f"not an infix regex whose matches' first characters are known: {str(regex)[:80]}")
        self.regex = regex
        self.pattern = regex.pattern  # what spaCy saves for a tokenizer's infix_finditer
        self._starts = _class_of([starts], regex)
        # characters seen that no match starts with: a set lookup each, where the class (thousands of Unicode
        # ranges in spaCy's infixes) costs microseconds a word to search
        self._never: set[str] = set()

    def finditer(self, string: str) -> Iterator[re.Match]:
        """The regex's matches in `string`, as `regex.finditer(string)` gives them."""
        if self._never.issuperset(string) or not self._may_start(string):
            return iter(())
        return self.regex.finditer(string)

    def _may_start(self, string: str) -> bool:
        """Whether a character of `string` is one some match starts with (the class matches it)."""
        for char in set(string).difference(self._never):
            if self._starts.match(char):
                return True
            self._never.add(char)
        return False

    def __reduce__(self) -> tuple:
        return InfixFinditer, (self.regex,)


def _required_characters(items: list[tuple]) -> set[str]:
    """Characters that every match of this sequence of parse items holds (a necessary condition, not all of them):
    its literals, those of a repeat taken at least once, and those every alternative of a branch holds. Parts
    that match case-insensitively hold none."""
    found: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            found.add(chr(av))
        elif op is sre.SUBPATTERN:
            _, add_flags, _, inner = av
            if not add_flags & re.IGNORECASE:
                found |= _required_characters(inner.data)
        elif op is sre.ATOMIC_GROUP:
            found |= _required_characters(av.data)
        elif op is sre.BRANCH:
            found |= set.intersection(*(_required_characters(branch.data) for branch in av[1]))
        elif op in _REPEATS:
            low, _, repeated = av
            if low >= 1:
                found |= _required_characters(repeated.data)
    return found


class GuardedMatch(_Vouched):
    """`regex.match` for a regex every match of which holds certain characters (spaCy's URL regex: a "."): a
    string without one of them cannot match, so it gets None without the regex running (a microsecond or two
    on every new word)."""

    def __init__(self, regex: re.Pattern) -> None:
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str) or regex.flags & re.IGNORECASE:
            raise ValueError(f"not a regex GuardedMatch can vouch for: {str(regex)[:80]}")
        required = _required_characters(_tree(regex).data)
        if not required:
            raise ValueError(f"no character every match holds: {str(regex)[:80]}")
        self.regex = regex
        self.pattern = regex.pattern  # what spaCy saves for a tokenizer's url_match and token_match
        self._required = tuple(sorted(required))

    def match(self, string: str) -> re.Match | None:
        """`regex.match(string)`."""
        for char in self._required:
            if char not in string:
                return None
        return self.regex.match(string)

    def __reduce__(self) -> tuple:
        return GuardedMatch, (self.regex,)


class PrefixSearch(_Vouched):
    """`regex.search` for a prefix regex whose alternatives all start with `^` or `\\A` and `^` means the string's
    start (no MULTILINE), so a match can only start there (spaCy's `compile_prefix_regex`). The string's first
    character picks the alternatives that can start with it (most words': none), and only they are tried, at the
    start only; `re` would try all of them at every position of the word."""

    def __init__(self, regex: re.Pattern) -> None:
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str) or regex.flags & re.MULTILINE:
            raise ValueError(f"not a prefix regex PrefixSearch can vouch for: {str(regex)[:80]}")
        alternatives = _alternatives(_tree(regex))
        starts = {sre.AT_BEGINNING, sre.AT_BEGINNING_STRING}
        for alternative in alternatives:
            first = alternative.data[0] if len(alternative.data) else None
            if first is None or first[0] is not sre.AT or first[1] not in starts:
                raise ValueError(f"an alternative not anchored at the start: {str(regex)[:80]}")
        self.regex = regex
        self.pattern = regex.pattern  # what spaCy saves for a tokenizer's prefix_search
        self._starting = _EdgeIndex(regex, list(range(len(alternatives))), last=False)

    def search(self, string: str) -> re.Match | None:
        """The regex's match in `string`, as `regex.search(string)` gives it."""
        starting = self._starting.get(string[:1])
        return None if starting is None else starting[0].match(string)

    def __reduce__(self) -> tuple:
        return PrefixSearch, (self.regex,)


# Letters a word is likely to hold: of the classes every match of an affix alternative needs a character of, the one
# holding fewest of these is the one a string must lack (`WholeMatch`), so that most words are passed whole.
_WORD_LETTERS = ascii_letters + "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœšžłđąęćńśźżğışαβγδεικλμνοπρστωабвгдежзиклмнопрст"


def _needed_classes(alternative: Any) -> list[list[tuple]]:
    """Character classes (as parse items) of which every match of this alternative holds a character: its first
    and last characters, its literals and the first character of each positive lookaround at its top level (a
    lookaround that holds looks at characters of the string searched)."""
    data = alternative.data
    found = [_edge_characters(data), _edge_characters(data, last=True)]
    found += [[(sre.LITERAL, ord(char))] for char in sorted(_required_characters(data))]
    found += [_edge_characters(av[1].data) for op, av in data if op is sre.ASSERT]
    return [items for items in found if items]


def _needed_class(regex: re.Pattern) -> list[tuple] | None:
    """Items of one character class such that no string without a character of it holds a match of the regex
    (for each alternative, the class of its that the fewest likely letters are in), or None if some alternative
    has none."""
    if not _analysable(regex):
        return None
    tree = _tree(regex)
    items: list[tuple] = []
    for alternative in _alternatives(tree):
        best, fewest = None, len(_WORD_LETTERS) + 1
        for found in sorted(_needed_classes(alternative), key=len):  # single characters first, the cheapest
            held = _letters_held(found, tree.state, regex.flags)
            if held < fewest:
                best, fewest = found, held
            if not held:
                break
        if best is None:
            return None
        items.extend(best)
    return items


def _letters_held(items: list[tuple], state: Any, flags: int) -> int:
    """How many of the likely letters a character class of these items holds."""
    if len(items) == 1 and items[0][0] is sre.LITERAL and not flags & re.IGNORECASE:
        return int(chr(items[0][1]) in _WORD_LETTERS)
    return len(_compiler.compile(_parser.SubPattern(state, [(sre.IN, items)]), flags).findall(_WORD_LETTERS))


class WholeMatch:
    """A tokenizer's `token_match` that also holds (is truthy) for a string with no character that any match of
    its prefix, suffix, infix or URL regex needs: spaCy's affix rules would leave such a string one token, so its
    prefix, suffix and infix searches and URL match need not run. The tokens are the same: spaCy looks up special
    cases and its cache before it asks `token_match` (or right after, with the same outcome for such a string).
    `Tokenizer.explain` calls such words TOKEN_MATCH rather than TOKEN."""

    def __init__(self, regexes: list[re.Pattern], original: Any = None) -> None:
        saved = None if original is None else _bound_to(original, "match")
        if original is not None and saved is None:
            raise ValueError("a token_match that is not a regex's match: spaCy could not save a pattern for it")
        items: list[tuple] = []
        for regex in regexes:
            found = _needed_class(regex)
            if found is None:
                raise ValueError(f"a regex with an alternative of no known needed character: {str(regex)[:80]}")
            items.extend(found)
        flags = re.IGNORECASE if any(regex.flags & re.IGNORECASE for regex in regexes) else 0
        self.regexes = regexes
        self.original = original
        self._needed = _compiler.compile(_parser.SubPattern(_parser.State(), [(sre.IN, items)]), flags | re.UNICODE)
        # characters known to be in the class or not, each tested once: the class (thousands of Unicode ranges in
        # spaCy's affixes) costs about a microsecond a character to search
        self._bound: set[str] = set()
        self._free: set[str] = set()
        # what spaCy saves for a tokenizer's token_match (`match.__self__.pattern`): the original's, or one that
        # never matches (as no token_match, spaCy's default), since a reloaded tokenizer gets a plain regex
        self.pattern = "(?!)" if saved is None else saved.pattern

    @classmethod
    def of(cls, regexes: list[re.Pattern | None], original: Any = None) -> Self | None:
        """The match for these regexes (None ones have no matches), or None when it cannot vouch for one of them."""
        try:
            return cls([regex for regex in regexes if regex is not None], original)
        except ValueError:
            return None

    def match(self, string: str) -> Any:
        """Truthy where the original token_match is, or where the string lacks every needed character."""
        if self.original is not None and (found := self.original(string)):
            return found
        if self._free.issuperset(string):
            return True
        if not self._bound.isdisjoint(string):
            return False
        for char in set(string).difference(self._free):
            (self._bound if self._needed.match(char) else self._free).add(char)
        return self._bound.isdisjoint(string)

    def __reduce__(self) -> tuple:
        return WholeMatch, (self.regexes, self.original)


def _bound_to(method: Any, name: str) -> Any:
    """The regex a tokenizer setting is a bound method of (`name`: search, finditer, match), or None."""
    return getattr(method, "__self__", None) if getattr(method, "__name__", "") == name else None


# A tokenizer's regex settings and the name of the regex method each is bound to
_SETTINGS = {"prefix_search": "search", "suffix_search": "search", "infix_finditer": "finditer", "url_match": "match"}
_FASTER = {"prefix_search": PrefixSearch, "suffix_search": SuffixSearch, "infix_finditer": InfixFinditer}


def speed_up_affixes(tokenizer: Any) -> Any:
    """Give a spaCy tokenizer the faster prefix, suffix and infix searches and URL and token matches where its
    regexes allow, and a token match that passes whole the strings no affix or URL match can split (the same
    tokens)."""
    bound = {setting: _bound_to(getattr(tokenizer, setting), method) for setting, method in _SETTINGS.items()}
    # every setting that is set is a regex's method (a search sped up before holds its regex)
    known = all(found is not None or getattr(tokenizer, setting) is None for setting, found in bound.items())
    regexes = [getattr(found, "regex", found) for found in bound.values()]
    for setting, faster in _FASTER.items():
        if fast := faster.of(bound[setting]):
            setattr(tokenizer, setting, getattr(fast, _SETTINGS[setting]))
    for setting in ("url_match", "token_match"):
        if guarded := GuardedMatch.of(_bound_to(getattr(tokenizer, setting), "match")):
            setattr(tokenizer, setting, guarded.match)
    original = tokenizer.token_match
    if known and not isinstance(getattr(original, "__self__", None), WholeMatch):
        if whole := WholeMatch.of(regexes, original):
            tokenizer.token_match = whole.match
    return tokenizer

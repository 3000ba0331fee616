"""Codebook loading: the bundled codebook is complete, and every kind of mistake is located by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.codebook.load import check_codebook, lint, load_codebook
from pipeline.codebook.model import MatchAttr
from pipeline.codebook.patterns import span_ruler_patterns
from pipeline.core.errors import CodebookError

ROOT = Path(__file__).resolve().parent.parent
FIXED_IDS = [
    "language_barrier",
    "generic_tasks",
    "staff_rotation",
    "room_for_innovation",
    "age_limit",
    "external_recruitment",
    "management_anchoring",
    "reciprocity",
    "long_term_exchange",
    "cultural_brokers",
    "knowledge_sharing",
    "relevant_tasks",
    "lack_of_resources",
]
VALID = (Path(__file__).parent / "fixtures" / "codebooks" / "minimal.yaml").read_text()


def test_bundled_codebook_is_complete(study_codebook):
    assert len(study_codebook.themes) >= 25
    assert [q.id for q in study_codebook.tor_questions] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert set(FIXED_IDS) <= set(study_codebook.theme_ids)
    for theme in study_codebook.themes:
        assert theme.definition and theme.include and theme.exclude, theme.id
        assert len(theme.examples.positive) >= 3 and theme.examples.near_miss, theme.id
        assert theme.rules and theme.tor, theme.id
    assert lint(study_codebook) == []
    assert {r.category.value for r in study_codebook.context.rules} >= {
        "NEGATED_EXISTENCE",
        "HYPOTHETICAL",
        "PSEUDO",
        "TERMINATE",
    }


def test_hash_changes_with_content(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text(VALID)
    second = tmp_path / "b.yaml"
    second.write_text(VALID.replace("Minimal test codebook", "Another name"))
    assert load_codebook(first).hash != load_codebook(second).hash
    assert load_codebook(first).hash == load_codebook(first).hash


def test_patterns_split_by_attribute(minimal_codebook):
    lower = span_ruler_patterns(minimal_codebook, match=MatchAttr.LOWER)
    lemma = span_ruler_patterns(minimal_codebook, match=MatchAttr.LEMMA)
    assert {p["pattern"] for p in lower} == {"language barrier", "language problem"}
    assert [p["id"] for p in lemma] == ["lb.speak"]
    assert all(p["label"] == "language_barrier" for p in lower + lemma)


BROKEN = [
    # (description, text edit, expected line, words the message must contain)
    (
        "yaml syntax",
        lambda t: t.replace("label: Barriers", "label: [Barriers"),
        6,
        ["YAML syntax error", "flow sequence starting at line 5"],
    ),
    (
        "unknown key",
        lambda t: t.replace("    label: Language barrier", "    label: Language barrier\n    colour: red"),
        13,
        ["language_barrier", "colour", "Extra inputs"],
    ),
    ("unknown tor id", lambda t: t.replace("tor: [Q1]", "tor: [Q9]"), 15, ["language_barrier", "unknown ToR", "Q9"]),
    (
        "unknown group",
        lambda t: t.replace("    group: barriers", "    group: obstacles"),
        13,
        ["language_barrier", "unknown group", "obstacles"],
    ),
    (
        "bad token pattern",
        lambda t: t.replace("{LEMMA: speak}", "{LEMA: speak}"),
        23,
        ["language_barrier", "lb.speak", "bad spaCy token pattern"],
    ),
    ("bad theme id", lambda t: t.replace("- id: language_barrier", "- id: Language Barrier"), 11, ["id", "pattern"]),
    (
        "rule with phrases and pattern",
        lambda t: t.replace(
            "        pattern: [{LEMMA: speak}, {LOWER: norwegian}]",
            "        pattern: [{LEMMA: speak}]\n        phrases: [speak]",
        ),
        22,
        ["language_barrier", "rules.1", "not both"],
    ),
    (
        "missing definition",
        lambda t: t.replace("    definition: Not speaking the host language limits learning.\n", ""),
        11,
        ["language_barrier", "definition", "Field required"],
    ),
    ("context direction", lambda t: t.replace("direction: FORWARD}", "direction: TERMINATE}"), 27, ["TERMINATE"]),
    (
        "surrogate escape in a label",
        lambda t: t.replace("label: Language barrier", 'label: "Language \\ud800 barrier"'),
        12,
        ["surrogate", "\\ud800", "not a character"],
    ),
    (
        "nested too deeply for the parser",
        lambda t: t.replace("label: Language barrier", "label: " + "[" * 5000 + "]" * 5000),
        None,
        ["nested too deeply"],
    ),
    (
        "nested deeper than any codebook",
        lambda t: t.replace("label: Language barrier", "label: " + "[" * 100 + "]" * 100),
        12,
        ["nested too deeply", "64 levels"],
    ),
]


@pytest.mark.parametrize("name,edit,line,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_codebook_is_located(tmp_path, name, edit, line, words):
    path = tmp_path / "codebook.yaml"
    path.write_text(edit(VALID))
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: "), message
    for word in words:
        assert word in message, message
    assert "\n" not in message


def test_duplicate_theme_and_rule_ids(tmp_path):
    themes = VALID.split("themes:\n")[1].split("context:")[0]
    path = tmp_path / "codebook.yaml"
    path.write_text(VALID.replace("context:", themes + "context:", 1).replace("themes:\n", "themes:\n", 1))
    cb, problems = check_codebook(path)
    assert cb is None
    messages = [str(p) for p in problems]
    assert any("duplicate theme id 'language_barrier'" in m for m in messages)
    assert any("rule id 'lb.lower' is already used" in m for m in messages)
    with pytest.raises(CodebookError, match="more problems"):
        load_codebook(path)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "must be a YAML mapping"),
        (b"- a\n- b\n", "must be a YAML mapping"),
        (b"name: x\xff\n", "not valid UTF-8"),
    ],
)
def test_not_a_codebook(tmp_path, content, message):
    path = tmp_path / "codebook.yaml"
    path.write_bytes(content)
    with pytest.raises(CodebookError, match=message):
        load_codebook(path)


def test_missing_file(tmp_path):
    with pytest.raises(CodebookError, match="cannot read codebook"):
        load_codebook(tmp_path / "nope.yaml")


def test_codebook_without_rules_is_valid(tmp_path):
    text = VALID.split("    rules:")[0] + "context:\n  rules: []\n"
    path = tmp_path / "codebook.yaml"
    path.write_text(text)
    cb = load_codebook(path)
    assert cb.themes[0].rules == []
    assert any("no rules" in advice for advice in lint(cb))


def test_definitions_only_codebook_is_valid(tmp_path):
    """A codebook written from another study's code definitions: no groups, ToR questions, rules or examples."""
    path = tmp_path / "codebook.yaml"
    path.write_text(
        "name: Other study\nversion: '1'\nthemes:\n  - id: trust\n    label: Trust\n"
        "    definition: Trust between partners.\n"
    )
    codebook = load_codebook(path)
    assert (codebook.themes[0].group, codebook.themes[0].tor, codebook.themes[0].rules) == ("", [], [])
    with_groups = tmp_path / "grouped.yaml"
    with_groups.write_text(VALID.replace("    group: barriers\n", "", 1))
    assert load_codebook(with_groups).themes[0].group == ""

"""findings.yaml: the bundled statements fit the bundled codebook, and every mistake is one line with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.codebook.load import load_codebook
from pipeline.core.errors import FindingsError
from pipeline.outputs.annex.findings import load_findings

ROOT = Path(__file__).resolve().parent.parent
ANNEX = Path(__file__).resolve().parent / "fixtures" / "annex"
VALID = (ANNEX / "findings.yaml").read_text()


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(ANNEX / "codebook.yaml")


def test_bundled_findings_fit_the_bundled_codebook(study_codebook):
    findings = load_findings(ROOT / "findings.yaml", codebook=study_codebook)
    assert set(findings.findings) <= {q.id for q in study_codebook.tor_questions}
    assert sum(len(s) for s in findings.findings.values()) >= 5
    uncovered = [
        theme.id
        for q in study_codebook.tor_questions
        for theme in study_codebook.themes_for(q.id)
        if theme.id not in {t for s in findings.statements(q.id) for t in s.themes}
    ]
    assert uncovered, "some themes must be left without a statement so that drafts appear"


def test_statements_keep_order_ids_and_normalised_text(codebook):
    findings = load_findings(ANNEX / "findings.yaml", codebook=codebook)
    assert findings.title == "Test annex"
    assert [s.id for s in findings.statements("Q1")] == ["q1.language"]
    assert findings.statements("Q2")[0].themes == ["reciprocity", "cultural_brokers"]
    assert findings.statements("Q3") == []


def test_folded_text_is_one_line(codebook, tmp_path):
    path = tmp_path / "findings.yaml"
    path.write_text(
        "findings:\n  Q1:\n    - text: >-\n        Language   limits\n        learning.\n"
        "      themes: [language_barrier]\n"
    )
    assert load_findings(path, codebook=codebook).statements("Q1")[0].text == "Language limits learning."


BROKEN = [
    # (description, edit of the valid fixture, expected line, words the message must contain)
    (
        "unknown theme",
        lambda t: t.replace("themes: [language_barrier]", "themes: [languag_barrier]"),
        8,
        ["unknown theme id", "languag_barrier"],
    ),
    ("unknown ToR question", lambda t: t.replace("  Q2:", "  Q9:"), 9, ["unknown ToR question id", "Q9"]),
    (
        "theme of another question",
        lambda t: t.replace("[reciprocity, cultural_brokers]", "[reciprocity, age_limit]"),
        12,
        ["age_limit", "does not inform Q2"],
    ),
    (
        "unknown key",
        lambda t: t.replace("      text: Language", "      colour: red\n      text: Language"),
        7,
        ["colour", "Extra inputs"],
    ),
    ("no themes", lambda t: t.replace("      themes: [language_barrier]\n", ""), 6, ["themes", "Field required"]),
    ("empty theme list", lambda t: t.replace("themes: [language_barrier]", "themes: []"), 8, ["themes", "at least 1"]),
    ("repeated id", lambda t: t.replace("id: q2.reciprocity", "id: q1.language"), 10, ["q1.language", "twice"]),
    (
        "yaml syntax",
        lambda t: t.replace("themes: [language_barrier]", "themes: [language_barrier"),
        9,
        ["YAML syntax error"],
    ),
    ("not a mapping", lambda t: "- just\n- a list\n", 1, ["mapping"]),
]


@pytest.mark.parametrize("description, edit, line, words", BROKEN, ids=[b[0] for b in BROKEN])
def test_mistakes_are_one_line_with_file_and_line(codebook, tmp_path, description, edit, line, words):
    path = tmp_path / "findings.yaml"
    path.write_text(edit(VALID))
    with pytest.raises(FindingsError) as caught:
        load_findings(path, codebook=codebook)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message


def test_unreadable_file_is_named(codebook, tmp_path):
    with pytest.raises(FindingsError, match="cannot read findings") as caught:
        load_findings(tmp_path / "missing.yaml", codebook=codebook)
    assert str(tmp_path / "missing.yaml") in str(caught.value)

"""The vocab computes only the lexical attributes something reads, and coding gives the same tags as with all."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
import yaml
from hypothesis import given
from hypothesis import strategies as st
from spacy.attrs import LIKE_NUM
from spacy.lang.en.lex_attrs import like_num

from pipeline.codebook.load import load_codebook
from pipeline.codebook.patterns import pattern_attributes
from pipeline.coding.corpus import build_nlp, code_corpus
from pipeline.coding.rules import add_rules
from pipeline.ingest.read import discover
from pipeline.nlp.language import make_nlp
from pipeline.nlp.lexemes import PIPELINE_ATTRIBUTES, LettersFirstLikeNum, _english_number_words

ROOT = Path(__file__).resolve().parent.parent
# Words the pipeline has not seen: numbers, urls, e-mails, shapes, stop words, brackets, currency, quotes.
NEW_WORDS = "Zorblat 1,204 twelve https://example.org/x mail@example.org (QX-7) £40 “quoted” the Ünïcode x2 ..."
LEXICAL = ["IS_ALPHA", "IS_DIGIT", "IS_TITLE", "IS_UPPER", "IS_STOP", "LIKE_NUM", "LIKE_URL", "LIKE_EMAIL", "SHAPE"]
LEXICAL += ["PREFIX", "SUFFIX", "IS_CURRENCY", "IS_BRACKET", "IS_QUOTE", "IS_ASCII", "NORM"]


def _values(nlp, name: str) -> list:
    attribute = name.lower() + ("_" if name in ("SHAPE", "PREFIX", "SUFFIX", "LOWER", "NORM") else "")
    return [getattr(token, attribute) for token in nlp(NEW_WORDS)]


@pytest.mark.parametrize("name", LEXICAL)
def test_named_attributes_are_computed_as_spacy_computes_them(name):
    full = spacy.blank("en")
    assert _values(make_nlp(lexical_attributes=[name]), name) == _values(full, name)


@pytest.mark.parametrize("name", sorted(PIPELINE_ATTRIBUTES))
def test_the_pipelines_own_attributes_are_always_computed(name):
    # LOWER folds curly quotes in qualcode's pipeline (nlp.components), so compare with a full qualcode pipeline
    assert _values(make_nlp(lexical_attributes=[]), name) == _values(make_nlp(), name)


def test_unnamed_attributes_are_not_computed_and_other_pipelines_keep_theirs():
    lean = make_nlp(lexical_attributes=["LIKE_NUM"])
    assert len(make_nlp().vocab.lex_attr_getters) == len(spacy.blank("en").vocab.lex_attr_getters) == 23
    assert [t.shape_ for t in lean("Zorblat")] == [""]  # computed by no one, so empty
    assert [t.like_num for t in lean("twelve")] == [True]


NUMBER_WORDS = sorted(_english_number_words())
CASED = st.sampled_from(NUMBER_WORDS).flatmap(lambda w: st.sampled_from([w, w.upper(), w.title(), w + "s", "x" + w]))


@given(
    st.one_of(CASED, st.text(min_size=1, max_size=12), st.from_regex(r"[+\-±~]?[0-9a-zA-Zß,./]{1,10}", fullmatch=True))
)
def test_like_num_for_letters_only_is_spacys_english_like_num(text):
    assert LettersFirstLikeNum(like_num, _english_number_words())(text) == like_num(text)


def test_the_lean_pipeline_answers_like_num_for_letters_without_spacys_getter():
    getter = make_nlp(lexical_attributes=["LIKE_NUM"]).vocab.lex_attr_getters[LIKE_NUM]
    assert isinstance(getter, LettersFirstLikeNum) and {"twelve", "twentieth", "million"} <= getter.words
    assert [getter(w) for w in ("Twelve", "tw3lve", "1,204", "3/4", "22nd", "Norec", "ß")] == [
        True,
        False,
        True,
        True,
        True,
        False,
        False,
    ]


def test_codebook_names_the_attributes_its_token_patterns_test(study_codebook, minimal_codebook):
    assert pattern_attributes(minimal_codebook) == {"LEMMA", "LOWER"}
    assert {"LIKE_NUM", "LOWER", "LEMMA"} <= pattern_attributes(study_codebook)


def _codebook_with(tmp_path: Path, *, theme_patterns: list, context_patterns: list = ()) -> Path:
    data = yaml.safe_load((ROOT / "tests" / "fixtures" / "codebooks" / "minimal.yaml").read_text())
    data["themes"][0]["rules"] = [{"id": f"p{n}", "pattern": p} for n, p in enumerate(theme_patterns)]
    data["context"]["rules"] = [
        {"literal": f"c{n}", "category": "NEGATED_EXISTENCE", "direction": "FORWARD", "pattern": p}
        for n, p in enumerate(context_patterns)
    ]
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_context_patterns_count_and_an_extension_keeps_every_attribute(tmp_path):
    path = _codebook_with(tmp_path, theme_patterns=[[{"IS_TITLE": True}]], context_patterns=[[{"SHAPE": "xxxx"}]])
    assert pattern_attributes(load_codebook(path)) == {"IS_TITLE", "SHAPE"}
    path = _codebook_with(tmp_path, theme_patterns=[[{"_": {"flag": True}}, {"LOWER": "x"}]])
    assert pattern_attributes(load_codebook(path)) is None
    assert len(build_nlp(load_codebook(path)).vocab.lex_attr_getters) == 23


def _tags(codebook, nlp) -> list:
    transcripts, _ = discover(ROOT / "transcripts")
    return [tag for coded in code_corpus(transcripts, codebook=codebook, nlp=nlp) for tag in coded.tags]


def test_bundled_corpus_codes_the_same_with_only_the_attributes_read(study_codebook):
    full = add_rules(make_nlp(), study_codebook)
    assert _tags(study_codebook, build_nlp(study_codebook)) == _tags(study_codebook, full)


def test_patterns_on_many_attributes_code_the_same(tmp_path):
    patterns = [
        [{"LIKE_NUM": True}, {"LOWER": {"IN": ["years", "months", "weeks"]}}],
        [{"IS_TITLE": True}, {"LOWER": "hospital"}],
        [{"SHAPE": "Xxxxx"}, {"IS_STOP": True}, {"IS_ALPHA": True, "LENGTH": {">=": 8}}],
        [{"IS_LOWER": True, "LENGTH": 11}, {"IS_PUNCT": True}],
        [{"IS_UPPER": True, "LENGTH": {">=": 3}}, {"IS_ASCII": True, "IS_QUOTE": False}],
    ]
    codebook = load_codebook(_codebook_with(tmp_path, theme_patterns=patterns, context_patterns=[[{"IS_DIGIT": True}]]))
    tags = _tags(codebook, build_nlp(codebook))
    matched = {rule for tag in tags for rule in tag.rule_id.split(";")}
    assert matched == {f"p{n}" for n in range(len(patterns))}  # every pattern matched somewhere
    assert tags == _tags(codebook, add_rules(make_nlp(), codebook))

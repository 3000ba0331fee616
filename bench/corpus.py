"""A reproducible corpus of distinct interview transcripts for benchmarks, generated from shipped text.

A word-level Markov chain (order 2) over the bundled transcripts' speech, the study's seed report
(../shared/seeds/, when present), README.md and docs/ writes new sentences; no sentence occurs twice and
none is copied from the sources. Words that occur once in the sources are replaced by random English word
forms from spacy-lookups-data's lemma table, so new text keeps bringing new words as a real corpus does
(tokeniser, lexeme and lemma caches are not warm for every word).

Usage: python bench/corpus.py OUT_DIR [--tokens N] [--transcripts N] [--seed N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from spacy.lookups import load_lookups

from pipeline.ingest.read import discover

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
START = ("", "")
SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
WORD = re.compile(r"^([\"'(\[]*)([A-Za-z]+)([^A-Za-z]*)$")


def source_texts(*, transcripts_dir: Path = ROOT / "transcripts") -> list[str]:
    """The shipped text the chain learns from: speech of the bundled transcripts, seed report, README, docs."""
    transcripts, _ = discover(transcripts_dir)
    texts = [t.text[turn.start_char : turn.end_char] for t in transcripts for turn in t.turns]
    extra = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    extra += [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    texts += [path.read_text(encoding="utf-8") for path in extra]
    return texts


def sentences_of(texts: list[str]) -> list[list[str]]:
    """Whitespace-separated words grouped into sentences (ending in . ! or ?), markup lines dropped."""
    sentences, current = [], []
    for text in texts:
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith(("#", "|", "```", "-", "*", ">")):
                continue
            for word in line.split():
                if "`" in word or "|" in word:  # code and tables of the docs are not speech
                    current = []
                    continue
                current.append(word)
                if current and SENTENCE_END.search(word):
                    if 4 <= len(current) <= 60:
                        sentences.append(current)
                    current = []
    return sentences


class SentenceChain:
    """An order-2 word Markov chain over sentences, with rare words swapped for new ones."""

    def __init__(self, sentences: list[list[str]], *, vocabulary: list[str], seed: int) -> None:
        self.random = random.Random(seed)
        self.next_words: dict[tuple[str, str], list[str]] = defaultdict(list)
        for words in sentences:
            state = START
            for word in [*words, ""]:
                self.next_words[state].append(word)
                state = (state[1], word)
        counts = Counter(word for words in sentences for word in words)
        self.rare = {word for word, count in counts.items() if count == 1 and WORD.match(word)}
        self.vocabulary = vocabulary
        self.known = {" ".join(words) for words in sentences}

    def sentence(self) -> str:
        """One new sentence (never a source sentence)."""
        while True:
            state, words = START, []
            while len(words) < 60:
                word = self.random.choice(self.next_words[state])
                if not word:
                    break
                words.append(word)
                state = (state[1], word)
            text = " ".join(words)
            if 4 <= len(words) < 60 and text not in self.known:
                return " ".join(self._renew(word) for word in words)

    def _renew(self, word: str) -> str:
        if word not in self.rare:
            return word
        opening, letters, closing = WORD.match(word).groups()
        new = self.random.choice(self.vocabulary)
        if letters[0].isupper():
            new = new.capitalize()
        return f"{opening}{new}{closing}"


def english_words() -> list[str]:
    """Lowercase alphabetic lemmas of spacy-lookups-data's English lemma table (its keys are hashes), sorted."""
    table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
    words = {lemma for lemma in table.values() if isinstance(lemma, str)}
    return sorted(w for w in words if w.isalpha() and w.islower() and len(w) >= 4)


def generate_corpus(out: Path, *, tokens: int = 1_000_000, per_transcript: int = 1_700, seed: int = 13) -> dict:
    """Write distinct transcripts (Interviewer/Respondent turns) with about `tokens` words in all to `out`.

    Returns what was written: files, words, sentences and a sha256 of the corpus, so runs can be compared.
    """
    chain = SentenceChain(sentences_of(source_texts()), vocabulary=english_words(), seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    digest = hashlib.sha256()
    written, words, number = [], 0, 0
    while words < tokens:
        number += 1
        turns, length = [], 0
        while length < per_transcript:
            for role, low, high in (("Interviewer", 1, 2), ("Respondent", 2, 8)):
                count = chain.random.randint(low, high)
                sentences = []
                while len(sentences) < count:
                    sentence = chain.sentence()
                    if sentence not in seen:
                        seen.add(sentence)
                        sentences.append(sentence)
                text = " ".join(sentences)
                length += len(text.split())
                turns.append(f"{role}: {text}")
        body = "\n\n".join(turns) + "\n"
        path = out / f"g{number:06d}.txt"
        path.write_text(body, encoding="utf-8")
        digest.update(body.encode("utf-8"))
        written.append(path)
        words += length
    return {"files": len(written), "words": words, "sentences": len(seen), "sha256": digest.hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="words in all (about)")
    parser.add_argument("--per-transcript", type=int, default=1_700, help="words per transcript (about)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(generate_corpus(args.out, tokens=args.tokens, per_transcript=args.per_transcript, seed=args.seed))


if __name__ == "__main__":
    main()

"""ConText's cost beside medspaCy's, each relative to spaCy's tokeniser in its own process, on the same new text.

medspaCy needs spaCy < 3.8 on Python 3.11, so it runs in a venv of its own, never the project's. Two steps:

  python bench/medspacy_context.py export OUT.json [--tokens N]   # project venv: corpus, themes, qualcode's figure
  /path/to/medspacy-venv/bin/python bench/medspacy_context.py measure OUT.json   # medspaCy venv

`export` generates the corpus (bench/corpus.py), codes it, measures qualcode's ConText (the rule pipeline with
and without it) and writes each transcript's speech, its theme spans and the codebook's ConText rules. `measure`
runs spaCy's blank English tokeniser and sentencizer, puts the same theme spans in a span group, and times
medspaCy's ConText with the same rules (and with medspaCy's own default rules). Both print ConText's time over
the tokeniser's on the same strings. `measure` says so and stops when medspaCy is not installed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best(work: Callable[[], object], rounds: int) -> float:
    """Best CPU time of `rounds` runs (CPU time: the machine is shared)."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def export(out: Path, *, tokens: int, rounds: int) -> None:
    import spacy
    from corpus import generate_corpus

    from pipeline.codebook.load import load_codebook
    from pipeline.coding.corpus import build_nlp
    from pipeline.coding.rules import SPANS_KEY
    from pipeline.coding.segment import parse_batch
    from pipeline.ingest.read import discover

    codebook = load_codebook(ROOT / "codebook.yaml")
    with tempfile.TemporaryDirectory(prefix="qualcode-bench-") as scratch:
        generate_corpus(Path(scratch), tokens=tokens)
        transcripts, _ = discover(Path(scratch))
    texts = [t.text[turn.start_char : turn.end_char] for t in transcripts for turn in t.turns]

    def tokenise() -> None:
        for _doc in spacy.blank("en").pipe(texts):
            pass

    def parse(context: bool) -> Callable[[], None]:
        def work() -> None:
            nlp = build_nlp(codebook)
            if not context:
                nlp.remove_pipe("qualcode_context")
            parse_batch(transcripts, nlp)

        return work

    base = best(tokenise, rounds)
    with_context, without = best(parse(True), rounds), best(parse(False), rounds)
    docs = [parsed.doc for parts, _ in parse_batch(transcripts, build_nlp(codebook)) for parsed in parts]
    record = {
        "texts": [doc.text for doc in docs],
        "themes": [[(s.start_char, s.end_char, s.label_) for s in doc.spans[SPANS_KEY]] for doc in docs],
        "negated": sum(s._.negated for doc in docs for s in doc.spans[SPANS_KEY]),
        "hypothetical": sum(s._.hypothetical for doc in docs for s in doc.spans[SPANS_KEY]),
        "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in codebook.context.rules],
        "max_scope": codebook.context.max_scope,
        "qualcode_context_over_tokeniser": (with_context - without) / base,
    }
    out.write_text(json.dumps(record), encoding="utf-8")
    print(f"{len(docs)} docs, {sum(map(len, record['themes'])):,} theme spans, written to {out}")
    print(f"qualcode ConText / tokeniser: {record['qualcode_context_over_tokeniser']:.2f}")


def measure(path: Path, *, rounds: int) -> None:
    try:
        import medspacy  # noqa: F401
        from medspacy.context import ConText, ConTextRule
    except ImportError:
        print("medspaCy is not installed in this Python: run `measure` with a venv that has it (see the docstring)")
        return
    import spacy
    from spacy.tokens import Doc

    record = json.loads(path.read_text(encoding="utf-8"))
    texts, themes = record["texts"], record["themes"]
    group = "themes"

    def pipeline(rules: str | None) -> Callable[[], list[Doc]]:
        """Tokeniser, sentencizer (and lookup lemmas, when spacy-lookups-data is there), the theme spans in a
        span group, then medspaCy's ConText with these rules (none: without ConText)."""
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        try:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize()
        except (ValueError, OSError):  # no lookup tables in this venv: LEMMA trigger patterns will not match
            nlp.remove_pipe("lemmatizer")
        context = None
        if rules is not None:
            context = ConText(
                nlp,
                rules="default" if rules == "default" else None,
                max_scope=record["max_scope"],
                input_span_type="group",
                span_group_name=group,
            )
            if rules == "codebook":
                context.add([_rule(ConTextRule, rule) for rule in record["rules"]])

        def work() -> list[Doc]:
            docs = []
            for doc, spans in zip(nlp.pipe(texts), themes):
                doc.spans[group] = [doc.char_span(start, end, label=label) for start, end, label in spans]
                docs.append(context(doc) if context is not None else doc)
            return docs

        return work

    def tokenise() -> None:
        for _doc in spacy.blank("en").pipe(texts):
            pass

    base = best(tokenise, rounds)
    without = best(pipeline(None), rounds)
    print(f"medspaCy {medspacy.__version__}, spaCy {spacy.__version__}: {len(texts)} docs")
    print(f"qualcode ConText / tokeniser (from export): {record['qualcode_context_over_tokeniser']:.2f}")
    for rules in ("codebook", "default"):
        cost = (best(pipeline(rules), rounds) - without) / base
        print(f"medspaCy ConText, {rules} rules / tokeniser: {cost:.2f}")
    docs = pipeline("codebook")()
    flagged = {attr: sum(getattr(s._, attr) for d in docs for s in d.spans[group]) for attr in ("is_negated",)}
    print(f"negated themes: medspaCy {flagged['is_negated']}, qualcode {record['negated']}")


def _rule(ConTextRule, rule: dict):  # noqa: N803 (medspaCy's class, passed in)
    direction = rule.get("direction", "BIDIRECTIONAL")
    if rule["category"] in ("PSEUDO", "TERMINATE"):
        direction = rule["category"]
    return ConTextRule(
        literal=rule["literal"],
        category=rule["category"],
        pattern=rule.get("pattern"),
        direction=direction,
        max_scope=rule.get("max_scope"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["export", "measure"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--tokens", type=int, default=300_000, help="words of generated text (export)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.step == "export":
        export(args.file, tokens=args.tokens, rounds=args.rounds)
    else:
        measure(args.file, rounds=args.rounds)


if __name__ == "__main__":
    main()

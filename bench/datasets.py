"""Adapters from public coded qualitative data to temporary qualcode projects (transcripts, coder files, codebook).

The proctoring data (Balash et al., USENIX Security 2023; see ../shared/data/README.md) has one CSV per survey
question and coder: `ResponseId`, the answer (its header is the question), then `Code 1` ... `Code 8`, each a
code path such as `technology_glitches->VPNs`. Each answer becomes one transcript with one respondent turn, so a
grouped split by transcript is a split by answer. The data is never copied into the repository: projects are
written under a temporary folder.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.codebook.load import load_codebook
from pipeline.core.errors import QualcodeError
from pipeline.core.files import atomic_write_text

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROCTORING = SHARED_DATA / "proctoring"
CODEBOOKS = Path(__file__).resolve().parent / "codebooks"
SPEAKER = "Respondent"
CODERS = ("primary", "secondary")

# One code spelled two ways by the coders; merged so that a typo is not counted as a disagreement.
SPELLING_VARIANTS = {
    "consult_outisde_sources": "consult_outside_sources",
    "harmful_for_students": "harmful_to_students",
    "trust_students": "trusts_students",
    "standerdized_tests": "standerized_tests",
    "flag_anomilies": "flag_anomalies",
}
_FILE_NAME = re.compile(r"^Qualitative Responses .* - (?P<question>[A-Z]+\d+) \((?P<coder>primary|secondary)\)\.csv$")


@dataclass(frozen=True)
class CodedAnswer:
    """One survey answer and the codes one coder gave it (as written), with its line in the CSV."""

    response_id: str
    answer: str
    codes: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class QuestionFiles:
    """The primary and secondary coder files of one survey question."""

    question: str
    primary: Path
    secondary: Path

    @property
    def codebook(self) -> Path:
        return CODEBOOKS / f"proctoring_{self.question.lower()}.yaml"


@dataclass
class SurveyProject:
    """A temporary qualcode project made from one question: transcripts/, coded/<coder>.csv and a codebook."""

    question: str
    question_text: str
    root: Path
    transcripts: Path
    coded: Path
    codebook: Path
    answers: int
    coded_answers: dict[str, int] = field(default_factory=dict)


def find_questions(folder: Path = PROCTORING) -> dict[str, QuestionFiles]:
    """Every question with both a primary and a secondary file in `folder`, by question id."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob("*.csv")):
        match = _FILE_NAME.match(path.name)
        if match:
            found.setdefault(match["question"], {})[match["coder"]] = path
    return {
        q: QuestionFiles(q, files["primary"], files["secondary"])
        for q, files in found.items()
        if set(files) == set(CODERS)
    }


def read_coded_answers(path: Path) -> tuple[str, list[CodedAnswer]]:
    """(question text, answers with their codes) of one coder file; QualcodeError names file and line."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise QualcodeError(f"cannot read survey file: {exc.strerror or exc}", path=path) from None
    except UnicodeDecodeError:
        raise QualcodeError("survey file is not valid UTF-8", path=path) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        code_columns = [i for i, name in enumerate(header) if re.fullmatch(r"Code \d+", name.strip())]
        if len(header) < 3 or header[0].strip() != "ResponseId" or not code_columns:
            raise QualcodeError("expected columns ResponseId, <question>, Code 1, Code 2, ...", path=path, line=1)
        answers = []
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                raise QualcodeError(f"row has {len(row)} fields but the header has {len(header)}", path=path, line=line)
            codes = tuple(dict.fromkeys(row[i].strip() for i in code_columns if row[i].strip()))
            answers.append(CodedAnswer(row[0].strip(), row[1], codes, line))
    except csv.Error as exc:
        raise QualcodeError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
    return header[1].strip(), answers


def theme_id(code: str) -> str:
    """The codebook theme of a code path: its top-level code, spelling variants merged, as a qualcode id."""
    top = code.split("->")[0].strip()
    top = SPELLING_VARIANTS.get(top, top)
    slug = re.sub(r"[^a-z0-9]+", "_", top.lower().replace("'", "").replace("’", "")).strip("_")
    return slug if re.match(r"^[a-z]", slug) else f"code_{slug}"


def build_project(files: QuestionFiles, *, out: Path, codebook: Path | None = None) -> SurveyProject:
    """Write one question as a qualcode project under `out`: one transcript per non-empty answer
    (`Respondent: <answer>`, whitespace collapsed to single spaces), metadata.csv, and coder files
    coded/primary.csv and coded/secondary.csv with one span over the whole answer per top-level code."""
    codebook = codebook or files.codebook
    themes = set(load_codebook(codebook).theme_ids)
    out = Path(out)
    transcripts, coded = out / "transcripts", out / "coded"
    question_text, primary = read_coded_answers(files.primary)
    _, secondary = read_coded_answers(files.secondary)
    if len(primary) != len(secondary):
        raise QualcodeError(f"{len(secondary)} answers, but the primary file has {len(primary)}", path=files.secondary)
    for first, second in zip(primary, secondary):
        same_answer = " ".join(first.answer.split()) == " ".join(second.answer.split())
        if first.response_id != second.response_id or not same_answer:
            raise QualcodeError(
                f"row differs from the primary file's ({first.response_id})", path=files.secondary, line=second.line
            )
    ids = _unique_ids([a.response_id for a in primary])
    answers = {i: " ".join(a.answer.split()) for i, a in zip(ids, primary)}
    by_coder = {"primary": (files.primary, primary), "secondary": (files.secondary, secondary)}
    metadata = io.StringIO()
    meta = csv.writer(metadata, lineterminator="\n")
    meta.writerow(["file", "id", "question", "speakers"])
    prefix = f"{SPEAKER}: "
    written = 0
    for transcript_id, answer in answers.items():
        if not answer:
            continue
        atomic_write_text(transcripts / f"{transcript_id}.txt", f"{prefix}{answer}\n")
        meta.writerow([f"{transcript_id}.txt", transcript_id, files.question, f"{SPEAKER}=respondent"])
        written += 1
    atomic_write_text(transcripts / "metadata.csv", metadata.getvalue())
    coded_answers = {}
    for coder, (path, rows) in by_coder.items():
        spans = io.StringIO()
        writer = csv.writer(spans, lineterminator="\n")
        writer.writerow(["transcript_id", "start_char", "end_char", "theme"])
        n = 0
        for transcript_id, row in zip(ids, rows):
            answer = answers[transcript_id]
            if not answer or not row.codes:
                continue
            n += 1
            for theme in dict.fromkeys(theme_id(code) for code in row.codes):
                if theme not in themes:
                    raise QualcodeError(
                        f"code {row.codes!r} maps to theme {theme!r}, which {codebook} does not define",
                        path=path,
                        line=row.line,
                    )
                writer.writerow([transcript_id, len(prefix), len(prefix) + len(answer), theme])
        atomic_write_text(coded / f"{coder}.csv", spans.getvalue())
        coded_answers[coder] = n
    return SurveyProject(
        question=files.question,
        question_text=question_text,
        root=out,
        transcripts=transcripts,
        coded=coded,
        codebook=codebook,
        answers=written,
        coded_answers=coded_answers,
    )


# --- the survey as interviews: one transcript per respondent, the questions as interviewer turns -----------

INTERVIEWER = "Interviewer"
# The development set for the classifier: the questions only educators who used proctoring answered (the "Yes
# only" files, and Q5, which everyone answered), in questionnaire order. Their codes were used for no codebook
# of bench/codebooks except Q5 and Q8, and no qualcode default was tuned on them before they became this set.
INTERVIEW_QUESTIONS = ("Q5", "Q8", "Q11", "Q12", "Q14", "Q16", "Q18", "Q26", "Q28", "Q31", "Q32")
INTERVIEW_MIN_ANSWERS = 3  # a respondent becomes a transcript when they answered this many of the questions
INTERVIEW_MIN_CODED = 5  # a code becomes a theme when the primary coder gave it to this many answers


@dataclass
class InterviewProject:
    """A temporary qualcode project made from the survey: one transcript per respondent (interviewer question,
    respondent answer, in questionnaire order), coded/primary.csv over whole answers, and a generated codebook."""

    root: Path
    transcripts: Path
    coded: Path
    codebook: Path
    respondents: int
    answers: int
    themes: int


def build_interviews(
    folder: Path = PROCTORING,
    *,
    out: Path,
    questions: tuple[str, ...] = INTERVIEW_QUESTIONS,
    min_answers: int = INTERVIEW_MIN_ANSWERS,
    min_coded: int = INTERVIEW_MIN_CODED,
) -> InterviewProject:
    """Write the survey as interviews under `out`: per respondent, `Interviewer: <question>` and `Respondent:
    <answer>` turns; the primary coder's top-level codes as spans over whole answers (coders coded answers, not
    sentences); a codebook with one theme per top-level code given to `min_coded` or more answers (label and
    definition from the code's name, no rules and no examples, so nothing in it was written from the answers)."""
    found = find_questions(folder)
    missing = [q for q in questions if q not in found]
    if missing:
        raise QualcodeError(f"no primary and secondary files for {', '.join(missing)}", path=folder)
    by_respondent: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for question in questions:
        text, answers = read_coded_answers(found[question].primary)
        seen: set[str] = set()
        for answer in answers:
            body = " ".join(answer.answer.split())
            if not body or answer.response_id in seen:
                continue
            seen.add(answer.response_id)
            by_respondent.setdefault(answer.response_id, []).append((" ".join(text.split()), body, answer.codes))
    out = Path(out)
    transcripts, coded = out / "transcripts", out / "coded"
    spans = io.StringIO()
    writer = csv.writer(spans, lineterminator="\n")
    writer.writerow(["transcript_id", "start_char", "end_char", "theme"])
    metadata = io.StringIO()
    meta = csv.writer(metadata, lineterminator="\n")
    meta.writerow(["file", "id", "speakers"])
    kept = {rid: turns for rid, turns in sorted(by_respondent.items()) if len(turns) >= min_answers}
    answers_per_theme: dict[str, int] = {}
    for turns in kept.values():
        for _, _, codes in turns:
            for theme in {theme_id(code) for code in codes}:
                answers_per_theme[theme] = answers_per_theme.get(theme, 0) + 1
    used: dict[str, str] = {}
    respondents = answers_written = 0
    for response_id, turns in kept.items():
        respondents += 1
        parts: list[str] = []
        offset = 0
        for question_text, answer, codes in turns:
            parts.append(f"{INTERVIEWER}: {question_text}\n\n")
            offset += len(parts[-1])
            start = offset + len(f"{SPEAKER}: ")
            parts.append(f"{SPEAKER}: {answer}\n\n")
            offset += len(parts[-1])
            answers_written += 1
            for code in codes:
                theme = theme_id(code)
                if answers_per_theme[theme] >= min_coded:
                    used.setdefault(theme, code.split("->")[0].strip())
            for theme in dict.fromkeys(theme_id(code) for code in codes):
                if answers_per_theme[theme] >= min_coded:
                    writer.writerow([response_id, start, start + len(answer), theme])
        atomic_write_text(transcripts / f"{response_id}.txt", "".join(parts))
        meta.writerow([f"{response_id}.txt", response_id, f"{INTERVIEWER}=interviewer;{SPEAKER}=respondent"])
    atomic_write_text(transcripts / "metadata.csv", metadata.getvalue())
    atomic_write_text(coded / "primary.csv", spans.getvalue())
    codebook = out / "codebook.yaml"
    atomic_write_text(codebook, _generated_codebook(used, questions=questions))
    return InterviewProject(
        root=out,
        transcripts=transcripts,
        coded=coded,
        codebook=codebook,
        respondents=respondents,
        answers=answers_written,
        themes=len(used),
    )


def _generated_codebook(codes: dict[str, str], *, questions: tuple[str, ...]) -> str:
    """A codebook with one theme per code: the label and definition are the code's name in words."""
    import yaml

    themes = []
    for theme, code in sorted(codes.items()):
        words = re.sub(r"[_\s]+", " ", code).strip()
        label = words[:1].upper() + words[1:]
        themes.append({"id": theme, "label": label, "definition": f"{label}."})
    document = {
        "name": "Proctoring survey as interviews (" + " ".join(questions) + ")",
        "version": "1",
        "description": "Generated by bench/datasets.py from the primary coder's code names; no rules.",
        "themes": themes,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _unique_ids(response_ids: list[str]) -> list[str]:
    """Transcript ids in row order; a ResponseId seen again (Q5 has one, with a different answer) gets `_2`, `_3`."""
    seen: dict[str, int] = {}
    ids = []
    for response_id in response_ids:
        seen[response_id] = seen.get(response_id, 0) + 1
        ids.append(response_id if seen[response_id] == 1 else f"{response_id}_{seen[response_id]}")
    return ids


def main() -> None:
    """`python bench/datasets.py Q8 --out /tmp/q8`: write one question as a qualcode project and say how to use it."""
    import argparse

    parser = argparse.ArgumentParser(description="Write one proctoring survey question as a qualcode project.")
    parser.add_argument("question", help="question id, e.g. N3 or Q8")
    parser.add_argument("--out", type=Path, required=True, help="an empty folder outside the repository (e.g. /tmp/q8)")
    parser.add_argument("--data", type=Path, default=PROCTORING, help="the proctoring folder of ../shared/data")
    args = parser.parse_args()
    questions = find_questions(args.data)
    if args.question not in questions:
        raise SystemExit(
            f"{args.data}: no primary and secondary files for {args.question!r} (found: {', '.join(sorted(questions))})"
        )
    project = build_project(questions[args.question], out=args.out)
    print(
        f"{project.question}: {project.answers} answers -> {project.transcripts}; coder files in {project.coded} "
        f"(primary {project.coded_answers['primary']}, secondary {project.coded_answers['secondary']} answers)"
    )
    print(
        f"qualcode agree {project.coded}/primary.csv {project.coded}/secondary.csv --transcripts "
        f"{project.transcripts} --codebook {project.codebook} --unit turn"
    )


if __name__ == "__main__":
    main()

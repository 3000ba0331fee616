"""Engines and partitions: a run coded in partitions, locally or on dask, writes the same bytes as a run held
whole; partitions, the work in flight and the transcript texts the driver holds stay bounded; a file changed
during a run and scheduler problems are one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import pandas as pd
import pytest

from pipeline.codebook.load import load_codebook
from pipeline.coding.table import TRANSCRIPT_ID, read_tags
from pipeline.core.choices import Engine
from pipeline.core.errors import QualcodeError
from pipeline.ingest.catalog import catalog_folder
from pipeline.ingest.read import discover, problems
from pipeline.outputs.matrix import Grouping, build_matrix, combine_matrix, matrix_frame, matrix_part
from pipeline.review.log import Decision, ReviewLog, text_sha
from pipeline.workflows import engines
from pipeline.workflows.engines import in_order
from pipeline.workflows.partitions import partitions
from pipeline.workflows.run import run_project

ROOT = Path(__file__).resolve().parent.parent
PROJECT = dict(
    transcripts_dir=ROOT / "transcripts",
    codebook_path=ROOT / "codebook.yaml",
    model_path=ROOT / "models" / "classifier.skops",  # the classifier ships to workers too
)
REPORTS = ["tags.csv", "segments.csv", "metadata.csv", "matrix.csv", "findings_matrix.md", "findings_matrix.html"]


def _reports(out: Path) -> dict[str, str]:
    """The report set's text; the page's "Generated <time>" stamp is the one thing two runs may differ in."""
    texts = {name: (out / name).read_text(encoding="utf-8") for name in REPORTS}
    texts["findings_matrix.html"] = re.sub(r"Generated \S+", "Generated -", texts["findings_matrix.html"])
    return texts


class _LiveTexts:
    """Every transcript read in this process (at the first scan, for coding, for the pages), counted while it is
    alive (a weak reference), and the most alive at once."""

    def __init__(self, read):
        self.read, self.reads, self.live, self.most = read, 0, 0, 0

    def __call__(self, *args, **kwargs):
        transcript = self.read(*args, **kwargs)
        self.reads, self.live = self.reads + 1, self.live + 1
        self.most = max(self.most, self.live)
        weakref.finalize(transcript, self._gone)
        return transcript

    def _gone(self):
        self.live -= 1


@pytest.fixture
def live_texts(monkeypatch):
    from pipeline.ingest import catalog, read

    spy = _LiveTexts(read.read_transcript)
    monkeypatch.setattr(read, "read_transcript", spy)  # what scan reads with
    monkeypatch.setattr(catalog, "read_transcript", spy)  # what read_again reads with
    return spy


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The bundled project run by the local engine in one partition (every table held whole): the reference."""
    out = tmp_path_factory.mktemp("whole")
    result = run_project(out=out, **PROJECT)
    assert result.record["options"]["partition_size"] is None and result.coded
    return out, result


@pytest.mark.parametrize(
    "engine, jobs",
    [(Engine.LOCAL, 1), (Engine.LOCAL, 2), (Engine.DASK, 2)],
    ids=["local-jobs-1", "local-jobs-2", "dask-2-workers"],
)
def test_partitioned_runs_write_the_same_reports(whole, live_texts, tmp_path, engine, jobs):
    """The same bytes as the run held whole, the driver holding the texts of at most `jobs + 1` partitions at once:
    a partition's transcripts are read from disk when it is submitted, and again for its transcript pages."""
    reference, expected = whole
    result = run_project(out=tmp_path, engine=engine, jobs=jobs, partition_size=4, **PROJECT)  # 14 -> 4 partitions
    assert _reports(tmp_path) == _reports(reference)
    assert live_texts.reads == 3 * 14  # the first scan, coding, the pages
    assert live_texts.most <= (jobs + 1) * 4 < 14
    assert result.coded == [] and result.tags is None  # a partitioned run never holds the corpus whole
    assert result.record["counts"] == expected.record["counts"]
    assert result.record["transcripts"] == expected.record["transcripts"]
    assert result.record["warnings"] == expected.record["warnings"]
    assert result.record["classifier"] == expected.record["classifier"]
    assert result.record["tagging"] == expected.record["tagging"]
    assert (
        result.record["options"] | {"engine": "local", "partition_size": None, "jobs": 1}
        == (expected.record["options"])
    )
    assert not list(tmp_path.glob(".parts-*")) and not list(tmp_path.glob(".staging-*"))


def test_the_matrix_of_partitions_adds_up_to_the_matrix_of_the_whole(whole):
    reference, expected = whole
    tags, metadata = read_tags(reference / "tags.csv"), expected.metadata
    codebook = load_codebook(PROJECT["codebook_path"])
    grouping = Grouping.of(metadata, "side")
    ids = sorted(set(metadata[TRANSCRIPT_ID]))
    parts = [matrix_part(tags[tags[TRANSCRIPT_ID].isin(ids[i : i + 3])], grouping, codebook) for i in range(0, 14, 3)]
    pd.testing.assert_frame_equal(
        matrix_frame(combine_matrix(parts, grouping, codebook)), matrix_frame(build_matrix(tags, metadata, codebook))
    )


def test_reviews_are_applied_the_same_in_a_partitioned_run(whole, tmp_path):
    """With a review log, decisions can name any transcript: the partitioned run applies them to the whole table."""
    reference, _ = whole
    tags = read_tags(reference / "tags.csv")
    rules = tags[tags["method"] == "rule"]  # rules only below: quicker, and these tags are there too
    negated, evidence = rules[rules["negated"]].iloc[0], rules[rules["evidence"]].iloc[-1]
    outs = [tmp_path / "whole", tmp_path / "parts"]
    for out in outs:
        log = ReviewLog.open(out / "review.sqlite")
        for row, action in ((negated, "accept"), (evidence, "reject")):
            span = (row.transcript_id, int(row.start_char), int(row.end_char))
            log.append(Decision("ana", *span, text_sha(row.text), action, row.theme))
    project = {key: value for key, value in PROJECT.items() if key != "model_path"}
    whole_run = run_project(out=outs[0], **project)
    parts_run = run_project(out=outs[1], partition_size=5, **project)
    assert whole_run.record["review"]["reviewed_tags"] == 2
    assert parts_run.record["review"] == whole_run.record["review"]
    assert _reports(outs[1]) == _reports(outs[0])


def test_a_running_cluster_by_its_scheduler_address(whole, tmp_path):
    """`--scheduler`: a cluster started elsewhere (here in this process, its workers threads) over TCP."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        result = run_project(out=tmp_path, engine=Engine.DASK, scheduler=address, partition_size=5, **PROJECT)
    assert _reports(tmp_path) == _reports(whole[0])
    assert result.record["options"]["engine"] == "dask"


@pytest.mark.parametrize("size", [1, 4, 14, 100])
def test_partitions_hold_at_most_their_size_in_order(size):
    items = list(range(14))
    parts = list(partitions(items, size))
    assert [index for index, _ in parts] == list(range(len(parts)))
    assert all(len(chunk) <= size for _, chunk in parts)
    assert [item for _, chunk in parts for item in chunk] == items


class _Future:
    def __init__(self, value, running):
        self.value, self.running = value, running
        running.add(value)

    def result(self):
        self.running.discard(self.value)
        return self.value


@pytest.mark.parametrize("window", [1, 2, 3])
def test_no_more_than_the_window_of_partitions_is_in_flight(window):
    running: set[int] = set()
    most = []

    def submit(index, chunk):
        future = _Future(index, running)
        most.append(len(running))
        return future

    def parts():
        for i in range(10):
            assert len(running) < window  # a partition is taken (read) only when there is room to submit it
            yield i, [i]

    results = list(in_order(submit, parts(), window=window))
    assert results == list(range(10))
    assert max(most) == window


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda path: path.write_text(path.read_text(encoding="utf-8") + "\nR: More.\n"), "its contents differ"),
        (lambda path: path.unlink(), "cannot read file"),
    ],
    ids=["edited", "removed"],
)
def test_a_transcript_changed_during_a_partitioned_run_is_a_one_line_error(tmp_path, monkeypatch, change, reason):
    """Its earlier partitions were coded from the file as it was: the run stops, naming it, and writes nothing."""
    from pipeline.workflows import run

    shutil.copytree(ROOT / "transcripts", tmp_path / "transcripts")
    changed = sorted((tmp_path / "transcripts").glob("*.txt"))[-1]  # in the last partition

    def catalog_then_change(*args, **kwargs):
        catalog = catalog_folder(*args, **kwargs)
        change(changed)
        return catalog

    monkeypatch.setattr(run, "catalog_folder", catalog_then_change)
    with pytest.raises(QualcodeError) as error:
        run_project(
            out=tmp_path / "out",
            transcripts_dir=tmp_path / "transcripts",
            codebook_path=PROJECT["codebook_path"],
            partition_size=5,
        )
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{changed}: changed during the run (") and reason in message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".qualcode.lock"]


def test_skipped_files_are_reported_the_same_by_a_partitioned_run(tmp_path):
    folder = tmp_path / "transcripts"
    shutil.copytree(ROOT / "transcripts", folder)
    first = sorted(folder.glob("*.txt"))[0]
    (folder / "sub").mkdir()
    shutil.copy(first, folder / "sub" / first.name)  # a duplicate id
    (folder / "sub" / "bad.txt").write_bytes(b"\x00\x01binary\x00" * 10)
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    (folder / "empty.md").write_bytes(b"")
    (folder / ".hidden.txt").write_text("Interviewer: Hi?\n")
    _, skipped = discover(folder)
    project = dict(transcripts_dir=folder, codebook_path=PROJECT["codebook_path"])
    whole_run = run_project(out=tmp_path / "whole", **project)
    parts_run = run_project(out=tmp_path / "parts", partition_size=4, **project)
    assert parts_run.record["options"]["partition_size"] == 4
    for key in ("skipped", "not_transcripts", "counts", "transcripts", "warnings"):
        assert parts_run.record[key] == whole_run.record[key], key
    assert whole_run.record["skipped"] == [{"source": s.source, "reason": s.reason} for s in problems(skipped)]
    assert len(whole_run.record["skipped"]) == 4
    assert _reports(tmp_path / "parts") == _reports(tmp_path / "whole")


@pytest.mark.parametrize(
    "address, reason",
    [
        ("tcp://127.0.0.1:1", "Connection refused"),
        ("not an address", "missing port number"),
    ],
)
def test_an_unreachable_scheduler_is_one_line(tmp_path, address, reason):
    with pytest.raises(QualcodeError, match=f"cannot connect to the dask scheduler at {address}: .*{reason}"):
        run_project(out=tmp_path, engine=Engine.DASK, scheduler=address, **PROJECT)
    script = Path(sys.executable).with_name("qualcode")
    result = subprocess.run(
        [str(script), "run", "--out", str(tmp_path), "--engine", "dask", "--scheduler", address],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot connect to the dask scheduler at {address}: ")


def test_a_scheduler_needs_the_dask_engine(tmp_path):
    with pytest.raises(QualcodeError, match="--scheduler is for --engine dask"):
        run_project(out=tmp_path, scheduler="tcp://127.0.0.1:8786", **PROJECT)


def test_the_dask_engine_without_dask_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # `import dask.distributed` now fails
    with pytest.raises(QualcodeError, match=r"pip install 'qualcode\[scale\]'"):
        run_project(out=tmp_path, engine=Engine.DASK, **PROJECT)
    assert not (tmp_path / "tags.csv").exists()


def test_dask_is_imported_only_for_the_dask_engine():
    probe = "import sys; import pipeline.workflows.run, pipeline.cli; print('dask' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    assert engines.SCHEDULER_TIMEOUT  # the module itself imports without dask


def test_a_failed_partitioned_run_leaves_no_parts_behind(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "transcripts", tmp_path / "transcripts")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("pipeline.workflows.run_partitioned.write_report_set", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        run_project(
            out=tmp_path / "out",
            transcripts_dir=tmp_path / "transcripts",
            codebook_path=PROJECT["codebook_path"],
            partition_size=5,
        )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".qualcode.lock"]

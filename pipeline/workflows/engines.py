"""Where a run's partitions are coded: in this process, in a local process pool, or on a dask.distributed
cluster (an embedded LocalCluster, or the scheduler at an address). Results come back in partition order.
A partition is taken from its iterable (for a run, read from disk) only when it is submitted, and at most one
more partition than there are workers is submitted and unfinished at once.

dask is imported only when the dask engine is chosen (it is the optional extra `qualcode[scale]`).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import Any

from pipeline.core.choices import Engine
from pipeline.core.errors import QualcodeError
from pipeline.core.heap import settle_heap
from pipeline.ingest.records import Transcript
from pipeline.workflows.partitions import CodingJob, PartitionResult, code_partition

QUEUED = 1  # partitions submitted beyond one per worker: each worker has its next one ready, memory stays bounded
SCHEDULER_TIMEOUT = "10s"  # how long a Client tries to reach a scheduler address before giving up
CONNECT_TIMEOUT = 5.0  # seconds to open a TCP connection to the scheduler's port


def code_partitions(
    job: CodingJob,
    parts: Iterable[tuple[int, Sequence[Transcript]]],
    *,
    engine: Engine = Engine.LOCAL,
    jobs: int = 1,
    scheduler: str | None = None,
) -> Iterator[PartitionResult]:
    """Code the partitions (numbered in order, as `partitions` gives them) on `engine`, yielding each one's result
    in order; with `jobs` workers, at most `jobs + QUEUED` partitions are taken from `parts` and unfinished.

    `jobs` is the number of processes (local) or of LocalCluster workers (dask without `scheduler`); `run_project`
    refuses a `scheduler` for the local engine before anything is read.
    """
    if engine == Engine.DASK:
        yield from _on_dask(job, parts, jobs=jobs, scheduler=scheduler)
    elif jobs <= 1:
        for index, chunk in parts:
            result = code_partition(job, index, chunk)
            del chunk  # not kept alive while the next partition is read
            yield result
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_set_job, initargs=(job,)) as pool:
            yield from in_order(lambda i, c: pool.submit(_code_with_job, i, c), parts, window=jobs + QUEUED)


def in_order(
    submit: Callable[[int, Sequence[Transcript]], Any],
    parts: Iterable[tuple[int, Sequence[Transcript]]],
    *,
    window: int,
) -> Iterator[PartitionResult]:
    """Submit partitions, at most `window` unfinished at once, and yield their results in submission order. The
    next partition is taken from `parts` only when there is room for it."""
    pending: deque[Any] = deque()
    for index, chunk in parts:
        pending.append(submit(index, chunk))
        del chunk  # held by its submission until done, not by this loop
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_job: dict[str, CodingJob] = {}  # a pool worker's job, set once by its initializer


def _set_job(job: CodingJob) -> None:
    _job["job"] = job
    settle_heap()  # the worker's process is ours: set up its collector as the CLI does


def _code_with_job(index: int, transcripts: Sequence[Transcript]) -> PartitionResult:
    return code_partition(_job["job"], index, transcripts)


def _on_dask(
    job: CodingJob, parts: Iterable[tuple[int, Sequence[Transcript]]], *, jobs: int, scheduler: str | None
) -> Iterator[PartitionResult]:
    with ExitStack() as stack:
        client = stack.enter_context(dask_client(scheduler=scheduler, jobs=jobs))
        shared = client.scatter(job, broadcast=True)  # the codebook and model go to each worker once
        workers = max(1, sum(client.nthreads().values()))
        run = uuid.uuid4().hex[:8]
        yield from in_order(
            lambda i, c: client.submit(code_partition, shared, i, c, pure=False, key=f"qualcode-{run}-partition-{i}"),
            parts,
            window=workers + QUEUED,
        )


def dask_client(*, scheduler: str | None, jobs: int) -> Any:
    """A dask.distributed Client: on the scheduler at `scheduler`, or on an embedded LocalCluster of `jobs`
    single-threaded worker processes (closed with the client)."""
    check_dask(scheduler)
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=SCHEDULER_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise _unreachable(scheduler, exc) from None
    cluster = LocalCluster(
        n_workers=jobs,
        threads_per_worker=1,  # spaCy coding is CPU-bound Python: one thread per worker process
        processes=True,
        dashboard_address=":0",  # a free port: none of its HTTP endpoints is used, and 8787 may be taken
        silence_logs=logging.ERROR,
    )
    return _ClosingClient(Client(cluster, set_as_default=False), cluster)


def check_dask(scheduler: str | None = None) -> None:
    """That dask.distributed is installed and the scheduler address (if any) is well-formed and open: checked
    before a run reads its transcripts, and before a Client would retry a dead address for SCHEDULER_TIMEOUT
    (leaving a half-made client behind that takes as long again to go)."""
    try:
        import dask.distributed  # noqa: F401 - the API the engine uses
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError:
        raise QualcodeError("--engine dask needs dask.distributed: pip install 'qualcode[scale]'") from None
    if not scheduler:
        return
    try:
        scheme, location = parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(location)
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except (OSError, ValueError, TypeError) as exc:
        raise _unreachable(scheduler, exc) from None


def _unreachable(scheduler: str, exc: BaseException) -> QualcodeError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return QualcodeError(f"cannot connect to the dask scheduler at {scheduler}: {reason}")


class _ClosingClient:
    """A context manager giving the client and closing it and its embedded cluster on exit."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client = client
        self.cluster = cluster

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()

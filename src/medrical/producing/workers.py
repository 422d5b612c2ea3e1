"""`medrical produce --workers N`: N processes that together simulate one ward.

The ward, or this machine's shard of it (`--shard K/N`), is dealt out among the workers as
shards of their own (see `simulation.shard`). Each worker runs the ordinary produce loop on its
patients, paced from the ward's start, and reports its counts to the parent, which shows one
status line and one summary; `--count` and `--rate` are shared out in proportion to patients.

Stopping: the workers run in a process group of their own, so a Ctrl+C at the terminal reaches
the parent alone, which stops every worker by its PID with SIGTERM; each drains and flushes, as
a single `produce` does, and a second Ctrl+C kills them at once. A worker that fails is
reported and the others are stopped. A worker whose parent is gone stops by itself.

Metrics (`--metrics-port P`): each worker serves its own on port P + its number - 1 (worker 1
on P, worker 2 on P+1, ...; with 0, each on any free port) and says where on stderr; the
counts are each worker's, and Prometheus adds them up across the targets.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from medrical.config import MedricalConfig
from medrical.errors import ExitCode, MedricalError
from medrical.logs import setup_logging
from medrical.producing.plan import WorkerJob, merge
from medrical.producing.run import (
    RunSummary,
    produce_to_kafka,
)
from medrical.stopping import StopFlag, StopOnSignals

_STATUS_EVERY_S = 0.5
_PARENT_CHECK_S = 0.5
_STOP_GRACE_S = 90.0
"""How long a stopped worker may take to flush (the producer's own flush waits 30 s)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerFailure:
    number: int
    exit_code: int
    message: str


class WorkerFailedError(MedricalError):
    """A worker of `produce --workers` failed; its exit code becomes the command's."""

    def __init__(self, failure: WorkerFailure, workers: int) -> None:
        super().__init__(f"worker {failure.number} of {workers} failed: {failure.message}")
        self.exit_code = failure.exit_code
        self.failure = failure


@dataclass(frozen=True)
class WorkersResult:
    summary: RunSummary
    workers: int
    failures: tuple[WorkerFailure, ...] = ()

    def check(self) -> None:
        """Raise the first failure, if any worker failed."""
        if self.failures:
            raise WorkerFailedError(self.failures[0], self.workers)


# --- the parent --------------------------------------------------------------------------------


@dataclass
class _Worker:
    job: WorkerJob
    process: BaseProcess
    results: Connection
    counts: tuple[int, int, int] = (0, 0, 0)
    summary: RunSummary | None = None
    failure: WorkerFailure | None = None
    reported: bool = False
    ended: bool = False
    signalled: set[int] = field(default_factory=set)

    def signal(self, signum: int) -> None:
        pid = self.process.pid
        if pid is not None and not self.ended and self.process.is_alive():
            self.signalled.add(signum)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Children inherit an ignored SIGINT, so a Ctrl+C before they leave the terminal's
    process group cannot interrupt them half-started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_workers(
    config: MedricalConfig,
    jobs: Sequence[WorkerJob],
    *,
    on_status: Callable[[str], None] | None = None,
) -> WorkersResult:
    """Run every job in a process of its own until all have ended; see the module's docstring
    for how they stop."""
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    stopped_by: str | None = None
    try:
        with _sigint_ignored():
            for job in jobs:
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=work,
                    args=(config, job, sender, os.getpid()),
                    name=f"medrical-produce-{job.number}",
                )
                process.start()
                sender.close()
                workers.append(_Worker(job, process, receiver))
        with StopOnSignals(StopFlag()) as stop:
            stopped_by = _supervise(workers, stop, on_status)
    except BaseException:
        # A second Ctrl+C, or the parent itself failing: stop at once.
        for worker in workers:
            worker.signal(signal.SIGKILL)
        raise
    finally:
        for worker in workers:
            worker.process.join(timeout=_STOP_GRACE_S)
            if worker.process.is_alive():
                worker.signal(signal.SIGKILL)
                worker.process.join(timeout=10)
            worker.results.close()
    failures = tuple(worker.failure for worker in workers if worker.failure is not None)
    summaries = [worker.summary for worker in workers if worker.summary is not None]
    counts = [job.limits.count or 0 for job in jobs]
    if (
        stopped_by is None
        and len(summaries) == len(jobs)
        and all(summary.stopped_by.startswith("--count") for summary in summaries)
    ):
        # Each worker reached its share; the user asked for the total.
        stopped_by = f"--count {sum(counts)} reached"
    if failures and stopped_by is None:
        first = failures[0]
        stopped_by = f"stopped: worker {first.number} failed"
    return WorkersResult(merge(summaries, stopped_by), len(workers), failures)


def _supervise(
    workers: list[_Worker], stop: StopFlag, on_status: Callable[[str], None] | None
) -> str | None:
    """Collect the workers' reports until every worker has ended; stop them all on a signal
    or at the first failure. Returns the signal's stop reason, if one stopped the run."""
    started = time.monotonic()
    next_status = started + _STATUS_EVERY_S
    stopping = False
    announced = False
    stopped_by: str | None = None
    while not all(worker.ended for worker in workers):
        running = [worker for worker in workers if not worker.ended]
        wait([worker.results for worker in running] + [w.process.sentinel for w in running], 0.1)
        for worker in running:
            _collect(worker)
        if not announced and all(worker.reported for worker in workers):
            announced = True
            log.info("all %d workers are producing to %s", len(workers), workers[0].job.topic)
        if not stopping and (stop or any(worker.failure for worker in workers)):
            stopping = True
            if stop:
                stopped_by = stop.reason
            for worker in workers:
                worker.signal(signal.SIGTERM)
        if on_status is not None and time.monotonic() >= next_status:
            next_status = time.monotonic() + _STATUS_EVERY_S
            sent = sum(worker.counts[0] for worker in workers)
            delivered = sum(worker.counts[1] for worker in workers)
            failed = sum(worker.counts[2] for worker in workers)
            elapsed = time.monotonic() - started
            on_status(
                f"{len(workers)} workers: {sent} sent, {delivered} delivered, {failed} failed, "
                f"{sent / elapsed if elapsed > 0 else 0:,.0f} events/s"
            )
    return stopped_by


def _collect(worker: _Worker) -> None:
    """Read what `worker` reported; notice when it ended, and whether it ended well."""
    _read(worker)
    if worker.process.is_alive():
        return
    worker.process.join()
    _read(worker)  # what it wrote just before it ended
    worker.ended = True
    if worker.summary is not None or worker.failure is not None:
        return
    code = worker.process.exitcode
    if code is not None and code < 0 and -code in worker.signalled:
        return  # stopped by us before it had started: it sent nothing
    if code is not None and code < 0:
        reason = f"killed by {signal.Signals(-code).name}"
    else:
        reason = f"ended with exit code {code} before reporting"
    worker.failure = WorkerFailure(worker.job.number, ExitCode.FAILURE, reason)


def _read(worker: _Worker) -> None:
    with contextlib.suppress(EOFError, OSError):
        while worker.results.poll():
            kind, *payload = worker.results.recv()
            worker.reported = True
            if kind == "progress":
                worker.counts = payload[0]
            elif kind == "done":
                summary: RunSummary = payload[0]
                worker.summary = summary
                worker.counts = (summary.sent, summary.delivered, summary.failed)
            elif kind == "error":
                worker.failure = WorkerFailure(worker.job.number, payload[0], payload[1])


# --- the worker --------------------------------------------------------------------------------


def work(config: MedricalConfig, job: WorkerJob, results: Connection, parent_pid: int) -> None:
    """A worker process: produce this job's shard of the ward and report to the parent."""
    # Out of the terminal's process group: the parent alone decides when workers stop.
    os.setpgrp()
    stop = StopFlag()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    setup_logging(job.log_level)
    _watch_parent(parent_pid, stop)
    try:

        def progress(sent: int, delivered: int, failed: int) -> None:
            results.send(("progress", (sent, delivered, failed)))

        def announce(url: str) -> None:
            print(f"worker {job.number}: metrics on {url}", file=sys.stderr, flush=True)

        from medrical.producing.metrics import producer_metrics

        with producer_metrics(job.metrics_port, announce) as metrics:
            summary = produce_to_kafka(
                config,
                job.topic,
                job.ward.simulator(job.shard).readings(),
                pacing=job.pacing,
                limits=job.limits,
                on_progress=progress,
                origin_ms=job.ward.start_ms,
                stop=stop,
                metrics=metrics,
            )
        results.send(("done", summary))
    except MedricalError as exc:
        results.send(("error", exc.exit_code, str(exc)))
    except Exception as exc:  # unforeseen: the parent reports it, the log keeps the trace
        log.debug("worker %d failed", job.number, exc_info=True)
        results.send(("error", ExitCode.FAILURE, f"{type(exc).__name__}: {exc}"))
    finally:
        results.close()


def _watch_parent(parent_pid: int, stop: StopFlag) -> None:
    def watch() -> None:
        while not stop:
            if os.getppid() != parent_pid:
                stop.set("the parent process ended")
                return
            time.sleep(_PARENT_CHECK_S)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

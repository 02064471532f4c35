"""Reading in parallel: the reader processes and the chunks they read, results in order.

Work is cut into chunks (:data:`CHUNK_RUNS` runs for matrices) whose results
are consumed in the order of the chunks, so that the group outputs are the
same bytes whatever ``--nprocs``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import multiprocessing
import signal
from collections.abc import Iterable, Iterator, Sequence

#: Runs per chunk when matrices are read: each chunk's sums are made apart and
#: merged in order, so that the results do not depend on ``--nprocs``.
CHUNK_RUNS = 32


def _reader_init() -> None:
    # Ctrl-C reaches every process of the terminal: the main process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_readers(nprocs: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(max_workers=nprocs, initializer=_reader_init,
                                                  mp_context=multiprocessing.get_context("spawn"))


def _stop_readers(executor: concurrent.futures.ProcessPoolExecutor, interrupted: bool = False) -> None:
    """Shut the readers down; on an error or a signal, without waiting for their chunks."""
    if not interrupted:
        executor.shutdown(wait=True)
        return
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()


def _in_order(executor, function, tasks: Iterable[tuple]) -> Iterator:
    """``function(*task)`` for each task, in order; in the executor's processes if any.

    At most two tasks per process are pending at a time, so that memory does
    not grow with the number of tasks.
    """
    if executor is None:
        for task in tasks:
            yield function(*task)
        return
    pending: collections.deque = collections.deque()
    window = 2 * executor._max_workers
    for task in tasks:
        pending.append(executor.submit(function, *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _chunks(items: Sequence, size: int = CHUNK_RUNS) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

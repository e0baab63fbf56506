"""The box's ceiling: how much faster N threads get through the same compiled work than one.

Each thread runs the order-flow kernels (``run_orders``, compiled ``nogil``) over a block's
transactions on its own copy of the tables, so the threads share nothing but the machine:
its cores, caches and memory bandwidth, and whatever else runs on it. One thread runs the
same jobs alone, measured just before. ``ceiling = N × (one thread's seconds) / (N threads'
wall seconds)``: the speedup a parallel executor could reach on this machine, at this
moment, if all its work were like this. A speedup divided by it (``efficiency``) means the
same on a loaded 2-core VM as on an idle 16-core machine.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Final

import numpy as np

from paraclear.clearing.kernels.codes import R_FIELDS
from paraclear.clearing.kernels.engine import KERNEL_TYPES
from paraclear.clearing.kernels.glue import columns_of
from paraclear.clearing.kernels.run import run_orders
from paraclear.clearing.kernels.tables import Tables
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.transactions import Transaction
from paraclear.execution import Block
from paraclear.state import Key

MIN_SECONDS: Final = 0.05
"""Each thread's work per measurement, at least (a job is repeated on fresh copies)."""
MAX_JOBS: Final = 64

Job = Callable[[], None]


def measure_ceiling(
    data: Mapping[Key, object],
    block: Block[Transaction],
    model: MarginModel,
    threads: int,
    repeats: int = 3,
) -> float | None:
    """The median over ``repeats`` of ``threads`` threads' speedup over one thread, each
    running ``block``'s kernel transactions on its own copy of the tables of ``data``
    (1.0 for one thread; None for a block with nothing for the kernels: it says nothing
    about the machine)."""
    if threads < 2:
        return 1.0
    make = _job_factory(data, block, model)
    if make is None:
        return None
    started = perf_counter()
    make()()
    once = max(perf_counter() - started, 1e-6)
    jobs = max(1, min(MAX_JOBS, int(MIN_SECONDS / once) + 1))
    ratios = []
    for _ in range(repeats):
        alone = _run_threads([[make() for _ in range(jobs)]])
        together = _run_threads([[make() for _ in range(jobs)] for _ in range(threads)])
        ratios.append(threads * alone / together)
    return round(statistics.median(ratios), 3)


def _job_factory(
    data: Mapping[Key, object], block: Block[Transaction], model: MarginModel
) -> Callable[[], Job] | None:
    """A maker of jobs: each runs the block's kernel transactions once, on fresh copies of
    the tables (made when the job is made, not when it runs)."""
    tables = Tables(model)
    tables.load(data)
    txs = [tx for tx in block.txs if isinstance(tx, KERNEL_TYPES)]
    if not txs or not tables.usable:
        return None
    columns = columns_of(tables, txs)
    arrays = (
        tables.accounts,
        tables.account_positions,
        tables.positions,
        tables.orders,
        tables.instruments,
        tables.house,
    )
    height, time = block.height, block.time

    def make() -> Job:
        accounts, account_positions, positions, orders, instruments, house = (
            array.copy() for array in arrays
        )
        results = np.zeros((len(txs), R_FIELDS), dtype=np.int64)
        log = np.empty((4, 2 * len(txs) + 8), dtype=np.int64)
        count = np.zeros(4, dtype=np.int64)

        def job() -> None:
            at = 0
            while at < len(txs):  # a transaction handed back is skipped
                at = 1 + run_orders(
                    columns, results, at,
                    accounts, account_positions, positions, orders, instruments, house,
                    height, time, log, count,
                )  # fmt: skip

        return job

    return make


def _run_threads(work: list[list[Job]]) -> float:
    """Wall seconds for one thread per list to run its jobs, all starting together."""
    gate = threading.Barrier(len(work) + 1)
    finished = [0.0] * len(work)

    def serve(index: int) -> None:
        gate.wait()
        for job in work[index]:
            job()
        finished[index] = perf_counter()

    threads = [threading.Thread(target=serve, args=(i,), daemon=True) for i in range(len(work))]
    for thread in threads:
        thread.start()
    gate.wait()
    started = perf_counter()
    for thread in threads:
        thread.join()
    return max(finished) - started

"""Run a generated workload on the sequential executor (reference engine) and the parallel
executor (either engine), block by block, asserting that every block's result and the state
after it are identical."""

from paraclear.clearing import ClearingMachine, Engine
from paraclear.clearing.invariants import check_invariants
from paraclear.execution import BlockResult, ParallelExecutor, execute_block
from paraclear.sim.workload import Workload, WorkloadConfig


def side_by_side(
    config: WorkloadConfig,
    workers: int,
    backend: str,
    *,
    blocks: int = 3,
    declared: bool = True,
    kill: tuple[int, int] | None = None,
    engine: Engine = "reference",
) -> list[BlockResult]:
    """The parallel results of ``blocks`` blocks after the setup block, on a machine with
    ``engine``, checked against the reference engine's sequential executor. ``kill`` =
    (worker, after): that worker is lost mid-way through the second block."""
    workload = Workload(config)
    machine = ClearingMachine(workload.model, declared=declared)
    tested = ClearingMachine(workload.model, declared=declared, engine=engine)
    sequential, parallel = workload.genesis(), workload.genesis()
    results = []
    with ParallelExecutor(tested, workers, backend, spread="model") as executor:  # type: ignore[arg-type]
        setup = workload.setup_block()
        execute_block(sequential, setup, machine)
        executor.execute(parallel, setup)
        for height in range(blocks):
            block = workload.next_block(sequential)
            if kill is not None and height == 1:
                executor.inject_fault(*kill)
            expected = execute_block(sequential, block, machine)
            got = executor.execute(parallel, block)
            assert got.receipts == expected.receipts
            assert got.consensus_bytes() == expected.consensus_bytes()
            assert parallel.data == sequential.data
            results.append(got)
    assert check_invariants(parallel) == []
    return results


def fallbacks(results: list[BlockResult]) -> list[object]:
    """Why each block did not run in parallel (``None`` where it did)."""
    return [result.metrics.parallel.fallback for result in results]

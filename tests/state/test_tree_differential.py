"""Real blocks of the clearing house: the compiled tree and the reference tree give the same
state root block after block, and the same proofs."""

from paraclear.clearing import ClearingMachine
from paraclear.execution import execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State
from paraclear.state.store import verify_value


def test_compiled_and_reference_roots_agree_on_every_block():
    workload = Workload(WorkloadConfig(seed=4, accounts=60, txs_per_block=120))
    machine = ClearingMachine(workload.model)
    compiled = workload.genesis()
    reference = State(compiled.data, tree="reference")
    assert compiled.kind == "compiled" and compiled.root() == reference.root()
    blocks = [workload.setup_block()]
    for _ in range(6):
        execute_block(compiled, blocks[-1], machine)
        result = execute_block(reference, blocks[-1], machine)
        assert compiled.root() == reference.root() == result.state_root
        blocks.append(workload.next_block(compiled))
    for key in list(compiled.data)[:: max(1, len(compiled.data) // 40)]:
        proof = compiled.prove(key)
        assert proof == reference.prove(key)
        assert verify_value(compiled.root(), key, compiled.data[key], proof)
    assert compiled.copy().root() == compiled.root()
    assert State(compiled.data, tree="reference").root() == compiled.root()

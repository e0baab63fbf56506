"""The check that a compiled engine's carried tables still mirror the state
(``kernels.mirror``): it passes after real blocks (the differential tests in
``test_kernels`` run it after every block) and it finds each way the tables could drift."""

from __future__ import annotations

import numpy as np
import pytest

from paraclear.chain.builder import BlockBuilder
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels.engine import CompiledEngine
from paraclear.clearing.kernels.layout import (
    A_COLL,
    A_NORD,
    A_WIDE,
    H_FEE_DELTA,
    H_TAKER,
    I_MARK,
    I_OK,
    O_ACCT,
    O_LIVE,
    O_NONCE,
    O_PRICE,
    O_TOUCH,
    P_SIZE,
)
from paraclear.clearing.kernels.mirror import TablesDiverged, differences
from paraclear.clearing.kernels.tables import Tables
from paraclear.execution import SequentialExecutor
from paraclear.market import SerialMatcher
from paraclear.state import State
from paraclear.state import keys as k
from tests.clearing.test_kernels import _market
from tests.node.test_builder import Flow


def _carried(blocks: int = 3) -> tuple[CompiledEngine, State]:
    """A compiled engine after ``blocks`` blocks of the builder's order flow, and the state
    it committed them to."""
    ex = _market()
    compiled = ClearingMachine(ex.machine.margin_model, engine="compiled")
    builder = BlockBuilder(ex.machine, SerialMatcher(), operator="oracle")
    flow = Flow(5, dict(ex.nonces))
    executor = SequentialExecutor(compiled)
    for number in range(blocks):
        height = ex.height + 1 + number
        built = builder.build(ex.state, height, ex.time + 60 * height, flow.batch(80, height))
        executor.execute(ex.state, built.block)
    engine = compiled.batch_runner
    assert isinstance(engine, CompiledEngine) and engine.tables is not None
    return engine, ex.state


def _first(column: np.ndarray) -> int:
    """The first row where ``column`` is not 0."""
    return int(np.flatnonzero(column)[0])


def _drift(t: Tables, drift: str) -> None:
    """Change ``t`` the way ``drift`` names, as a bug in keeping it in step might."""
    order = _first(t.orders[:, O_LIVE])
    if drift == "collateral":
        t.accounts[1, A_COLL] += 1
    elif drift == "order price":
        t.orders[order, O_PRICE] += 1
    elif drift == "order row lost":
        del t.order_row[(int(t.orders[order, O_ACCT]), int(t.orders[order, O_NONCE]))]
    elif drift == "row left touched":
        t.orders[order, O_TOUCH] = 1
    elif drift == "position closed":
        t.positions[_first(t.positions[:, P_SIZE]), P_SIZE] = 0
    elif drift == "open-order list":
        t.open_orders[_first(t.accounts[:, A_NORD])].append(10**6)
    elif drift == "mark":
        t.instruments[_first(t.instruments[:, I_OK]), I_MARK] += 1
    elif drift == "fee rate":
        t.house[H_TAKER] += 1
    elif drift == "order twice":
        twin = _first(t.orders[:, O_LIVE] == 0)
        t.orders[twin] = t.orders[order]
    elif drift == "fee delta":
        t.house[H_FEE_DELTA] = 5
    else:
        t.touched_accounts.append(0)


DRIFTS: dict[str, str] = {
    "collateral": "account",
    "order price": "order",
    "order row lost": "order",
    "row left touched": "still marked touched",
    "position closed": "position",
    "open-order list": "account",
    "mark": "instrument",
    "fee rate": "house",
    "order twice": "order twice",
    "fee delta": "fee or deposit delta",
    "touched list": "touched accounts",
}
"""Each drift ``_drift`` makes, and a word of what ``TablesDiverged`` says of it."""


def test_carried_tables_mirror_the_state_after_real_blocks() -> None:
    engine, state = _carried()
    assert engine.check_tables(state)


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_each_kind_of_drift_is_found(drift: str) -> None:
    engine, state = _carried()
    assert engine.tables is not None
    _drift(engine.tables, drift)
    with pytest.raises(TablesDiverged, match=DRIFTS[drift]) as raised:
        engine.check_tables(state)
    assert len(raised.value.differences) >= 1


def test_tables_that_hand_an_account_to_the_handlers_only_are_not_a_drift() -> None:
    """Carried tables may call an account too wide when a fresh load would not (it only
    sends its transactions to the handlers); the other way round they must not."""
    engine, state = _carried()
    tables = engine.tables
    assert tables is not None
    row = tables.account_row["trader1"]
    tables.accounts[row, A_WIDE] = 1
    assert engine.check_tables(state)
    tables.accounts[row, A_WIDE] = 0
    wider = dict(state.data)
    wider[k.collateral("trader2")] = 2**64
    found = differences(tables, wider, engine.machine.margin_model)
    assert any("wide 'trader2'" in line for line in found)


def test_nothing_to_check_without_carried_tables() -> None:
    """An engine that ran nothing, or whose state others changed beyond catching up,
    carries no tables into its next block: it loads them then, and checks nothing now."""
    _, state = _carried(1)
    fresh = ClearingMachine(engine="compiled").batch_runner
    assert isinstance(fresh, CompiledEngine)
    assert not fresh.check_tables(state)
    engine, state = _carried(1)
    state.apply({k.collateral(f"new{i}"): 1 for i in range(len(state) + 1)})
    assert not engine.check_tables(state)

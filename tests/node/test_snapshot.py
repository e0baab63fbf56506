"""The snapshot encoding: typed, deterministic, without pickle."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.bench.crashtest import Plan
from paraclear.chain.snapshot import (
    VALUE_TYPES,
    CorruptSnapshot,
    UnsupportedValue,
    decode_entries,
    decode_state,
    encode_entries,
    encode_state,
)
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import OpenOrder, Position, SviSlice
from paraclear.execution import SequentialExecutor
from paraclear.state import State


def test_a_workload_state_round_trips_with_its_types_and_root(plan: Plan) -> None:
    state = plan.spec.genesis_state()
    executor = SequentialExecutor(ClearingMachine(plan.spec.model()))
    for block in plan.blocks:
        executor.execute(state, block)
    data = encode_state(state)
    restored = decode_state(data)
    assert restored.root() == state.root()
    assert list(restored.items()) == list(state.items())
    assert {type(v) for _, v in restored.items()} == {type(v) for _, v in state.items()}
    assert encode_state(restored) == data
    assert not data.startswith(b"\x80")  # not a pickle


def test_every_record_and_instrument_struct_can_be_snapshotted() -> None:
    from paraclear.clearing import instruments, records

    for module in (records, instruments):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct):
                assert VALUE_TYPES[value.__name__] is value


keys = st.tuples(st.sampled_from(["acct", "market", "fund"]), st.text(max_size=6)).map(tuple)
values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).filter(bool),
    st.lists(st.text(max_size=4), max_size=3).map(tuple),
    st.lists(st.integers(0, 2**40), max_size=3).map(tuple),
    st.builds(
        OpenOrder,
        st.text(max_size=8),
        st.booleans(),
        st.sampled_from(["limit", "market"]),
        st.integers(0, 10**12),
        st.integers(0, 10**9),
        st.integers(0, 10**9),
        st.integers(0, 10**12),
        st.booleans(),
    ),
    st.builds(Position, st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12)),
    st.lists(
        st.builds(SviSlice, st.just(1), st.just(2), st.just(3), st.just(4), st.just(5), st.just(6)),
        max_size=2,
    ).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, values, max_size=12))
def test_any_entries_round_trip_and_encode_the_same_in_any_order(
    entries: dict[tuple[str, ...], object],
) -> None:
    data = encode_entries(entries)
    assert decode_entries(data) == entries
    assert encode_entries(dict(reversed(list(entries.items())))) == data
    assert decode_state(data).root() == State(entries).root()


def test_a_value_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnsupportedValue) as refused:
        encode_entries({("acct", "a", "x"): 1.5})
    assert refused.value.key == ("acct", "a", "x") and refused.value.value_type == "float"
    with pytest.raises(UnsupportedValue):
        encode_entries({("acct", "a", "mixed"): (1, "one")})


def test_garbage_and_unknown_tags_are_corrupt_snapshots() -> None:
    with pytest.raises(CorruptSnapshot):
        decode_entries(b"\xc1garbage")
    with pytest.raises(CorruptSnapshot, match="unknown value tag"):
        decode_entries(msgspec.msgpack.encode([("Pickle", [("a", "b")], [1])]))
    with pytest.raises(CorruptSnapshot):
        decode_entries(msgspec.msgpack.encode([("int", [("a", "b")], [1, 2])]))
    with pytest.raises(CorruptSnapshot):
        decode_entries(msgspec.msgpack.encode([("Position", [("a", "b")], ["not a position"])]))

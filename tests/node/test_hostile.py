"""Hostile input against a live node's API (issue 17): every method, every parameter.

Each example sends hostile frames to the dispatcher of a running node as an authenticated
stranger would, and checks that each is answered, with a typed error where it is one (never
``internal error``), and that nothing changed: height, state root, mempool. The CPU each
request takes is measured by ``paraclear.bench.hostile``, not asserted here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paraclear.api.rpc import INVALID_PARAMS
from paraclear.bench import hostile_requests as hostile
from paraclear.bench.hostile_requests import HostileVenue
from paraclear.clearing.transactions import Side


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileVenue]:
    venue = HostileVenue(Path(tmp_path_factory.mktemp("hostile")))
    yield venue
    venue.close()


def numbers() -> st.SearchStrategy[Any]:
    exponents = st.integers(-(10**15), 10**15)
    return st.one_of(
        st.sampled_from(hostile.HUGE_NUMBERS),
        st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), exponents),
        st.builds(lambda m, e: f"{m}E+{e}", st.decimals(allow_nan=False, places=3), exponents),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text("0123456789.eE+-", max_size=40),
    )


def values(venue: HostileVenue) -> st.SearchStrategy[Any]:
    envelopes = st.randoms(use_true_random=False).flatmap(
        lambda rng: st.sampled_from(list(hostile.tampered_envelopes(venue, rng)))
    )
    scalars = st.one_of(
        numbers(),
        st.sampled_from(hostile.STRINGS + hostile.SHAPES + hostile.DEEP),
        st.text(max_size=50),
        st.none(),
        st.booleans(),
        envelopes,
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)


def requests(venue: HostileVenue) -> st.SearchStrategy[dict[str, Any]]:
    registry = venue.server.registry

    def for_method(name: str) -> st.SearchStrategy[dict[str, Any]]:
        method = registry.get(name)
        assert method is not None
        fields = st.sampled_from([*method.params.__struct_fields__, "unknown"])
        params = st.dictionaries(fields, values(venue), max_size=4)
        return st.builds(lambda p: {"jsonrpc": "2.0", "id": 1, "method": name, "params": p}, params)

    return st.sampled_from(registry.names()).flatmap(for_method)


def send(venue: HostileVenue, frame: bytes) -> None:
    before = venue.fingerprint()
    answer = hostile.run(venue.answer(frame))
    hostile.check_answer(answer)
    assert venue.fingerprint() == before, f"state changed by {frame[:200]!r}"


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_method_answers_hostile_params_with_typed_errors_and_changes_nothing(
    venue: HostileVenue, data: st.DataObject
) -> None:
    send(venue, hostile.encode(data.draw(requests(venue))))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32))
def test_hostile_frames_batches_and_garbage_are_answered_and_change_nothing(
    venue: HostileVenue, seed: int
) -> None:
    send(venue, hostile.hostile_frame(venue, random.Random(seed), 1))


@pytest.mark.parametrize("amount", ["1e800000", "1E+1000000", "-1e999999999999", "1e-800000"])
@pytest.mark.parametrize("method", ["private/buy", "private/sell", "private/edit"])
def test_order_entry_with_huge_exponents_is_invalid_params(
    venue: HostileVenue, method: str, amount: str
) -> None:
    """The stranger's own, validly signed order, with a Deribit parameter that must be
    checked against it: refused as invalid params before the order is submitted."""
    side = Side.BUY if method == "private/buy" else Side.SELL
    envelope = venue.strangers_envelope(side, amend=method == "private/edit")
    for param in ("amount", "price"):
        request = {"signed_tx": envelope, param: amount}
        frame = hostile.encode({"jsonrpc": "2.0", "id": 7, "method": method, "params": request})
        before = venue.fingerprint()
        answer = hostile.run(venue.answer(frame))
        assert answer.response["error"]["code"] == INVALID_PARAMS, answer.response
        assert answer.response["error"]["data"]["param"] == param
        assert venue.fingerprint() == before

"""``State`` on the compiled tree against ``State`` on the reference tree: random write sets
(updates, deletions by ``None`` and ``0``, re-insertions) give the same data, roots and
proofs; key paths computed in a batch equal those computed one by one; keys committed with
their paths and value hashes computed elsewhere give the same as keys encoded here."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import State, compiled
from paraclear.state.codec import key_path, key_paths, value_hash
from paraclear.state.compiled import set_threads
from paraclear.state.hashed import HashedWrites
from paraclear.state.smt import EMPTY
from paraclear.state.store import is_absent, verify_value

keys = st.tuples(
    st.sampled_from(["acct", "oi", "market"]),
    st.text("abc", min_size=1, max_size=3),
    st.text("xyz", max_size=2),
)
values = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.integers(-(2**63), 2**63 - 1),
    st.tuples(st.integers(1, 9), st.text("pq", max_size=3)),
)
write_sets = st.lists(st.dictionaries(keys, values, max_size=30), min_size=1, max_size=5)
LARGE = 4_096
"""Batches this large are hashed on threads in the tests that take ``large`` (a threshold
below ``PARALLEL_MIN_CHANGES``, so that they stay quick)."""


@pytest.fixture
def large(monkeypatch):
    monkeypatch.setattr(compiled, "PARALLEL_MIN_CHANGES", LARGE)


@given(write_sets)
@settings(max_examples=150, deadline=None)
def test_compiled_and_reference_states_agree_after_every_write_set(write_sets):
    compiled, reference = State(), State(tree="reference")
    seen = set()
    for writes in write_sets:
        compiled.apply(writes)
        reference.apply(writes)
        seen |= set(writes)
        assert compiled.data == reference.data
        assert compiled.root() == reference.root()
    for key in sorted(seen)[:10]:
        proof = compiled.prove(key)
        assert proof == reference.prove(key)
        assert verify_value(compiled.root(), key, compiled.data.get(key), proof)


@given(st.lists(keys, max_size=40))
@settings(max_examples=100, deadline=None)
def test_key_paths_in_a_batch_equal_key_path_one_by_one(batch):
    assert key_paths(batch) == [key_path(key) for key in batch]


def _hashed_part(writes, every, whole=False, rest=False):
    """Every ``every``-th key of ``writes`` with its path and value hash computed here
    (``whole``: said to be every key of ``writes``; ``rest``: naming the others)."""
    chosen = list(writes)[::every]
    hashes = [EMPTY if is_absent(writes[key]) else value_hash(writes[key]) for key in chosen]
    others = [key for key in writes if key not in set(chosen)] if rest else None
    return HashedWrites(
        chosen,
        np.frombuffer(b"".join(key_paths(chosen)), np.uint8).reshape(-1, 32).copy(),
        np.frombuffer(b"".join(hashes), np.uint8).reshape(-1, 32).copy(),
        np.array([is_absent(writes[key]) for key in chosen], dtype=np.bool_),
        whole,
        others,
    )


@given(write_sets, st.integers(0, 3), st.sampled_from(["compiled", "reference"]), st.booleans())
@settings(max_examples=100, deadline=None)
def test_keys_committed_pre_hashed_give_the_same_state_data_and_roots(
    write_sets, every, tree, rest
):
    """Part of each write set handed over with its paths and value hashes (as the compiled
    engine hands its hot keys; ``every`` 0: all of it, said to be whole; ``rest``: the other
    keys named): the same data, roots and proofs as encoding them all, on either tree;
    deleting an absent key that way changes nothing."""
    hashed, plain = State(tree=tree), State(tree=tree)
    seen = set()
    for writes in write_sets:
        part = _hashed_part(writes, max(every, 1), whole=every == 0, rest=rest)
        hashed.apply(writes, hashed=part)
        plain.apply(writes)
        seen |= set(writes)
        assert hashed.data == plain.data
        assert hashed.root() == plain.root()
    for key in sorted(seen)[:10]:
        assert hashed.prove(key) == plain.prove(key)


def test_hashed_writes_that_name_a_key_twice_or_one_not_written_or_too_few_are_refused():
    writes = {("acct", "a", "x"): 1, ("acct", "b", "x"): 2}
    twice = _hashed_part(writes, 1)
    twice = HashedWrites(
        [*twice.keys, twice.keys[0]], np.concatenate((twice.paths, twice.paths[:1])),
        np.concatenate((twice.hashes, twice.hashes[:1])), np.concatenate((twice.deleted, [False])),
    )  # fmt: skip
    state = State()
    with pytest.raises(ValueError, match="twice"):
        state.apply(writes, hashed=twice)
    stray = _hashed_part({**writes, ("acct", "c", "x"): 3}, 1)
    with pytest.raises(ValueError, match="does not hold"):
        state.apply(writes, hashed=stray)
    short = _hashed_part(writes, 2, whole=True)  # said to be whole, one key of two
    with pytest.raises(ValueError, match="hold 1 keys and name 0 others, of 2"):
        state.apply(writes, hashed=short)
    named = _hashed_part(writes, 2, rest=True)
    for rest, error in (
        ([], "hold 1 keys and name 0 others, of 2"),  # one key of two named
        ([("acct", "c", "x")], "does not hold"),
        ([("acct", "b", "x"), ("acct", "b", "x")], "hold 1 keys and name 2 others"),
    ):
        with pytest.raises(ValueError, match=error):
            state.apply(writes, hashed=named._replace(rest=rest))
    three = {**writes, ("acct", "c", "x"): 3}
    with pytest.raises(ValueError, match="twice"):  # the count right, a key named twice
        state.apply(three, hashed=named._replace(rest=[("acct", "b", "x")] * 2))
    assert state.root() == State().root()  # the tree was not touched
    assert state.data == {}  # nor any key


def test_a_large_pre_hashed_block_on_two_threads_gives_the_reference_root_and_proofs(large):
    """A block large enough for the compiled tree's threads, all of it pre-hashed as the
    compiled engine hands it over: a third of the keys deleted, a third set again to the
    value they hold (rows the tree skips), a third changed."""
    keys = [("acct", f"a{i}", "x") for i in range(LARGE + 2_000)]
    first = {key: i + 1 for i, key in enumerate(keys)}
    second = {key: (None, first[key], -i)[i % 3] for i, key in enumerate(keys)}
    compiled, reference = State(), State(tree="reference")
    previous = set_threads(2)
    try:
        for writes in (first, second):
            compiled.apply(writes, hashed=_hashed_part(writes, 1))
            reference.apply(writes)
            assert compiled.root() == reference.root()
    finally:
        set_threads(previous)
    assert compiled.data == reference.data
    for key in keys[:9]:
        proof = compiled.prove(key)
        assert proof == reference.prove(key)
        assert verify_value(compiled.root(), key, compiled.data.get(key), proof)


def _filled_later(hashed: HashedWrites, pause: float = 0.02) -> HashedWrites:
    """``hashed`` whose value hashes and deletion flags are filled on another thread after
    ``pause`` seconds (``HashedWrites.ready``), as the compiled engine hashes a large
    block's values while ``State.apply`` sets the dictionary."""
    hashes, deleted = np.zeros_like(hashed.hashes), np.zeros_like(hashed.deleted)

    def fill() -> None:
        time.sleep(pause)
        hashes[:] = hashed.hashes
        deleted[:] = hashed.deleted

    ready = ThreadPoolExecutor(1).submit(fill)
    return hashed._replace(hashes=hashes, deleted=deleted, ready=ready)


@pytest.mark.parametrize("later", [False, True])
def test_a_large_commit_of_pre_hashed_rows_and_encoded_ones(large, later):
    """Half of a large block pre-hashed (``later``: its hashes filled on another thread
    while ``apply`` sets the dictionary, so it must wait for them before reading them),
    half encoded here, with deletions of present and absent keys on both sides: the
    reference tree's data, roots and proofs, and the same tree rows on one thread as on
    two."""
    keys = [("acct", f"a{i}", "x") for i in range(3 * LARGE)]
    first = {key: i + 1 for i, key in enumerate(keys) if i % 5}
    second = {key: (None, first.get(key, 7), -i, 0, i)[i % 5] for i, key in enumerate(keys)}
    two, one, reference = State(), State(), State(tree="reference")
    previous = set_threads(2)
    try:
        for writes in (first, second):
            hashed = _hashed_part(writes, 2)
            timings: dict[str, float] = {}
            two.apply(writes, timings, _filled_later(hashed) if later else hashed)
            assert timings["rows_wait"] > 0.0 if later else timings["rows_wait"] == 0.0
            set_threads(1)
            one.apply(writes, hashed=hashed)
            set_threads(2)
            reference.apply(writes)
            assert two.root() == one.root() == reference.root()
            assert two.rows is not None and one.rows is not None
            assert all(map(np.array_equal, two.rows, one.rows))
    finally:
        set_threads(previous)
    assert two.data == reference.data
    for key in keys[:9]:
        assert two.prove(key) == reference.prove(key)


def test_a_failure_to_hash_the_pre_hashed_values_is_raised_by_apply(large):
    keys = [("acct", f"a{i}", "x") for i in range(LARGE)]
    writes = {key: 1 for key in keys}

    def broken() -> None:
        raise RuntimeError("hashing failed")

    hashed = _hashed_part(writes, 1)._replace(ready=ThreadPoolExecutor(1).submit(broken))
    with pytest.raises(RuntimeError, match="hashing failed"):
        State().apply(writes, hashed=hashed)
    assert hashed.ready is not None and hashed.ready.done()

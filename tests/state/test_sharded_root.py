"""The state tree split by lock: top-level subtrees hashed elsewhere give the same root."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import State
from paraclear.state.codec import key_path, lock_nibble, value_hash
from paraclear.state.smt import EMPTY, RADIX, SparseMerkleTree, combine_subtrees

keys = st.tuples(st.sampled_from(["acct", "oi", "fund"]), st.text("abc", min_size=1, max_size=3),
                 st.text("xyz", max_size=2)).map(lambda k: k if k[2] else k[:2])  # fmt: skip


@given(st.dictionaries(keys, st.integers(1, 10**6), max_size=40))
@settings(max_examples=60)
def test_subtrees_combine_to_the_root(contents):
    state = State(contents)
    parts = [SparseMerkleTree(1) for _ in range(RADIX)]
    for key, value in contents.items():
        parts[lock_nibble(key[:2])].update([(key_path(key), value_hash(value))])
    assert combine_subtrees([(p.root(), p.leaves()) for p in parts]) == state.root()
    split = state.tree().subtrees()
    assert combine_subtrees([(p.root(), p.leaves()) for p in split]) == state.root()


def test_every_key_of_a_lock_lies_in_the_lock_s_subtree():
    for i in range(200):
        lock = ("acct", f"a{i}")
        nibbles = {key_path((*lock, part))[0] >> 4 for part in ("collateral", "nonce", "x")}
        assert nibbles == {lock_nibble(lock)}
    assert len({lock_nibble(("acct", f"a{i}")) for i in range(200)}) == RADIX


def test_combining_needs_all_sixteen_and_handles_tiny_trees():
    with pytest.raises(ValueError):
        combine_subtrees([(EMPTY, 0)] * 3)
    assert combine_subtrees([(EMPTY, 0)] * RADIX) == State().root()
    single = State({("acct", "a", "collateral"): 5})
    assert single.root() != EMPTY
    parts = single.tree().subtrees()
    assert combine_subtrees([(p.root(), p.leaves()) for p in parts]) == single.root()


def test_apply_hashed_catches_up_lazily_and_checks_the_root():
    rng = random.Random(3)
    reference, lazy = State(), State()
    for _ in range(5):
        writes = {("acct", f"a{rng.randrange(30)}", "c"): rng.randrange(0, 4) for _ in range(20)}
        reference.apply(writes)
        lazy.apply_hashed(writes, reference.root())
        assert lazy.root() == reference.root() and lazy.data == reference.data
    assert lazy.prove(("acct", "a1", "c")) == reference.prove(("acct", "a1", "c"))
    lazy.apply_hashed({("acct", "zz", "c"): 1}, b"\x01" * 32)  # a wrong root
    with pytest.raises(RuntimeError, match="disagrees"):
        lazy.prove(("acct", "zz", "c"))


def test_apply_hashed_catches_up_from_the_rows_of_each_commit():
    # The rows of each commit (as ``apply`` leaves them in ``rows``) stand for its writes;
    # a commit that comes without them makes the tree encode every stale key again.
    rng = random.Random(4)
    reference, lazy = State(), State()
    for number in range(6):
        for _ in range(3):
            writes = {
                ("acct", f"a{rng.randrange(30)}", "c"): rng.randrange(0, 4) for _ in range(20)
            }
            reference.apply(writes)
            assert reference.rows is not None
            rows = None if number == 3 else [reference.rows]
            lazy.apply_hashed(writes, reference.root(), rows)
            assert lazy.rows is None
        lazy.apply({("acct", "b", "c"): number + 1})  # catches up, then commits
        reference.apply({("acct", "b", "c"): number + 1})
        assert lazy.root() == reference.root() and lazy.data == reference.data
        assert lazy.prove(("acct", "a1", "c")) == reference.prove(("acct", "a1", "c"))
    paths, hashes, deleted = reference.rows
    lazy.apply_hashed({("acct", "b", "c"): 9}, reference.root(), [(paths, hashes, ~deleted)])
    with pytest.raises(RuntimeError, match="disagrees"):  # rows that do not give the root
        lazy.prove(("acct", "a1", "c"))


def test_rows_of_a_long_run_of_apply_hashed_are_dropped_past_the_number_of_keys():
    reference, lazy = State(), State()
    writes = {("acct", f"a{i}", "c"): 1 for i in range(10)}
    for number in range(30):
        writes = {key: number + 1 for key in writes}
        reference.apply(writes)
        lazy.apply_hashed(writes, reference.root(), [reference.rows])
    assert lazy._stale_rows is None  # 300 rows for 10 keys: the catch-up encodes instead
    assert lazy.prove(("acct", "a1", "c")) == reference.prove(("acct", "a1", "c"))

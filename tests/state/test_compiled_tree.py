"""The compiled tree against the readable reference: same roots, proofs and shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import compiled as compiled_module
from paraclear.state.compiled import CompiledTree, set_threads
from paraclear.state.forest import part_arrays
from paraclear.state.smt import EMPTY, RADIX, SparseMerkleTree, combine_subtrees, verify
from paraclear.state.smt_kernel import MAX_ROWS, META_ROOT, _rows_after, grown_list, grown_rows

# Paths drawn from a small alphabet of prefixes and tails, so that batches share deep
# prefixes (down to a single differing last nibble), hit the same path twice, and collapse.
prefixes = st.sampled_from([b"", b"\x00", b"\x12\x34", b"\xab" * 16, b"\x5a" * 31])
paths = st.builds(
    lambda prefix, tail: (prefix + tail)[:32].ljust(32, b"\x00"),
    prefixes,
    st.binary(min_size=0, max_size=32),
)
values = st.one_of(st.none(), st.binary(min_size=32, max_size=32))
batches = st.lists(st.lists(st.tuples(paths, values), max_size=25), min_size=1, max_size=6)
# Few values, so that batches often set a path to the value it already holds.
rewrites = st.lists(
    st.lists(st.tuples(paths, st.sampled_from([None, b"\x01" * 32, b"\x02" * 32])), max_size=25),
    min_size=1,
    max_size=8,
)


def both(depth: int = 0) -> tuple[SparseMerkleTree, CompiledTree]:
    return SparseMerkleTree(depth), CompiledTree(depth)


def present(changes: list[tuple[bytes, bytes | None]]) -> set[bytes]:
    return {path for path, value in changes}


@given(batches)
@settings(max_examples=300, deadline=None)
def test_random_batches_give_the_reference_root_and_proofs(batches):
    reference, compiled = both()
    seen: set[bytes] = set()
    for batch in batches:
        reference.update(batch)
        compiled.update(batch)
        seen |= present(batch)
        root = reference.root()
        assert compiled.root() == root
        assert compiled.leaves() == reference.leaves()
        for path in sorted(seen)[:12]:
            proof = compiled.prove(path)
            assert proof == reference.prove(path)
            value = proof.leaf_value_hash if proof.leaf_path == path else None
            assert verify(root, path, value, proof)


@given(batches)
@settings(max_examples=100, deadline=None)
def test_a_depth_one_subtree_matches_the_reference_subtree(batches):
    reference, compiled = both(1)
    for batch in batches:
        inside = [(b"\x70" + path[1:], value) for path, value in batch]  # top nibble 7
        reference.update(inside)
        compiled.update(inside)
        assert compiled.root() == reference.root()
        assert compiled.leaves() == reference.leaves()


@given(rewrites)
@settings(max_examples=300, deadline=None)
def test_batches_rewriting_the_values_already_held_give_the_reference_root_and_proofs(batches):
    reference, compiled = both()
    for batch in batches:
        reference.update(batch)
        compiled.update(batch)
        assert compiled.root() == reference.root()
        assert compiled.leaves() == reference.leaves()
        for path in sorted(present(batch))[:8]:
            assert compiled.prove(path) == reference.prove(path)


def test_a_batch_that_changes_no_value_rehashes_nothing():
    rng = np.random.default_rng(3)
    changes = [(bytes(rng.integers(0, 256, 32, dtype=np.uint8)), b"\x07" * 32) for _ in range(300)]
    tree = CompiledTree(1)  # one pool: its root branch's digest can be read and overwritten
    tree.update([(b"\x50" + path[1:], value) for path, value in changes])
    root = int(tree._metas[0, META_ROOT])
    assert root > 0
    _, _, bdig, *_ = part_arrays(tree._forest, 0)  # the forest's own arrays, not copies
    bdig[root - 1] = 0xEE  # a digest that only a rehash would repair
    absent = b"\x5f" * 32
    tree.update([(b"\x50" + path[1:], value) for path, value in changes[:50]] + [(absent, None)])
    assert tree.root() == b"\xee" * 32
    tree.update([(b"\x50" + changes[0][0][1:], b"\x08" * 32)])
    assert tree.root() != b"\xee" * 32


def test_an_empty_tree_a_single_leaf_and_deleting_back_to_empty():
    reference, compiled = both()
    assert compiled.root() == EMPTY == reference.root()
    a, b = b"\x11" * 32, b"\x11" * 31 + b"\x12"  # differ in the last nibble only
    for batch in ([(a, b"\x01" * 32)], [(b, b"\x02" * 32)], [(a, None)], [(b, None)]):
        reference.update(batch)
        compiled.update(batch)
        assert compiled.root() == reference.root()
    assert compiled.root() == EMPTY and compiled.leaves() == 0


def test_the_last_change_of_a_path_wins_within_a_batch():
    reference, compiled = both()
    path = b"\x33" * 32
    batch = [(path, b"\x01" * 32), (path, None), (path, b"\x02" * 32), (b"\x34" * 32, None)]
    reference.update(batch)
    compiled.update(batch)
    assert compiled.root() == reference.root() != EMPTY
    compiled.update([(path, b"\x05" * 32), (path, None)])
    assert compiled.root() == EMPTY


def test_subtrees_combine_to_the_root_and_copies_are_independent():
    rng = np.random.default_rng(5)
    changes = [(bytes(rng.integers(0, 256, 32, dtype=np.uint8)), b"\x07" * 32) for _ in range(500)]
    reference, compiled = both()
    reference.update(changes)
    compiled.update(changes)
    parts = compiled.subtrees()
    assert len(parts) == RADIX
    assert combine_subtrees([(p.root(), p.leaves()) for p in parts]) == reference.root()
    copy = compiled.copy()
    compiled.update([(changes[0][0], None)])
    assert copy.root() == reference.root() != compiled.root()
    with pytest.raises(ValueError):
        parts[0].subtrees()


@pytest.mark.parametrize("threads", [1, 2, RADIX])
def test_a_large_batch_hashed_in_threads_gives_the_reference_root(threads, monkeypatch):
    monkeypatch.setattr(compiled_module, "PARALLEL_MIN_CHANGES", 4_096)
    rng = np.random.default_rng(9)
    changes = [(bytes(rng.integers(0, 256, 32, dtype=np.uint8)), b"\x09" * 32) for _ in range(9000)]
    reference, compiled = both()
    previous = set_threads(threads)
    try:
        reference.update(changes)
        compiled.update(changes)
        assert compiled.root() == reference.root()
        # every third deleted, every third set again to the value it holds, the rest changed
        values = (None, b"\x09" * 32, b"\x0a" * 32)
        update = [(path, values[i % 3]) for i, (path, _) in enumerate(changes)]
        reference.update(update)
        compiled.update(update)
    finally:
        set_threads(previous)
    assert len(update) >= compiled_module.PARALLEL_MIN_CHANGES
    assert compiled.root() == reference.root()
    for path, _ in update[:30]:
        assert compiled.prove(path) == reference.prove(path)


def test_paths_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        CompiledTree().update([(b"\x01" * 31, b"\x02" * 32)])


def test_row_counts_beyond_int32_refs_raise_instead_of_wrapping():
    with pytest.raises(OverflowError):
        _rows_after(MAX_ROWS, MAX_ROWS)
    assert _rows_after(MAX_ROWS - 1, MAX_ROWS) == MAX_ROWS  # capped, not doubled past it
    assert _rows_after(100, MAX_ROWS) == 216
    assert grown_rows(np.ones((2, 16), dtype=np.int32), 5).sum() == 32
    assert list(grown_list(np.ones(2, dtype=np.int32), 3)) == [1, 1, 0]

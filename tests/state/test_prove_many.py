"""``CompiledTree.prove_many`` (one compiled walk for many paths) against ``prove`` path by
path and against the readable reference tree: the same proofs, and every one verifies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing import ClearingMachine
from paraclear.execution import execute_block
from paraclear.sim.workload import Workload, WorkloadConfig
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.compiled import CompiledTree
from paraclear.state.smt import RADIX, Proof, SparseMerkleTree, verify
from paraclear.state.store import verify_value

# Paths from a few prefixes (shared down to the last nibble), so that trees have deep
# branches, and queries fall beside leaves, inside branches and in empty top-level parts.
prefixes = st.sampled_from([b"", b"\x00", b"\x12\x34", b"\x12\x35", b"\xab" * 16, b"\x5a" * 31])
paths = st.builds(
    lambda prefix, tail: (prefix + tail)[:32].ljust(32, b"\x00"),
    prefixes,
    st.binary(min_size=0, max_size=32),
)
values = st.one_of(st.none(), st.binary(min_size=32, max_size=32))
small_batches = st.lists(st.tuples(paths, values), max_size=25)
many_leaves = st.integers(0, 2**32 - 1).map(
    lambda seed: [
        (bytes(row), b"\x03" * 32)
        for row in np.random.default_rng(seed).integers(0, 256, (600, 32), dtype=np.uint8)
    ]
)
batches = st.lists(st.one_of(small_batches, many_leaves), min_size=1, max_size=5)


def checked(tree: CompiledTree, reference: SparseMerkleTree, queries: list[bytes]) -> None:
    """``prove_many`` equals ``prove`` and the reference's proofs, and each verifies."""
    proofs = tree.prove_many(queries)
    root = reference.root()
    assert tree.root() == root
    assert len(proofs) == len(queries)
    for path, proof in zip(queries, proofs, strict=True):
        assert proof == tree.prove(path) == reference.prove(path)
        value = proof.leaf_value_hash if proof.leaf_path == path else None
        assert verify(root, path, value, proof)
    assert list(proofs) == [tree.prove(path) for path in queries]


@given(batches, st.lists(paths, max_size=20))
@settings(max_examples=200, deadline=None)
def test_prove_many_equals_prove_path_by_path_on_random_trees(batches, absent):
    reference, tree = SparseMerkleTree(), CompiledTree()
    seen: list[bytes] = []
    for batch in batches:
        reference.update(batch)
        tree.update(batch)
        seen += [path for path, _ in batch]
        checked(tree, reference, seen[-40:] + absent)  # held, deleted, and never held


@given(st.lists(st.tuples(paths, values), max_size=3), st.lists(paths, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_trees_of_no_one_and_two_leaves_are_proven_as_prove_does(changes, queries):
    """Fewer than two leaves: the whole tree is its only leaf (or nothing), no levels."""
    reference, tree = SparseMerkleTree(), CompiledTree()
    reference.update(changes)
    tree.update(changes)
    checked(tree, reference, queries + [path for path, _ in changes])


@given(batches, st.lists(paths, max_size=12))
@settings(max_examples=60, deadline=None)
def test_a_depth_one_tree_and_the_parts_of_a_whole_tree_prove_as_prove_does(batches, queries):
    tree, whole, reference = CompiledTree(1), CompiledTree(), SparseMerkleTree(1)
    for batch in batches:
        moved = [(b"\x70" + path[1:], value) for path, value in batch]  # top nibble 7
        tree.update(moved)
        reference.update(moved)
        whole.update(batch)
    asked = [b"\x70" + path[1:] for path in queries + [path for path, _ in batch]]
    assert list(tree.prove_many(asked)) == [tree.prove(path) for path in asked]
    assert [tree.prove(path) for path in asked] == [reference.prove(path) for path in asked]
    for part in whole.subtrees():
        assert list(part.prove_many(queries)) == [part.prove(path) for path in queries]


def test_proofs_are_kept_as_they_were_when_the_tree_changes_after():
    rng = np.random.default_rng(3)
    changes = [(bytes(rng.integers(0, 256, 32, dtype=np.uint8)), b"\x05" * 32) for _ in range(300)]
    tree = CompiledTree()
    tree.update(changes)
    root, queries = tree.root(), [path for path, _ in changes[:20]]
    before = [tree.prove(path) for path in queries]
    proofs = tree.prove_many(queries)
    tree.update([(path, None) for path in queries])
    assert list(proofs) == before
    assert all(
        verify(root, p, b"\x05" * 32, proof) for p, proof in zip(queries, proofs, strict=True)
    )
    assert not verify(tree.root(), queries[0], b"\x05" * 32, proofs[0])


def test_proven_paths_is_a_sequence_of_proofs():
    tree = CompiledTree()
    queries = [bytes([n << 4]) + bytes(31) for n in range(RADIX)]
    tree.update([(path, b"\x01" * 32) for path in queries])
    proofs = tree.prove_many(queries)
    assert proofs[-1] == tree.prove(queries[-1])
    assert proofs[2:5] == [tree.prove(path) for path in queries[2:5]]
    assert isinstance(proofs[0], Proof) and len(proofs[0].siblings) == 1
    with pytest.raises(IndexError):
        proofs[RADIX]
    assert list(tree.prove_many([])) == []


def test_paths_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        CompiledTree().prove_many([b"\x01" * 31])


@pytest.mark.parametrize("kind", ["compiled", "reference"])
def test_state_prove_many_proves_present_and_absent_keys_as_prove_does(kind):
    data = {k.collateral(f"a{n}"): 1_000 + n for n in range(50)}
    state = State(data, tree=kind)
    keys = [k.collateral(f"a{n}") for n in range(0, 60, 3)]  # the last four absent
    proofs = state.prove_many(keys)
    assert list(proofs) == [state.prove(key) for key in keys]
    for key, proof in zip(keys, proofs, strict=True):
        assert verify_value(state.root(), key, data.get(key), proof)


def test_a_state_committed_elsewhere_catches_up_before_proving_many():
    reference, lazy = State(), State()
    writes = {k.collateral(f"a{n}"): n % 4 for n in range(40)}  # every fourth absent
    reference.apply(writes)
    lazy.apply_hashed(writes, reference.root())
    keys = list(writes)
    assert list(lazy.prove_many(keys)) == list(reference.prove_many(keys))
    lazy.apply_hashed({k.collateral("zz"): 1}, b"\x01" * 32)  # a wrong root
    with pytest.raises(RuntimeError, match="disagrees"):
        lazy.prove_many(keys)


def test_the_keys_of_real_blocks_are_proven_as_the_reference_state_proves_them():
    workload = Workload(WorkloadConfig(seed=8, accounts=40, txs_per_block=100))
    machine = ClearingMachine(workload.model)
    compiled = workload.genesis()
    reference = State(compiled.data, tree="reference")
    block = workload.setup_block()
    for _ in range(4):
        execute_block(compiled, block, machine)
        execute_block(reference, block, machine)
        block = workload.next_block(compiled)
    keys = [*compiled.data, k.collateral("nobody"), k.open_interest("NONE-PERP")]
    proofs = compiled.prove_many(keys)
    assert list(proofs) == list(reference.prove_many(keys))
    for key, proof in zip(keys, proofs, strict=True):
        assert verify_value(compiled.root(), key, compiled.data.get(key), proof)

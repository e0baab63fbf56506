import random

from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import State
from paraclear.state.smt import (
    EMPTY,
    Proof,
    SparseMerkleTree,
    branch_digest,
    hash_bytes,
    leaf_digest,
    verify,
)
from paraclear.state.store import verify_value


def reference_root(leaves: dict[bytes, bytes]) -> bytes:
    """The tree's definition, computed from scratch over the whole leaf set."""

    def subtree(paths: list[bytes], depth: int) -> bytes:
        if not paths:
            return EMPTY
        if len(paths) == 1:
            return leaf_digest(paths[0], leaves[paths[0]])
        nibble = lambda p: (int.from_bytes(p, "big") >> (252 - 4 * depth)) & 15  # noqa: E731
        children = [[p for p in paths if nibble(p) == n] for n in range(16)]
        return branch_digest(subtree(child, depth + 1) for child in children)

    return subtree(sorted(leaves), 0)


def path(i: int) -> bytes:
    return hash_bytes(i.to_bytes(8, "big"))


operations = st.lists(
    st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 3))), max_size=12),
    max_size=8,
)


@settings(max_examples=150)
@given(operations)
def test_batched_updates_match_the_definition_after_every_batch(batches):
    tree = SparseMerkleTree()
    leaves: dict[bytes, bytes] = {}
    for batch in batches:
        changes = []
        for i, value in batch:
            value_hash = None if value is None else hash_bytes(bytes([value]))
            changes.append((path(i), value_hash))
            if value_hash is None:
                leaves.pop(path(i), None)
            else:
                leaves[path(i)] = value_hash
        tree.update(changes)
        assert tree.root() == reference_root(leaves)


def test_root_depends_on_the_set_not_the_history():
    items = {path(i): hash_bytes(bytes([i % 7])) for i in range(300)}
    one = SparseMerkleTree()
    one.update(items.items())
    other = SparseMerkleTree()
    order = list(items.items())
    random.Random(3).shuffle(order)
    for start in range(0, len(order), 17):
        other.update(order[start : start + 17])
    extra = [(path(i), hash_bytes(b"x")) for i in range(300, 340)]
    other.update(extra)
    other.update((p, None) for p, _ in extra)
    assert one.root() == other.root()


def test_inclusion_and_exclusion_proofs_verify_and_tampering_fails():
    tree = SparseMerkleTree()
    items = {path(i): hash_bytes(bytes([i % 5])) for i in range(400)}
    tree.update(items.items())
    root = tree.root()
    for p, value_hash in items.items():
        proof = tree.prove(p)
        assert verify(root, p, value_hash, proof)
        assert not verify(root, p, hash_bytes(b"other"), proof)
        assert not verify(root, p, None, proof)
    for i in range(400, 500):
        proof = tree.prove(path(i))
        assert verify(root, path(i), None, proof)
        assert not verify(root, path(i), hash_bytes(b"x"), proof)
    p = path(5)
    good = tree.prove(p)
    forged = Proof(
        (hash_bytes(b"forged"), *good.siblings[1:]), good.leaf_path, good.leaf_value_hash
    )
    assert not verify(root, p, items[p], forged)


def test_empty_tree_and_single_leaf():
    tree = SparseMerkleTree()
    assert tree.root() == EMPTY
    tree.update([(path(1), hash_bytes(b"v"))])
    assert tree.root() == leaf_digest(path(1), hash_bytes(b"v"))
    tree.update([(path(1), None)])
    assert tree.root() == EMPTY


def test_state_proves_an_accounts_balance_against_its_root():
    state = State({("acct", "alice", "collateral"): 5, ("acct", "bob", "collateral"): 7})
    root = state.root()
    proof = state.prove(("acct", "alice", "collateral"))
    assert verify_value(root, ("acct", "alice", "collateral"), 5, proof)
    assert not verify_value(root, ("acct", "alice", "collateral"), 6, proof)
    absent = state.prove(("acct", "carol", "collateral"))
    assert verify_value(root, ("acct", "carol", "collateral"), None, absent)


def test_writing_zero_or_none_deletes_so_equal_states_have_equal_roots():
    a = State({("x", "1"): 1, ("x", "2"): 2})
    b = State({("x", "1"): 1})
    b.apply({("x", "3"): 9})
    b.apply({("x", "2"): 2, ("x", "3"): 0})
    assert ("x", "3") not in b
    assert a.root() == b.root()
    b.apply({("x", "2"): None})
    assert b.root() != a.root()
    assert b.root() == State({("x", "1"): 1}).root()

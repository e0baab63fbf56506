"""``commit_writes``: a write set committed as tree rows equals ``State.apply``."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.state import State
from paraclear.state.changes import commit_writes
from paraclear.state.compiled import CompiledTree
from paraclear.state.smt import SparseMerkleTree

KEYS = [("acct", f"a{i}", field) for i in range(6) for field in ("c", "n")]
VALUES = st.one_of(
    st.none(), st.integers(-3, 3), st.text(max_size=3), st.tuples(st.integers(-(2**63), 2**63 - 1))
)
WRITES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS))


@settings(max_examples=60, deadline=None)
@given(st.lists(WRITES, min_size=1, max_size=4))
def test_rows_of_each_write_set_reach_the_states_root_in_both_trees(write_sets):
    state = State()
    data: dict = {}
    paths: dict = {}
    compiled, reference = CompiledTree(), SparseMerkleTree()
    for writes in write_sets:
        before = dict(data)
        changes = commit_writes(data, writes, paths)
        state.apply(writes)
        compiled.update_rows(changes.paths, changes.hashes, changes.deleted)
        changes.apply_to(reference, np.arange(len(changes.paths)))
        assert data == state.data
        assert compiled.root() == reference.root() == state.root()
        assert set(changes.added) == data.keys() - before.keys()
        assert set(changes.removed) == before.keys() - data.keys()
        assert paths == {key: state.path(key) for key in paths}


def test_writing_the_current_value_or_deleting_an_absent_key_changes_nothing():
    data: dict = {("acct", "a", "c"): 5}
    changes = commit_writes(data, {("acct", "a", "c"): 5, ("acct", "b", "c"): 0}, {})
    assert len(changes.paths) == 0 and not changes.added and not changes.removed
    assert data == {("acct", "a", "c"): 5}

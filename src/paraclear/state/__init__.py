"""Consensus state: typed keys, the ``State`` store with its Merkle commitment, and ``StateView``.

* ``keys``: every key is a tuple of strings; its first two parts are its *lock*, the unit in
  which transactions declare access, conflicts are found and state is partitioned.
* ``store``: ``State`` holds the current values and a sparse Merkle tree over them, updated
  in one batch per block, so the root's cost follows the keys a block changed.
* ``smt``: the sparse Merkle tree, with inclusion proofs a user can check on their own.
* ``view``: ``StateView`` reads through to a base, records reads, writes and deltas, and
  enforces a declared ``AccessSet``.

Values are immutable and hold no floats: ``int``, ``str``, tuples of those, or frozen msgspec
structs of those. ``None`` and ``0`` mean *absent*: writing either deletes the key, so equal
states hold equal key sets and have equal roots whatever their history.
"""

from paraclear.state.errors import AccessViolation, TxFailure
from paraclear.state.keys import Key, Lock, lock_of
from paraclear.state.store import State
from paraclear.state.view import AccessSet, StateView

__all__ = [
    "AccessSet",
    "AccessViolation",
    "Key",
    "Lock",
    "State",
    "StateView",
    "TxFailure",
    "lock_of",
]

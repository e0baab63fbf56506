"""Records with inclusion proofs against the state root: which keys an account or the
house's totals consist of, and how one record is served (see ``paraclear.api.proofs``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import msgspec

from paraclear.api import views
from paraclear.chain.storage import BlockStore
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.codec import encode
from paraclear.state.keys import Key
from paraclear.state.smt import Proof


class ProvingNode(Protocol):
    """What proofs need of ``paraclear.chain.core.Node``."""

    state: State
    height: int
    store: BlockStore
    state_lock: threading.Lock


def account_keys(state: State, account: str, orders: bool = True) -> list[Key]:
    """Every key an account can hold: the fixed ones, then its positions and (``orders``)
    its open orders."""
    fixed = [
        k.collateral(account),
        k.nonce(account),
        k.reserved(account),
        k.portfolio(account),
        k.open_orders(account),
        k.bankruptcy(account),
        k.pool_shares(account),
    ]
    if account == k.POOL_ACCOUNT:
        fixed.append(k.POOL_TOTAL_SHARES)
    names = state.get(k.portfolio(account)) or ()
    nonces = (state.get(k.open_orders(account)) or ()) if orders else ()
    assert isinstance(names, tuple) and isinstance(nonces, tuple)
    positions = [k.position(account, str(name)) for name in names]
    order_keys = [k.order(account, int(nonce)) for nonce in nonces]
    return fixed + positions + order_keys


def total_keys(state: State) -> list[Key]:
    """The house's totals: net deposits, fees, insurance fund, open interest per instrument."""
    listed = [k.open_interest(name) for name in views.listed_names(state)]
    return [k.NET_DEPOSITS, k.FEE_POOL, k.INSURANCE_FUND, *listed]


def proof_json(proof: Proof) -> dict[str, Any]:
    return {
        "siblings": [[digest.hex() for digest in level] for level in proof.siblings],
        "leaf_path": None if proof.leaf_path is None else proof.leaf_path.hex(),
        "leaf_value_hash": None if proof.leaf_value_hash is None else proof.leaf_value_hash.hex(),
    }


class Captured(NamedTuple):
    """Records with their proofs as a state held them at ``height`` (under ``root``): the
    keys, their values and their proofs, kept as they are (the proofs as the compiled walk
    left them, ``State.prove_many``) and turned into ``Proof`` objects and JSON only when
    asked (``answer``)."""

    height: int
    root: bytes
    keys: list[Key]
    values: list[object]
    proofs: Sequence[Proof]

    def answer(self) -> dict[str, Any]:
        records = zip(self.keys, self.values, self.proofs, strict=True)
        return {
            "height": self.height,
            "state_root": self.root.hex(),
            "records": [record_json(*record) for record in records],
        }


def record_json(key: Key, value: object, proof: Proof) -> dict[str, Any]:
    """One key's value (canonical msgpack, hex, and readable) and its proof."""
    return {
        "key": list(key),
        "value": None if value is None else msgspec.to_builtins(value),
        "encoded": None if value is None else encode(value).hex(),
        "proof": proof_json(proof),
    }


def capture(state: State, height: int, keys: list[Key]) -> Captured:
    """``keys``' records at ``height`` (whose state ``state`` is; the caller holds the
    node's state lock)."""
    values = [state.get(key) for key in keys]
    return Captured(height, state.root(), keys, values, state.prove_many(keys))


def proven_records(state: State, height: int, keys: list[Key]) -> dict[str, Any]:
    """``capture``'s answer."""
    return capture(state, height, keys).answer()

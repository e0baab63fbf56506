"""Transparency: an account's records and the house's totals with inclusion proofs against a
state root, and block headers that publish those roots.

* ``public/get_proof`` (``account``, optional ``height``): every record under the account's
  lock ``("acct", account)``: collateral, nonce, reserved margin, portfolio, open-order list,
  bankruptcy, pool shares (present or not), each position in its portfolio and each open
  order in its list; each with its proof against the state root after ``height``.
* ``public/get_totals`` (optional ``height``): the house's totals, net deposits, fee pool,
  insurance fund and the open interest of every listed instrument, with their proofs.
* ``public/get_block_header`` (optional ``height``, default the latest): height, time, state
  root, previous block hash, block hash and transaction root (``tx_root``); ``time`` in
  seconds since the epoch, hashes and roots as hex.

The node keeps only its latest state, so proofs are of the latest height; asking for another
height is an ``invalid params`` error that says which height is available. A record is
``{"key": [...], "value": readable, "encoded": hex, "proof": {...}}``: ``encoded`` is the
value's canonical msgpack (what the state root hashes; ``null`` when the key is absent, and
the proof is then an exclusion proof), ``value`` a readable rendering of it. An account has
at most 200 open orders and a portfolio of listed instruments, so an answer is bounded (about
4 KB per record). ``paraclear.node.proof_check`` verifies answers without trusting the node.
"""

from __future__ import annotations

import threading
from hashlib import blake2b
from typing import Any, Final, Protocol

import msgspec

from paraclear.node import views
from paraclear.node.methods import Params
from paraclear.node.rpc import Context, Registry, RpcError
from paraclear.node.storage import BlockStore
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.codec import encode
from paraclear.state.keys import Key
from paraclear.state.smt import Proof

MAX_ACCOUNT_NAME: Final = 128
"""Longest account name ``get_proof`` accepts (characters)."""
_EMPTY: Final = bytes(32)


class ProvingNode(Protocol):
    """What these methods need of ``paraclear.node.core.Node``."""

    state: State
    height: int
    store: BlockStore
    state_lock: threading.Lock


class ProofParams(Params, frozen=True):
    account: str
    height: int | None = None
    orders: bool = True
    """False: leave out the open orders' own records (the order list and the margin they
    reserve are still proven): an account with 200 open orders and 2 positions answers 209
    records (1.4 MB as JSON) with them, 9 without."""


class HeightParams(Params, frozen=True):
    height: int | None = None


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
    listed = [k.open_interest(instrument.name) for instrument in views.listed_instruments(state)]
    return [k.NET_DEPOSITS, k.FEE_POOL, k.INSURANCE_FUND, *listed]


def proof_json(proof: Proof) -> dict[str, Any]:
    return {
        "siblings": [[digest.hex() for digest in level] for level in proof.siblings],
        "leaf_path": None if proof.leaf_path is None else proof.leaf_path.hex(),
        "leaf_value_hash": None if proof.leaf_value_hash is None else proof.leaf_value_hash.hex(),
    }


def record_json(state: State, key: Key) -> dict[str, Any]:
    """One key's value (canonical msgpack, hex, and readable) and its proof."""
    value = state.get(key)
    return {
        "key": list(key),
        "value": None if value is None else msgspec.to_builtins(value),
        "encoded": None if value is None else encode(value).hex(),
        "proof": proof_json(state.prove(key)),
    }


def tx_root(encoded_txs: list[bytes]) -> bytes:
    """The transaction root: a binary Merkle tree over the block's transactions in order.

    Leaf ``i`` is BLAKE2b-256(0x00 ‖ canonical msgpack of transaction ``i``); a parent is
    BLAKE2b-256(0x01 ‖ left ‖ right); a level's last node without a partner moves up as it
    is. An empty block's root is 32 zero bytes.
    """
    level = [_hash(b"\x00" + tx) for tx in encoded_txs]
    if not level:
        return _EMPTY
    while len(level) > 1:
        pairs = [_hash(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(pairs) * 2 :]
    return level[0]


def _hash(data: bytes) -> bytes:
    return blake2b(data, digest_size=32).digest()


class ProofMethods:
    """``get_proof``, ``get_totals`` and ``get_block_header`` of one node."""

    def __init__(self, node: ProvingNode) -> None:
        self.node = node

    def register(self, registry: Registry) -> None:
        registry.add("public/get_proof", ProofParams, self.get_proof)
        registry.add("public/get_totals", HeightParams, self.get_totals)
        registry.add("public/get_block_header", HeightParams, self.get_block_header)

    def get_proof(self, context: Context, params: ProofParams) -> dict[str, Any]:
        if not params.account or len(params.account) > MAX_ACCOUNT_NAME:
            raise RpcError.invalid_params("account", f"1 to {MAX_ACCOUNT_NAME} characters")
        answer = self._records(
            params.height, lambda state: account_keys(state, params.account, params.orders)
        )
        return {"account": params.account, "orders": params.orders, **answer}

    def get_totals(self, context: Context, params: HeightParams) -> dict[str, Any]:
        return self._records(params.height, total_keys)

    def _records(self, height: int | None, keys_of: Any) -> dict[str, Any]:
        node = self.node
        with node.state_lock:
            _check_latest(height, node.height)
            state = node.state
            records = [record_json(state, key) for key in keys_of(state)]
            return {
                "height": node.height,
                "state_root": state.root().hex(),
                "records": records,
            }

    def get_block_header(self, context: Context, params: HeightParams) -> dict[str, Any]:
        store, latest = self.node.store, self.node.height
        height = latest if params.height is None else params.height
        if not 1 <= height <= latest:
            raise RpcError.invalid_params("height", f"blocks run from 1 to {latest}")
        stored = store.block(height)
        return {
            "height": height,
            "time": stored.block.time,
            "state_root": stored.state_root.hex(),
            "previous_hash": store.hash_at(height - 1).hex(),
            "block_hash": stored.block_hash.hex(),
            "tx_root": tx_root([encode(tx) for tx in stored.block.txs]).hex(),
            "tx_count": stored.tx_count,
        }


def _check_latest(height: int | None, latest: int) -> None:
    if height is not None and height != latest:
        raise RpcError.invalid_params(
            "height",
            f"the node keeps only its latest state: proofs are of height {latest} only",
        )

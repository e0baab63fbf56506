"""Transparency: an account's records and the house's totals with inclusion proofs against a
state root (block headers, blocks and transaction proofs: ``paraclear.api.block_methods``).

* ``public/get_proof`` (``account``, optional ``height``): every record under the account's
  lock ``("acct", account)``: collateral, nonce, reserved margin, portfolio, open-order list,
  bankruptcy, pool shares (present or not), each position in its portfolio and each open
  order in its list; each with its proof against the state root after ``height``.
* ``public/get_totals`` (optional ``height``): the house's totals, net deposits, fee pool,
  insurance fund and the open interest of every listed instrument, with their proofs.

The node keeps one state tree, its latest: account proofs are of the latest height only.
The totals' proofs are captured as each block commits, so ``get_totals`` also answers for
the last ``totals.PROOF_BLOCKS`` heights this process committed (``paraclear.api.totals``).
Any other height is an ``invalid params`` error with ``data.error == "height_not_kept"``
and the oldest and latest heights available. A record is
``{"key": [...], "value": readable, "encoded": hex, "proof": {...}}``: ``encoded`` is the
value's canonical msgpack (what the state root hashes; ``null`` when the key is absent, and
the proof is then an exclusion proof), ``value`` a readable rendering of it. An account has
at most 200 open orders and a portfolio of listed instruments, so an answer is bounded (about
4 KB per record). ``paraclear.client.proof_check`` verifies answers without trusting the node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from paraclear.api.methods import Params
from paraclear.api.proof_records import (
    ProvingNode,
    account_keys,
    proven_records,
    total_keys,
)
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.api.totals import HouseTotals, height_not_kept
from paraclear.state import State
from paraclear.state.keys import Key

MAX_ACCOUNT_NAME: Final = 128
"""Longest account name ``get_proof`` accepts (characters)."""


class ProofParams(Params, frozen=True):
    account: str
    height: int | None = None
    orders: bool = True
    """False: leave out the open orders' own records (the order list and the margin they
    reserve are still proven): an account with 200 open orders and 2 positions answers 209
    records (1.4 MB as JSON) with them, 9 without."""


class HeightParams(Params, frozen=True):
    height: int | None = None


class ProofMethods:
    """``get_proof`` and ``get_totals`` of one node (past totals from ``totals``)."""

    def __init__(self, node: ProvingNode, totals: HouseTotals | None = None) -> None:
        self.node = node
        self.totals = totals

    def register(self, registry: Registry) -> None:
        registry.add("public/get_proof", ProofParams, self.get_proof)
        registry.add("public/get_totals", HeightParams, self.get_totals)

    def get_proof(self, context: Context, params: ProofParams) -> dict[str, Any]:
        if not params.account or len(params.account) > MAX_ACCOUNT_NAME:
            raise RpcError.invalid_params("account", f"1 to {MAX_ACCOUNT_NAME} characters")
        answer = self._latest(
            "account proofs",
            params.height,
            lambda state: account_keys(state, params.account, params.orders),
        )
        return {"account": params.account, "orders": params.orders, **answer}

    def get_totals(self, context: Context, params: HeightParams) -> dict[str, Any]:
        height = params.height
        if height is not None and height != self.node.height and self.totals is not None:
            return self.totals.proven_at(height)
        return self._latest("proofs of the totals", height, total_keys)

    def _latest(
        self, what: str, height: int | None, keys_of: Callable[[State], list[Key]]
    ) -> dict[str, Any]:
        node = self.node
        with node.state_lock:
            if height is not None and height != node.height:
                raise height_not_kept(what, height, node.height, node.height)
            return proven_records(node.state, node.height, keys_of(node.state))

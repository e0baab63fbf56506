"""The house's totals, per block: published on the ``totals`` channel, kept as a history, and
proven at recent heights.

After every block, on the producer thread (before the next block changes the state), the
node's API records the block's totals:

    {"height", "time", "state_root", "block_hash",
     "totals": {"net_deposits", "fee_pool", "insurance_fund", "user_cash", "collateral",
                "open_interest": {instrument: size}}}

Amounts in micro-USDC, sizes in raw size units (``paraclear.state.keys``). ``net_deposits``
(deposits minus withdrawals), ``fee_pool``, ``insurance_fund`` and ``open_interest`` are
state keys, proven by ``public/get_totals``. ``user_cash`` = net deposits − fee pool −
insurance fund: what the house holds for its users, which by conservation of cash equals
Σ collateral + Σ perpetual cash (``clearing.invariants``), so it is checkable from proven
values. ``collateral`` = Σ every account's collateral, kept from the blocks' write sets; it
is not a key of the state, so it is checked by summing accounts' proofs.

* ``totals`` channel: each block's record.
* ``public/get_totals_history`` (``count``, default 100, at most ``HISTORY``): the latest
  records, oldest first. They are kept in ``TOTALS_FILE`` in the data directory and read
  back on restart (like ``block_stats``), so a restart keeps them.
* ``public/get_totals`` (``paraclear.api.proofs``) proves the totals at the latest height
  and, from the answers captured here, at any of the last ``PROOF_BLOCKS`` heights this
  process committed: each block's values and proofs are captured as they are (the tree
  itself is not copied) and turned into JSON only when such a height is asked for. An older height
  is refused with ``height_not_kept``, naming the oldest height available.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Final

from paraclear.api.jsonl_history import JsonlHistory, Record
from paraclear.api.methods import Params
from paraclear.api.proof_records import Captured, ProvingNode, capture, total_keys
from paraclear.api.rpc import INVALID_PARAMS, Context, Registry, RpcError
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.keys import CounterKey, Field, Key, account_field_of, parse_key

TOTALS_FILE: Final = "totals.jsonl"
HISTORY: Final = 500
"""Blocks of totals kept for ``public/get_totals_history``."""
PROOF_BLOCKS: Final = 64
"""Latest heights whose totals stay provable."""


class CountParams(Params, frozen=True):
    count: int = 100


def height_not_kept(what: str, height: int, oldest: int, latest: int) -> RpcError:
    """The error for a height whose ``what`` is no longer (or never was) kept."""
    reason = f"{what} are kept for heights {oldest} to {latest} only (asked {height})"
    return RpcError(
        INVALID_PARAMS,
        f"invalid params: height: {reason}",
        {
            "param": "height",
            "reason": reason,
            "error": "height_not_kept",
            "oldest": oldest,
            "latest": latest,
        },
    )


def _counted(key: Key) -> str:
    """The instrument of a per-instrument counter's key."""
    parsed = parse_key(key)
    assert isinstance(parsed, CounterKey)
    return parsed.instrument


def _amount(state: State, key: Key) -> int:
    value = state.get(key, 0)
    return value if isinstance(value, int) else 0


class HouseTotals:
    """Each block's totals (see the module docstring), recorded by ``on_block``."""

    def __init__(self, node: ProvingNode, path: Path | None = None) -> None:
        self.node = node
        self.history = JsonlHistory(HISTORY, path, node.height)
        self.proven: deque[Captured] = deque(maxlen=PROOF_BLOCKS)
        """The proven totals of the latest heights, oldest first (``get_totals`` answers
        once turned into JSON, which only a request does)."""
        self._collateral: dict[str, int] = {}
        with node.state_lock:
            for key, value in node.state.data.items():
                account = account_field_of(key, Field.COLLATERAL)
                if account is not None and isinstance(value, int):
                    self._collateral[account] = value
            self._total_collateral = sum(self._collateral.values())
            if node.height and self.history.last_height != node.height:
                time = node.store.block(node.height).block.time
                self._record(node.height, time)  # the log went on without this file
            elif node.height:
                self.proven.append(self._prove())

    def on_block(self, height: int, time: int, writes: dict[Key, object]) -> Record:
        """Record a block just committed (on the producer thread: its state is current)."""
        for key, value in writes.items():
            account = account_field_of(key, Field.COLLATERAL)
            if account is not None:
                new = value if isinstance(value, int) else 0
                self._total_collateral += new - self._collateral.get(account, 0)
                self._collateral[account] = new
        with self.node.state_lock:
            return self._record(height, time)

    def _record(self, height: int, time: int) -> Record:
        state = self.node.state
        net, fees, fund = (
            _amount(state, key) for key in (k.NET_DEPOSITS, k.FEE_POOL, k.INSURANCE_FUND)
        )
        interest = {_counted(key): _amount(state, key) for key in total_keys(state)[3:]}
        record = {
            "height": height,
            "time": time,
            "state_root": state.root().hex(),
            "block_hash": self.node.store.hash_at(height).hex(),
            "totals": {
                "net_deposits": net,
                "fee_pool": fees,
                "insurance_fund": fund,
                "user_cash": net - fees - fund,
                "collateral": self._total_collateral,
                "open_interest": interest,
            },
        }
        self.history.append(record)
        self.proven.append(self._prove())
        return record

    def _prove(self) -> Captured:
        return capture(self.node.state, self.node.height, total_keys(self.node.state))

    def proven_at(self, height: int) -> dict[str, Any]:
        """The ``get_totals`` answer of a recent ``height``; raises ``height_not_kept``."""
        kept = list(self.proven)  # list(): atomic while blocks commit
        for captured in kept[::-1]:
            if captured.height == height:
                return captured.answer()
        oldest = self.proven[0].height if self.proven else self.node.height
        raise height_not_kept("proofs of the totals", height, oldest, self.node.height)

    def register(self, registry: Registry) -> None:
        registry.add("public/get_totals_history", CountParams, self.get_totals_history)

    def get_totals_history(self, context: Context, params: CountParams) -> list[Record]:
        """The latest ``count`` blocks' totals, oldest first."""
        if not 1 <= params.count <= HISTORY:
            raise RpcError.invalid_params("count", f"must be between 1 and {HISTORY}")
        return self.history.recent(params.count)

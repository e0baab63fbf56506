"""The builder's dry run: a block's transactions run over the committed state, with the
machine's own code, before the block exists.

``DryRun`` is a ``BlockRun`` that keeps the transactions that belong in the block (a
failed fill settlement is dropped, as it takes no nonce) and answers the reads the builder
makes between the block's parts (an order's open size, a position, a listed instrument)
through ``BlockRun.get``, which sees what the batch runner holds. ``order_segments`` cuts
the block's first part into the batches it runs; ``run_closes`` runs the third part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from paraclear.clearing.instruments import Instrument, Option, Perpetual
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import OpenOrder, Position
from paraclear.clearing.transactions import (
    AmendOrder,
    CancelOrder,
    CloseOrder,
    PlaceOrder,
    SettleFill,
    Transaction,
)
from paraclear.execution import BlockContext, BlockRun, Receipt
from paraclear.state import AccessSet, Key, StateView
from paraclear.state import keys as k


class DryRun(BlockRun[Transaction]):
    """The block's transactions run over the committed state (``BlockRun``), keeping the
    ones that belong in the block, with the reads the builder needs between them."""

    def __init__(self, data: Mapping[Key, object], machine: ClearingMachine, ctx: BlockContext):
        super().__init__(data, machine, ctx)
        self.recorded: list[AccessSet | None] = []
        """The declared access set of each transaction of ``txs`` that ran one by one."""
        self.batched = machine.batch_runner is not None

    @property
    def accesses(self) -> list[AccessSet | None]:
        """The declared access set of each transaction of ``txs``; empty when some ran in
        a batch, which declares none (the block's statistics derive them then)."""
        return [] if self.batched else self.recorded

    def include(
        self, tx: Transaction, receipt: Receipt, view: StateView, access: AccessSet | None
    ) -> None:
        super().include(tx, receipt, view, access)
        self.recorded.append(access)

    def settle_all(self, settles: list[SettleFill]) -> list[tuple[SettleFill, Receipt]]:
        """Run the fills' settlements in order, keeping those that succeed (as ``try_run``
        each would: a failed settlement writes nothing, since it takes no nonce); returns
        the failed ones with their receipts (indexed where they would have gone)."""
        start = len(self.txs)
        receipts = self.run_all(settles, needed=())
        if all(receipt.ok for receipt in receipts):
            return []
        self._take_held()  # the runner follows the run no more once its receipts change
        failed: list[tuple[SettleFill, Receipt]] = []
        del self.txs[start:], self.receipts[start:]
        if not self.batched:
            del self.recorded[start:]
        for settle, receipt in zip(settles, receipts, strict=True):
            index = len(self.txs)
            if not receipt.ok:
                failed.append((settle, msgspec.structs.replace(receipt, index=index)))
                continue
            self.txs.append(settle)
            self.receipts.append(msgspec.structs.replace(receipt, index=index))
            if not self.batched:
                self.recorded.append(self.machine.access(settle))
        return failed

    def order(self, account: str, nonce: int) -> OpenOrder | None:
        order = self.get(k.order(account, nonce))
        return order if isinstance(order, OpenOrder) else None

    def position(self, account: str, instrument: str) -> int:
        position = self.get(k.position(account, instrument))
        return position.size if isinstance(position, Position) else 0

    def instrument(self, name: str) -> Instrument | None:
        inst = self.get(k.instrument(name))
        return inst if isinstance(inst, Option | Perpetual) else None


def run_closes(run: DryRun, closes: list[CloseOrder]) -> None:
    """Run the block's closes, in order, as one batch; each must succeed.

    Raises ``RuntimeError`` if one fails (the reconciliation is wrong)."""
    for close, receipt in zip(closes, run.run_all(closes), strict=True):
        if not receipt.ok:  # pragma: no cover - the reconciliation is wrong
            raise RuntimeError(f"close of {close.account}/{close.order} failed: {receipt.error}")


_ORDER_OPS: Final = (PlaceOrder, CancelOrder, AmendOrder)


def order_segments(txs: Sequence[Transaction]) -> list[list[Transaction]]:
    """``txs`` in order, cut into runs of order operations (run as one batch: none of them
    moves a position or touches another's order, since each order meets the book at most
    once a block, so what the builder reads after the run is what it would read after each)
    and single other transactions."""
    segments: list[list[Transaction]] = []
    for tx in txs:
        if isinstance(tx, _ORDER_OPS) and segments and isinstance(segments[-1][-1], _ORDER_OPS):
            segments[-1].append(tx)
        else:
            segments.append([tx])
    return segments

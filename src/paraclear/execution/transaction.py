"""Running one transaction: the single code path shared by every executor."""

from __future__ import annotations

from typing import TypeVar

from paraclear.execution.machine import BlockContext, StateMachine
from paraclear.execution.result import ErrorInfo, Receipt
from paraclear.state import StateView, TxFailure

TxT = TypeVar("TxT")


def run_transaction(
    machine: StateMachine[TxT], tx: TxT, view: StateView, ctx: BlockContext, index: int
) -> Receipt:
    """Run ``tx`` in ``view``: begin (nonce, fee), then the body; build its receipt.

    A failure in ``begin`` leaves the view with no writes; a failure in the body rolls back
    to what ``begin`` wrote. Exceptions other than ``TxFailure`` are bugs and propagate.
    """
    try:
        machine.begin(tx, view, ctx)
    except TxFailure as failure:
        view.rollback(({}, {}))
        return Receipt(index, False, ErrorInfo.of(failure))
    savepoint = view.savepoint()
    try:
        events = machine.apply(tx, view, ctx)
    except TxFailure as failure:
        view.rollback(savepoint)
        return Receipt(index, False, ErrorInfo.of(failure))
    return Receipt(index, True, None, tuple(events))

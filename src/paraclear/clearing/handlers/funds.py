"""Deposit, Withdraw, Transfer."""

from __future__ import annotations

from paraclear.clearing import errors
from paraclear.clearing.accounts import change_cash, margin_status
from paraclear.clearing.events import Deposited, Event, Transferred, Withdrawn
from paraclear.clearing.handlers.common import MARKET_READS, account_access
from paraclear.clearing.margin import MarginModel
from paraclear.clearing.transactions import Deposit, Transfer, Withdraw
from paraclear.execution import BlockContext
from paraclear.state import AccessSet, StateView
from paraclear.state import keys as k

_NET_DEPOSITS_LOCK = k.lock_of(k.NET_DEPOSITS)


def access_deposit(tx: Deposit) -> AccessSet:
    return account_access((tx.sender,), deltas=(_NET_DEPOSITS_LOCK,))


def apply_deposit(
    tx: Deposit, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    _credit(view, tx.sender, tx.amount)
    view.add(k.NET_DEPOSITS, tx.amount)
    return [Deposited(account=tx.sender, amount=tx.amount)]


def access_withdraw(tx: Withdraw) -> AccessSet:
    return account_access((tx.sender,), reads=MARKET_READS, deltas=(_NET_DEPOSITS_LOCK,))


def apply_withdraw(
    tx: Withdraw, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    debit_free_collateral(view, tx.sender, tx.amount, model)
    view.add(k.NET_DEPOSITS, -tx.amount)
    return [Withdrawn(account=tx.sender, amount=tx.amount)]


def access_transfer(tx: Transfer) -> AccessSet:
    return account_access((tx.sender, tx.to), reads=MARKET_READS)


def apply_transfer(
    tx: Transfer, view: StateView, ctx: BlockContext, model: MarginModel
) -> list[Event]:
    if tx.to == tx.sender:
        raise errors.Malformed(field="to", reason="transfer to oneself")
    debit_free_collateral(view, tx.sender, tx.amount, model)
    _credit(view, tx.to, tx.amount)
    return [Transferred(sender=tx.sender, to=tx.to, amount=tx.amount)]


def _credit(view: StateView, account: str, amount: int) -> None:
    """Add ``amount`` to collateral; a balance paid back to zero or more ends a bankruptcy."""
    balance = change_cash(view, account, amount)
    if balance >= 0 and view.get(k.bankruptcy(account)) is not None:
        view.set(k.bankruptcy(account), None)


def debit_free_collateral(view: StateView, account: str, amount: int, model: MarginModel) -> None:
    """Take ``amount`` of cash that no margin requirement needs. Raises a ClearingFailure."""
    bankruptcy = view.get(k.bankruptcy(account))
    if bankruptcy is not None:
        raise errors.AccountBankrupt(account=account, deficit=-view.get_int(k.collateral(account)))
    status = margin_status(view, account, model)
    reserved = view.get_int(k.reserved(account))
    free = min(status.collateral, status.equity - status.initial - reserved)
    if amount > free:
        raise errors.InsufficientCollateral(
            account=account, required=amount, available=max(free, 0)
        )
    change_cash(view, account, -amount)

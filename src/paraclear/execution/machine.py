"""What the engine needs of a transaction universe, and the block it runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import msgspec

from paraclear.state import AccessSet, StateView

TxT = TypeVar("TxT")
TxContra = TypeVar("TxContra", contravariant=True)


class BlockContext(msgspec.Struct, frozen=True):
    """What a transaction may know of its block. Time is the block's, in Unix seconds."""

    height: int
    time: int


class Block(msgspec.Struct, Generic[TxT], frozen=True):
    """An ordered list of transactions with the block's height and time."""

    height: int
    time: int
    txs: tuple[TxT, ...]

    @property
    def context(self) -> BlockContext:
        return BlockContext(self.height, self.time)


class StateMachine(Protocol[TxContra]):
    """A transaction universe: declared access, a prologue that always sticks, and a body.

    ``access`` must depend on the transaction alone; ``None`` means the transaction declares
    nothing and runs optimistically. ``begin`` checks and consumes the nonce and fee; if it
    raises ``TxFailure`` the transaction changes nothing at all. ``apply`` runs the body and
    returns its events; if it raises ``TxFailure`` its changes are rolled back and only
    ``begin``'s remain. Both are deterministic functions of the view and the context.
    """

    def access(self, tx: TxContra) -> AccessSet | None: ...

    def begin(self, tx: TxContra, view: StateView, ctx: BlockContext) -> None: ...

    def apply(self, tx: TxContra, view: StateView, ctx: BlockContext) -> Sequence[object]: ...

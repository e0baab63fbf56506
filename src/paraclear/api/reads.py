"""Deribit's account, book and trade reads over the node core.

Private reads (``get_positions``, ``get_account_summary``, ``get_margins``,
``get_open_orders``) are the authenticated account's own. Public ones read the books' best
levels after the latest block and the recent fills the core keeps. All read the latest
committed state, which the core changes only between blocks.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Literal, Protocol

from paraclear.api import account_views, deribit_views, views
from paraclear.api.methods import Params
from paraclear.api.rpc import Context, Registry, RpcError
from paraclear.chain.tape import Tape
from paraclear.clearing.accounts import equity, margin_status, read_mark
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.clearing.machine import ClearingMachine
from paraclear.clearing.records import SVI_SCALE, MarkData, OpenOrder, Position, SviSlice
from paraclear.client.envelope import SignedTx
from paraclear.numbers import PPM, NumberError, parse_size
from paraclear.state import State, StateView
from paraclear.state import keys as k

Number = int | float | str
Level = tuple[int, int]


class ReadNode(Protocol):
    """What these methods need of ``paraclear.chain.core.Node`` (or of a front-end's
    follower copy of it, ``paraclear.api.follower``)."""

    chain_id: str
    state: State
    height: int
    block_time: int
    machine: ClearingMachine
    depth: dict[str, tuple[list[Level], list[Level]]]
    tape: Tape
    """Trades, candles and history derived from the committed blocks."""

    def next_nonce(self, account: str) -> int: ...


class NodeLike(ReadNode, Protocol):
    """A node that takes transactions as well."""

    def submit(self, signed: SignedTx) -> Future[Any]: ...


# --- parameters ----------------------------------------------------------------------------


class InstrumentParams(Params, frozen=True):
    instrument_name: str


class BookParams(Params, frozen=True):
    instrument_name: str
    depth: int = 10


class PositionsParams(Params, frozen=True):
    currency: str = "any"
    kind: Literal["option", "future"] | None = None


class SummaryParams(Params, frozen=True):
    currency: str = "USDC"
    extended: bool = False


class MarginsParams(Params, frozen=True):
    instrument_name: str
    amount: Number
    price: Number | None = None


class NonceParams(Params, frozen=True):
    account: str


class SurfaceParams(Params, frozen=True):
    currency: str


class NoParams(Params, frozen=True):
    pass


def raw_number(value: Number, param: str, parse: Any) -> int:
    try:
        raw: int = parse(repr(value) if isinstance(value, float) else value)
    except NumberError as error:
        raise RpcError.invalid_params(param, str(error)) from None
    return raw


class ReadMethods:
    """Account, book and trade reads of one node."""

    def __init__(self, node: ReadNode) -> None:
        self.node = node

    def register(self, registry: Registry) -> None:
        registry.add("private/get_positions", PositionsParams, self.get_positions)
        registry.add("private/get_account_summary", SummaryParams, self.get_account_summary)
        registry.add("private/get_margins", MarginsParams, self.get_margins)
        registry.add("private/get_open_orders", NoParams, self.get_open_orders)
        registry.add("public/get_next_nonce", NonceParams, self.get_next_nonce)
        registry.add("public/get_volatility_surface", SurfaceParams, self.get_volatility_surface)
        registry.add("public/get_order_book", BookParams, self.get_order_book)
        registry.add("public/ticker", InstrumentParams, self.ticker)

    # --- account reads -------------------------------------------------------------------

    def _view(self) -> StateView:
        return StateView(self.node.state.data)

    def get_positions(self, context: Context, params: PositionsParams) -> list[dict[str, Any]]:
        account = _account(context)
        state = self.node.state
        names = state.get(k.portfolio(account)) or ()
        result = []
        for name in names if isinstance(names, tuple) else ():
            position, mark = state.get(k.position(account, name)), state.get(k.mark(name))
            if not isinstance(position, Position) or not isinstance(mark, MarkData):
                continue
            kind = "option" if isinstance(mark.instrument, Option) else "future"
            if params.kind not in (None, kind):
                continue
            if params.currency.upper() not in ("ANY", mark.instrument.underlying):
                continue
            result.append(account_views.position_view(position, mark))
        return result

    def get_account_summary(self, context: Context, params: SummaryParams) -> dict[str, Any]:
        account = _account(context)
        view = self._view()
        status = margin_status(view, account, self.node.machine.margin_model)
        summary = account_views.account_summary_view(status, view.get_int(k.reserved(account)))
        summary["account"] = account
        summary["next_nonce"] = self.node.next_nonce(account)
        return summary

    def get_margins(self, context: Context, params: MarginsParams) -> dict[str, Any]:
        """Initial margin a buy or a sell of ``amount`` would add to the account's."""
        account = _account(context)
        size = raw_number(params.amount, "amount", parse_size)
        if size <= 0:
            raise RpcError.invalid_params("amount", "must be positive")
        view = self._view()
        mark = read_mark(view, params.instrument_name)
        holdings = self._holdings(view, account)
        model = self.node.machine.margin_model
        base = model.requirement(list(holdings.values())).initial
        result: dict[str, float | None] = {}
        for side, signed_size in (("buy", size), ("sell", -size)):
            changed = dict(holdings)
            old = changed.get(params.instrument_name, (Position(0), mark))[0]
            changed[params.instrument_name] = (
                Position(old.size + signed_size, old.quote, old.funding_index),
                mark,
            )
            held = [pair for pair in changed.values() if pair[0].size != 0]
            result[side] = views.amount(max(0, model.requirement(held).initial - base))
        collateral = view.get_int(k.collateral(account))
        result["equity"] = views.amount(equity(collateral, list(holdings.values())))
        result["min_price"] = None
        result["max_price"] = None
        return result

    def _holdings(self, view: StateView, account: str) -> dict[str, tuple[Position, MarkData]]:
        names = view.get(k.portfolio(account)) or ()
        held: dict[str, tuple[Position, MarkData]] = {}
        for name in names if isinstance(names, tuple) else ():
            position = view.get(k.position(account, name))
            if isinstance(position, Position):
                held[name] = (position, read_mark(view, name))
        return held

    def get_open_orders(self, context: Context, params: NoParams) -> list[dict[str, Any]]:
        account = _account(context)
        nonces = self.node.state.get(k.open_orders(account)) or ()
        orders = []
        for nonce in nonces if isinstance(nonces, tuple) else ():
            order = open_order(self.node.state, account, nonce)
            if order is not None:
                orders.append(account_views.order_view(account, nonce, order))
        return orders

    def get_next_nonce(self, context: Context, params: NonceParams) -> int:
        return self.node.next_nonce(params.account)

    def get_volatility_surface(self, context: Context, params: SurfaceParams) -> dict[str, Any]:
        """The oracle's latest index and smile of an underlying, and the SVI surface it
        keeps (``paraclear.clearing.records.SviSlice``, as floats: total variance and
        log-moneyness units, expiries in ms), from which makers may price."""
        underlying = params.currency.upper()
        oracle = views.oracle_of(self.node.state, underlying)
        if oracle is None:
            raise RpcError.invalid_params("currency", f"no index published for {underlying!r}")
        slices = self.node.state.get(k.surface(underlying)) or ()
        return {
            "currency": underlying,
            "index_price": views.price(oracle.index),
            "atm_vol": oracle.atm_vol_ppm / PPM,
            "skew": oracle.skew_ppm / PPM,
            "timestamp": views.ms(oracle.time),
            "slices": [
                {
                    "expiration_timestamp": views.ms(svi.expiry),
                    **{
                        name: getattr(svi, name) / SVI_SCALE
                        for name in ("a", "b", "rho", "m", "sigma")
                    },
                }
                for svi in (slices if isinstance(slices, tuple) else ())
                if isinstance(svi, SviSlice)
            ],
        }

    # --- books and trades ----------------------------------------------------------------

    def _listed(self, name: str) -> None:
        if not isinstance(self.node.state.get(k.instrument(name)), Option | Perpetual):
            raise RpcError.invalid_params("instrument_name", f"not a listed instrument: {name!r}")

    def _mark(self, name: str) -> MarkData | None:
        mark = self.node.state.get(k.mark(name))
        return mark if isinstance(mark, MarkData) else None

    def get_order_book(self, context: Context, params: BookParams) -> dict[str, Any]:
        self._listed(params.instrument_name)
        if not 1 <= params.depth <= 10_000:
            raise RpcError.invalid_params("depth", "must be between 1 and 10000")
        bids, asks = self.node.depth.get(params.instrument_name, ([], []))
        book = views.book_view(
            params.instrument_name,
            bids,
            asks,
            depth=params.depth,
            height=self.node.height,
            time=self.node.block_time,
            mark=self._mark(params.instrument_name),
        )
        return {**deribit_views.ticker(self.node, params.instrument_name), **book}

    def ticker(self, context: Context, params: InstrumentParams) -> dict[str, Any]:
        self._listed(params.instrument_name)
        return deribit_views.ticker(self.node, params.instrument_name)


def open_order(state: State, account: str, nonce: int) -> OpenOrder | None:
    """The account's open order ``nonce``, if it is still open."""
    value = state.get(k.order(account, nonce))
    return value if isinstance(value, OpenOrder) else None


def _account(context: Context) -> str:
    assert context.account is not None  # private methods run only for an account
    return context.account

"""``Tables``: the columnar mirror of the hot state, and the two ways across between it and
the key-value state.

* ``route(key, value)`` sets the rows a committed (or pending) key stands for: used to load
  the tables from a state (``load``) and to bring them up to date after a transaction the
  reference handlers ran.
* ``flush(pending, data)`` writes every key the kernels changed since the last flush into a
  block's pending writes, with the values the reference handlers would have written
  (``kernels.flush``).

Keys the kernels never read (pool shares, statistics, surfaces, counters they only add to)
are not mirrored. An account's portfolio is rebuilt from its position rows on flush; its
list of open orders is kept beside the rows (``open_orders``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np

from paraclear.clearing.instruments import Instrument, Option
from paraclear.clearing.kernels.block_rows import BlockRows
from paraclear.clearing.kernels.flush import AccountKeys, HeldRows, flush_tables
from paraclear.clearing.kernels.hashed import RowHasher
from paraclear.clearing.kernels.layout import (
    A_BANK,
    A_COLL,
    A_FIELDS,
    A_MEMO,
    A_NONCE,
    A_NORD,
    A_NPOS,
    A_RESV,
    A_WIDE,
    H_EPOCH,
    H_FIELDS,
    H_INITIAL_DEN,
    H_INITIAL_NUM,
    H_MAKER,
    H_OK,
    H_OPTION_CAP,
    H_OPTION_FEE,
    H_ORACLE,
    H_PORTFOLIO,
    H_SCENARIOS,
    H_SHORT_BASE,
    H_SHORT_FLOOR,
    H_SHORT_MAINT,
    H_TAKER,
    I_CALL,
    I_CSIZE,
    I_EXPIRY,
    I_FIDX,
    I_FIELDS,
    I_IM,
    I_INDEX,
    I_LOT,
    I_MARK,
    I_MM,
    I_OK,
    I_OPTION,
    I_PNL_OK,
    I_STRIKE,
    I_TICK,
    O_ACCT,
    O_BUY,
    O_FIELDS,
    O_FILLED,
    O_GTB,
    O_INST,
    O_KIND,
    O_LIVE,
    O_NONCE,
    O_PRICE,
    O_REDUCE,
    O_REM,
    O_RESV,
    ORDER_KINDS,
    P_ACCT,
    P_FIDX,
    P_FIELDS,
    P_INST,
    P_QUOTE,
    P_SIZE,
    Int64Array,
    grown,
    widened,
)
from paraclear.clearing.margin import MarginModel, PortfolioMargin, StandardMargin
from paraclear.clearing.records import HouseConfig, MarkData, OpenOrder, Position
from paraclear.risk.scenarios import DEFAULT_GRID
from paraclear.state import Key
from paraclear.state import keys as k
from paraclear.state.keys import (
    AccountField,
    Field,
    MarketKey,
    OrderKey,
    PositionKey,
    parse_key,
)

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
_KIND_CODES: Final = {kind: code for code, kind in enumerate(ORDER_KINDS)}
_NUMBER_COLUMNS: Final = {Field.COLLATERAL: A_COLL, Field.NONCE: A_NONCE, Field.RESERVED: A_RESV}
"""The account fields held as a number in a column of their own."""
_NO_KEY: Final[Key] = ()
"""``Tables.order_keys`` of a row whose key is not made yet."""


def fits(*values: int) -> bool:
    """Whether every value fits a signed 64-bit column (by ``min`` and ``max``: a generator
    over them cost ~1.5 µs a call, most of routing an order into the tables)."""
    return not values or (min(values) >= INT64_MIN and max(values) <= INT64_MAX)


class Tables:
    """The arrays and the names their rows stand for. See ``layout`` for the columns."""

    def __init__(self, model: MarginModel) -> None:
        self.accounts: Int64Array = np.zeros((0, A_FIELDS), dtype=np.int64)
        self.account_positions: Int64Array = np.zeros((0, 8), dtype=np.int64)
        """Position rows of each account's live positions, ``[:A_NPOS]``, in no order."""
        self.positions: Int64Array = np.zeros((0, P_FIELDS), dtype=np.int64)
        self.orders: Int64Array = np.zeros((0, O_FIELDS), dtype=np.int64)
        cover = DEFAULT_GRID.cover_array()
        self.scenarios = len(cover)
        self.instruments: Int64Array = np.zeros((0, I_FIELDS + 2 * self.scenarios), dtype=np.int64)
        self.house: Int64Array = np.zeros(H_FIELDS + self.scenarios, dtype=np.int64)
        self.house[H_ORACLE] = -1
        self.house[H_EPOCH] = 1
        self.house[H_SCENARIOS] = self.scenarios
        self.house[H_FIELDS:] = cover
        self.model_ok = type(model) in (StandardMargin, PortfolioMargin)
        if isinstance(model, StandardMargin):
            self.house[H_SHORT_BASE] = model.short_option_base_ppm
            self.house[H_SHORT_FLOOR] = model.short_option_floor_ppm
            self.house[H_SHORT_MAINT] = model.short_option_maintenance_ppm
        if isinstance(model, PortfolioMargin):
            self.house[H_PORTFOLIO] = 1
            self.house[H_INITIAL_NUM] = model.policy.initial_numerator
            self.house[H_INITIAL_DEN] = model.policy.initial_denominator
            self.model_ok = model.policy.initial_denominator > 0 and fits(
                model.policy.initial_numerator
            )
        self.account_row: dict[str, int] = {}
        self.account_names: list[str] = []
        self.account_keys: list[Key] = []
        """The keys of each account row's fields (``AccountKeys``), made once and laid end
        to end: field ``f`` of row ``r`` at ``ACCOUNT_KEYS * r + f``. A flush names them
        without building tuples (each one new tuple for the cyclic collector to scan after
        the block), and a commit picks them with one index per key."""
        self.open_orders: list[list[int]] = []
        """Each account row's list of open orders: the nonces, sorted, as its key holds
        them (``route`` sets it from the key, ``flush`` keeps it for the kernels' orders)."""
        self.instrument_row: dict[str, int] = {}
        self.instrument_names: list[str] = []
        self._listings: dict[int, Instrument] = {}
        self._marks: dict[int, MarkData] = {}
        self.position_row: dict[tuple[int, int], int] = {}
        self.position_keys: list[Key] = []
        """The key of each position row, made once (as ``account_keys``)."""
        self.order_row: dict[tuple[int, int], int] = {}
        """``(account row, order nonce)`` → the order's row (the latest one given out)."""
        self.free_orders: list[int] = []
        self.listed: Int64Array = np.zeros(0, dtype=np.int64)
        """1 where an order row's nonce is in its account's list of open orders
        (``open_orders``): kept with the lists, so that a flush finds the orders it opens
        or closes without looking at the others' lists."""
        self.order_keys: list[Key] = []
        self.keyed: Int64Array = np.zeros(0, dtype=np.int64)
        """1 where ``order_keys[row]`` is the key of the row's order, made at its first
        flush (0 until then, and again when the row is given to another order)."""
        self.order_count = 0
        """Order rows given out so far (free ones included)."""
        self.touched_accounts: list[int] = []
        self.touched_positions: list[int] = []
        self.touched_orders: list[int] = []
        self.touched_instruments: list[int] = []
        self.held = HeldRows()
        """Touched rows a partial flush left for a later one (``kernels.flush``)."""
        self.block_rows = BlockRows()
        """The keys whose latest write in the current block was a flush (``hashed``)."""
        self.hasher = RowHasher()

    @property
    def usable(self) -> bool:
        """Whether the kernels can run at all: a margin model they know and a configuration."""
        return bool(self.house[H_OK])

    # --- rows by name ---------------------------------------------------------------------

    def account(self, name: str) -> int:
        """The row of account ``name``, a new zero row if it has none yet."""
        row = self.account_row.get(name)
        if row is None:
            row = self.account_row[name] = len(self.account_names)
            self.account_names.append(name)
            self.account_keys += AccountKeys.of(name)
            self.open_orders.append([])
            self.accounts = grown(self.accounts, row + 1)
            self.account_positions = grown(self.account_positions, row + 1)
        return row

    def instrument(self, name: str) -> int:
        """The row of instrument ``name``, a new row (not ``I_OK``) if it has none yet."""
        row = self.instrument_row.get(name)
        if row is None:
            row = self.instrument_row[name] = len(self.instrument_names)
            self.instrument_names.append(name)
            self.instruments = grown(self.instruments, row + 1)
        return row

    def position(self, account: int, instrument: int) -> int:
        """The row of a position (a new empty one if the account never held it)."""
        row = self.position_row.get((account, instrument))
        if row is None:
            row = self.position_row[(account, instrument)] = len(self.position_row)
            name = self.account_names[account]
            self.position_keys.append(k.position(name, self.instrument_names[instrument]))
            self.positions = grown(self.positions, row + 1)
            self.positions[row, P_ACCT] = account
            self.positions[row, P_INST] = instrument
        return row

    def new_order(self, account: int, nonce: int) -> int:
        """A free order row for order ``nonce`` of ``account``, cleared; it becomes the row
        the pair stands for (the kernel sets it live if the placement succeeds)."""
        row = self.claim_order(account, nonce)
        orders = self.orders  # ``clear_orders`` of one row, by scalars (~1 µs against ~3.5)
        orders[row] = 0
        orders[row, O_ACCT] = account
        orders[row, O_NONCE] = nonce
        self.listed[row] = self.keyed[row] = 0
        self.block_rows.new_order(row)
        return row

    def claim_order(self, account: int, nonce: int) -> int:
        """``new_order`` without clearing the row, for a batch whose claimed rows are
        cleared together (``clear_orders``) before the kernels run. Until then the row
        reads as not live: a free row always has ``O_LIVE`` and ``O_TOUCH`` at 0."""
        if self.free_orders:
            row = self.free_orders.pop()
        else:
            row = self.order_count
            self.order_count += 1
            self.orders = grown(self.orders, row + 1)
            self.listed, self.keyed = grown(self.listed, row + 1), grown(self.keyed, row + 1)
            self.order_keys.append(_NO_KEY)
        self.order_row[(account, nonce)] = row
        return row

    def clear_orders(self, rows: Int64Array, accounts: Int64Array, nonces: Int64Array) -> None:
        """Clear claimed order rows and give each its account row and order nonce."""
        self.orders[rows] = 0
        self.orders[rows, O_ACCT] = accounts
        self.orders[rows, O_NONCE] = nonces
        self.listed[rows] = self.keyed[rows] = 0
        self.block_rows.new_orders(rows)

    def free_order_rows(self, rows: list[int], accounts: list[int], nonces: list[int]) -> None:
        """Give back order ``rows`` (of orders ``nonces`` of ``accounts``): each pair stops
        naming its row unless a later claim gave the pair another."""
        order_row = self.order_row
        for row, pair in zip(rows, zip(accounts, nonces, strict=True), strict=True):
            if order_row.get(pair) == row:
                del order_row[pair]
        self.free_orders += rows

    def find_order(self, account: int, nonce: int) -> int:
        """The row of order ``nonce`` of ``account``, or -1."""
        return self.order_row.get((account, nonce), -1)

    def make_room(self, positions: int) -> None:
        """Let every account list at least ``positions`` positions."""
        self.account_positions = widened(self.account_positions, positions)

    # --- key-value state → rows -------------------------------------------------------------

    def load(self, data: Mapping[Key, object]) -> None:
        """Mirror every hot key of ``data`` (a fresh ``Tables``)."""
        for key, value in data.items():
            self.route(key, value)

    def route(self, key: Key, value: object) -> None:
        """Set the rows ``key`` stands for to ``value`` (None: absent)."""
        parsed = parse_key(key)  # tested by isinstance: a class pattern costs ~0.2 µs a key
        if isinstance(parsed, AccountField):
            account, field = parsed
            self._route_field(self.account(account), field, value)
        elif isinstance(parsed, PositionKey):
            account, name = parsed
            self._route_position(self.account(account), name, value)
        elif isinstance(parsed, OrderKey):
            account, nonce = parsed
            row = self.account(account)
            self.block_rows.forget_order(row, nonce, self.find_order(row, nonce))
            self._route_order(row, nonce, value)
        elif isinstance(parsed, MarketKey):
            table, name, detail = parsed
            if table == "instrument" and not detail:
                self._route_listing(name, value)  # type: ignore[arg-type]
            elif table == "mark" and not detail:
                self._route_mark(name, value)  # type: ignore[arg-type]
            elif table == "config":
                self._route_config(value)  # type: ignore[arg-type]
        else:  # a counter or a house total
            self.block_rows.counters.discard(key)

    def _route_field(self, row: int, field: Field, value: object) -> None:
        """Set account ``row``'s ``field`` to ``value``."""
        self.block_rows.forget_account(row, field)
        accounts = self.accounts
        column = _NUMBER_COLUMNS.get(field)
        if column is not None:
            number = 0 if value is None else value
            if isinstance(number, int) and fits(number):
                accounts[row, column] = number
            else:
                accounts[row, A_WIDE] = 1
        elif field == Field.BANKRUPTCY:
            accounts[row, A_BANK] = 0 if value is None else 1
        elif field == Field.OPEN_ORDERS:
            nonces = list(value) if isinstance(value, tuple | list) else []
            if not {int}.issuperset(map(type, nonces)) or not fits(*nonces):
                accounts[row, A_WIDE] = 1
            self._mark_listed(row, self.open_orders[row], 0)
            self.open_orders[row] = nonces
            self._mark_listed(row, nonces, 1)

    def _mark_listed(self, account: int, nonces: list[int], listed: int) -> None:
        """Set ``listed`` of the rows of ``account``'s orders ``nonces`` that have one."""
        for nonce in nonces:
            row = self.order_row.get((account, nonce))
            if row is not None:
                self.listed[row] = listed

    def _route_position(self, account: int, name: str, value: object) -> None:
        self.accounts[account, A_MEMO] = 0  # its memo of its positions' terms is stale
        row = self.position(account, self.instrument(name))
        self.block_rows.positions.discard(row)
        was_live = self.positions[row, P_SIZE] != 0
        if isinstance(value, Position) and not fits(value.size, value.quote, value.funding_index):
            self.accounts[account, A_WIDE] = 1
            return
        size, quote, index = (
            (value.size, value.quote, value.funding_index)
            if isinstance(value, Position)
            else (0, 0, 0)
        )
        self.positions[row, P_SIZE] = size
        self.positions[row, P_QUOTE] = quote
        self.positions[row, P_FIDX] = index
        if was_live != (size != 0):
            self._list_position(account, row, size != 0)

    def _list_position(self, account: int, row: int, live: bool) -> None:
        self.block_rows.forget_account(account, Field.PORTFOLIO)
        count = int(self.accounts[account, A_NPOS])
        listed = self.account_positions[account]
        if live:
            self.make_room(count + 1)
            self.account_positions[account, count] = row
            self.accounts[account, A_NPOS] = count + 1
        else:
            at = int(np.flatnonzero(listed[:count] == row)[0])
            listed[at] = listed[count - 1]
            self.accounts[account, A_NPOS] = count - 1

    def _route_order(self, account: int, nonce: int, value: object) -> None:
        row = self.find_order(account, nonce)
        was_live = row >= 0 and self.orders[row, O_LIVE] == 1
        if not isinstance(value, OpenOrder):
            if was_live:
                self.orders[row, O_LIVE] = 0
                self.accounts[account, A_NORD] -= 1
            return
        if not fits(value.price, value.remaining, value.filled, value.reserved, value.good_til):
            self.accounts[account, A_WIDE] = 1
            return
        if row < 0:
            row = self.new_order(account, nonce)
        self.listed[row] = nonce in self.open_orders[account]
        self.orders[row, O_LIVE] = 1
        self.orders[row, O_INST] = self.instrument(value.instrument)
        self.orders[row, O_BUY] = value.is_buy
        self.orders[row, O_KIND] = _KIND_CODES[value.kind]
        self.orders[row, O_PRICE] = value.price
        self.orders[row, O_REM] = value.remaining
        self.orders[row, O_FILLED] = value.filled
        self.orders[row, O_RESV] = value.reserved
        self.orders[row, O_REDUCE] = value.reduce_only
        self.orders[row, O_GTB] = value.good_til
        if not was_live:
            self.accounts[account, A_NORD] += 1

    def _route_listing(self, name: str, value: Instrument | None) -> None:
        row = self.instrument(name)
        if value is None:
            self._listings.pop(row, None)
        else:
            self._listings[row] = value
        self._set_instrument(row)

    def _route_mark(self, name: str, value: MarkData | None) -> None:
        row = self.instrument(name)
        if value is None:
            self._marks.pop(row, None)
        else:
            self._marks[row] = value
        self._set_instrument(row)

    def market(self, row: int) -> tuple[Instrument | None, MarkData | None]:
        """The listing and the mark last routed into instrument ``row`` (None: none)."""
        return self._listings.get(row), self._marks.get(row)

    def _set_instrument(self, row: int) -> None:
        listing, mark = self._listings.get(row), self._marks.get(row)
        self.house[H_EPOCH] += 1  # every account's memo of its positions' terms is stale
        columns = self.instruments[row]
        columns[I_OK] = 0
        if listing is None or mark is None or mark.instrument != listing:
            return
        option = isinstance(listing, Option)
        values = {
            I_OPTION: int(option),
            I_CALL: int(listing.is_call) if isinstance(listing, Option) else 0,
            I_EXPIRY: listing.expiry if isinstance(listing, Option) else 0,
            I_STRIKE: listing.strike if isinstance(listing, Option) else 0,
            I_CSIZE: listing.contract_size,
            I_TICK: listing.tick_size,
            I_LOT: listing.lot_size,
            I_IM: 0 if isinstance(listing, Option) else listing.initial_margin_ppm,
            I_MM: 0 if isinstance(listing, Option) else listing.maintenance_margin_ppm,
            I_MARK: mark.price,
            I_INDEX: mark.index,
            I_FIDX: mark.funding_index,
        }
        if not fits(*values.values()) or listing.tick_size <= 0 or listing.lot_size <= 0:
            return
        for column, number in values.items():
            columns[column] = number
        columns[I_OK] = 1
        scenarios = self.scenarios
        pnl = (*mark.long_pnl, *mark.short_pnl)
        columns[I_PNL_OK] = len(mark.long_pnl) == len(mark.short_pnl) == scenarios and fits(*pnl)
        if columns[I_PNL_OK]:
            columns[I_FIELDS : I_FIELDS + 2 * scenarios] = pnl

    def _route_config(self, value: HouseConfig | None) -> None:
        house = self.house
        house[H_OK] = 0
        if value is None or not self.model_ok:
            return
        rates = (
            value.maker_fee_ppm,
            value.taker_fee_ppm,
            value.option_fee_ppm,
            value.option_fee_cap_ppm,
        )
        if not fits(*rates):
            return
        house[H_MAKER], house[H_TAKER], house[H_OPTION_FEE], house[H_OPTION_CAP] = rates
        house[H_ORACLE] = self.account(value.oracle)
        house[H_OK] = 1

    # --- rows → key-value state ---------------------------------------------------------------

    def flush(
        self,
        pending: dict[Key, object],
        data: Mapping[Key, object],
        accounts: Sequence[int] | None = None,
    ) -> None:
        """Write every key the kernels changed since the last flush into ``pending``, as
        the reference handlers would have (``kernels.flush``); with ``accounts`` (rows),
        only the keys of those accounts."""
        flush_tables(self, pending, data, accounts)

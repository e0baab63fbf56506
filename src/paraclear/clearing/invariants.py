"""Invariants of clearing state, checked after every block in tests and simulations.

1. Cash is conserved: Σ collateral + Σ perpetual (quote − pending funding) + fee pool +
   insurance fund = net deposits (deposits − withdrawals). Perpetual fills move cash between
   the quotes of their two positions, and funding accrues to positions until settled, so
   both are part of the cash an account holds.
2. The positions of each instrument sum to zero.
3. No collateral is negative without a recorded bankruptcy.
4. Open interest of each instrument = Σ long positions.
5. Each account's portfolio index lists exactly the instruments it holds.
6. The options pool's total shares = Σ every LP's shares, none negative. (The pool's cash,
   positions and perpetual quotes are an account's, so 1-5 count them like everyone's.)
7. The insurance fund is never negative.
8. Each account's reserved margin = Σ the reservations of its open orders (none negative),
   its index of open orders lists exactly them, every open order has a positive remaining
   size, and each instrument's open-order count = its open orders.
"""

from __future__ import annotations

from collections import defaultdict

from paraclear.clearing.accounts import pending_funding
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.records import MarkData, OpenOrder, Position
from paraclear.numbers import format_amount
from paraclear.state import State
from paraclear.state import keys as k
from paraclear.state.keys import (
    AccountField,
    Counter,
    CounterKey,
    Field,
    OrderKey,
    PositionKey,
    parse_key,
)


def check_invariants(state: State) -> list[str]:
    """Every invariant violation in ``state``, as sentences; empty when all hold."""
    data = state.data
    cash = 0
    net_size: dict[str, int] = defaultdict(int)
    long_size: dict[str, int] = defaultdict(int)
    held: dict[str, set[str]] = defaultdict(set)
    lp_shares = 0
    reserved: dict[str, int] = defaultdict(int)
    orders: dict[str, list[int]] = defaultdict(list)
    order_counts: dict[str, int] = defaultdict(int)
    violations: list[str] = []
    listing: set[str] = set()  # accounts with a reservation or a list of open orders
    portfolios: set[str] = set()
    interest: set[str] = set()
    counted: set[str] = set()
    for key, value in data.items():
        match parse_key(key):
            case AccountField(account, Field.COLLATERAL):
                assert isinstance(value, int)
                cash += value
                if value < 0 and k.bankruptcy(account) not in data:
                    violations.append(
                        f"{account} has negative collateral {value} and no bankruptcy"
                    )
            case AccountField(account, Field.POOL_SHARES):
                assert isinstance(value, int)
                lp_shares += value
                if value < 0:
                    violations.append(f"{account} holds {value} pool shares")
            case AccountField(account, Field.PORTFOLIO):
                portfolios.add(account)
            case AccountField(account, Field.RESERVED | Field.OPEN_ORDERS):
                listing.add(account)
            case PositionKey(account, name):
                assert isinstance(value, Position)
                net_size[name] += value.size
                long_size[name] += max(value.size, 0)
                held[account].add(name)
                cash += _perpetual_cash(data, name, value)
            case OrderKey(account, nonce):
                assert isinstance(value, OpenOrder)
                reserved[account] += value.reserved
                orders[account].append(nonce)
                order_counts[value.instrument] += 1
                if value.remaining <= 0 or value.reserved < 0:
                    violations.append(f"order {account}/{nonce} has remaining {value.remaining}")
            case CounterKey(Counter.OPEN_INTEREST, name):
                interest.add(name)
            case CounterKey(Counter.ORDER_COUNT, name):
                counted.add(name)
    fund = _int(data, k.INSURANCE_FUND)
    if fund < 0:
        violations.append(f"insurance fund is negative: {format_amount(fund)} USDC")
    cash += _int(data, k.FEE_POOL) + fund
    deposits = _int(data, k.NET_DEPOSITS)
    if cash != deposits:
        violations.append(
            f"cash {format_amount(cash)} != net deposits {format_amount(deposits)} USDC"
        )
    violations += [f"positions of {n} sum to {s}" for n, s in sorted(net_size.items()) if s]
    for name in sorted(set(long_size) | interest):
        oi = _int(data, k.open_interest(name))
        if oi != long_size.get(name, 0):
            violations.append(f"open interest of {name} is {oi}, longs hold {long_size[name]}")
    for account in sorted(set(held) | portfolios):
        listed = set(data.get(k.portfolio(account)) or ())  # type: ignore[call-overload]
        if listed != held.get(account, set()):
            violations.append(f"portfolio index of {account} is out of step with its positions")
    total_shares = _int(data, k.POOL_TOTAL_SHARES)
    if lp_shares != total_shares:
        violations.append(f"pool has {total_shares} shares, LPs hold {lp_shares}")
    violations += _order_violations(data, reserved, orders, order_counts, listing, counted)
    return violations


def _order_violations(
    data: dict[tuple[str, ...], object],
    reserved: dict[str, int],
    orders: dict[str, list[int]],
    order_counts: dict[str, int],
    listing: set[str],
    counted: set[str],
) -> list[str]:
    violations: list[str] = []
    for account in sorted(listing | set(orders)):
        if _int(data, k.reserved(account)) != reserved.get(account, 0):
            violations.append(f"{account} reserves {_int(data, k.reserved(account))} for orders "
                              f"holding {reserved.get(account, 0)}")  # fmt: skip
        listed = data.get(k.open_orders(account)) or ()
        if listed != tuple(sorted(orders.get(account, []))):
            violations.append(f"open-order index of {account} is out of step with its orders")
    for name in sorted(counted | set(order_counts)):
        if _int(data, k.order_count(name)) != order_counts.get(name, 0):
            violations.append(f"{name} counts {_int(data, k.order_count(name))} open orders, "
                              f"{order_counts.get(name, 0)} are open")  # fmt: skip
    return violations


def _perpetual_cash(data: dict[tuple[str, ...], object], name: str, position: Position) -> int:
    mark = data.get(k.mark(name))
    if not isinstance(mark, MarkData) or not isinstance(mark.instrument, Perpetual):
        return 0
    return position.quote - pending_funding(position, mark)


def _int(data: dict[tuple[str, ...], object], key: tuple[str, ...]) -> int:
    value = data.get(key, 0)
    assert isinstance(value, int)
    return value

"""Why a clearing transaction fails (included, changes only nonce and fee) or is rejected.

Failures derive from ``paraclear.state.TxFailure`` and carry typed fields; the receipt
records ``code`` (the class name) and the fields in order. ``Rejected`` is raised before a
block is built, for transactions that must never enter one (malformed, bad signature).
"""

from __future__ import annotations

from paraclear.state import TxFailure


class Rejected(ValueError):
    """A transaction that must not enter a block: malformed or out of range."""


class ClearingFailure(TxFailure):
    """Base of every clearing-house failure."""


class Malformed(ClearingFailure):
    """A field is out of range (a rejected transaction that reached a block anyway)."""

    fields = ("field", "reason")


class InvalidNonce(ClearingFailure):
    fields = ("account", "expected", "got")


class InsufficientFee(ClearingFailure):
    fields = ("account", "fee", "collateral")


class Unauthorized(ClearingFailure):
    fields = ("account", "action")


class UnknownInstrument(ClearingFailure):
    fields = ("instrument",)


class InstrumentExists(ClearingFailure):
    fields = ("instrument",)


class InvalidInstrument(ClearingFailure):
    fields = ("instrument", "reason")


class InstrumentExpired(ClearingFailure):
    fields = ("instrument", "expiry", "time")


class NotExpired(ClearingFailure):
    fields = ("instrument", "expiry", "time")


class NoMarketData(ClearingFailure):
    """No oracle or mark has been published for what the transaction needs."""

    fields = ("what",)


class InvalidOracle(ClearingFailure):
    fields = ("underlying", "reason")


class NotMultiple(ClearingFailure):
    """A price or size is not a multiple of the instrument's tick or lot size."""

    fields = ("field", "value", "step")


class SelfTrade(ClearingFailure):
    fields = ("account",)


class InsufficientCollateral(ClearingFailure):
    fields = ("account", "required", "available")


class InsufficientMargin(ClearingFailure):
    """The account's equity would fall below its initial margin requirement."""

    fields = ("account", "required", "available")


class BalanceLimit(ClearingFailure):
    """The account's collateral would exceed ``paraclear.numbers.MAX_BALANCE``."""

    fields = ("account", "balance", "limit")


class AccountBankrupt(ClearingFailure):
    fields = ("account", "deficit")


class NotLiquidatable(ClearingFailure):
    """The account's equity is at or above its maintenance margin."""

    fields = ("account", "equity", "maintenance")


class PositionTooSmall(ClearingFailure):
    fields = ("account", "instrument", "position", "requested")


class IncompleteSettlement(ClearingFailure):
    """The accounts listed for an expiry do not hold every position of the series."""

    fields = ("instrument", "open_interest", "settled_long", "settled_short")


class WrongInstrumentKind(ClearingFailure):
    fields = ("instrument", "expected")


class FundingNotDue(ClearingFailure):
    """Funding is paid at most once per funding interval."""

    fields = ("instrument", "due", "time")


class PoolNotOpen(ClearingFailure):
    """The admin has not opened the options pool (no ``PoolConfig``)."""

    fields = ()


class PoolInsolvent(ClearingFailure):
    """The pool's NAV is not positive: no LP may deposit, redeem or trade against it."""

    fields = ("nav",)


class PoolDepositTooSmall(ClearingFailure):
    """A deposit would mint no share."""

    fields = ("amount",)


class PoolRedeemTooSmall(ClearingFailure):
    """A redemption would pay out nothing."""

    fields = ("shares",)


class PoolSlippage(ClearingFailure):
    """An LP asked for at least ``minimum`` (shares or micro-USDC) and would get ``actual``."""

    fields = ("minimum", "actual")


class InsufficientShares(ClearingFailure):
    fields = ("account", "held", "requested")


class ShareLimit(ClearingFailure):
    """Pool shares in existence would exceed ``pool_shares.MAX_TOTAL_SHARES``."""

    fields = ("total", "limit")


class PoolPriceLimit(ClearingFailure):
    """The pool's price is worse for the trader than the trader's limit price."""

    fields = ("price", "limit")


class PoolRiskLimit(ClearingFailure):
    """The trade or redemption would take the pool beyond one of its risk limits.

    ``limit``: ``margin``, ``vega:<underlying>`` or ``delta:<underlying>``; ``value`` and
    ``cap`` in micro-USDC (initial margin, vega per vol point, delta notional).
    """

    fields = ("limit", "value", "cap")


class HedgeNotNeeded(ClearingFailure):
    """The pool's delta on the underlying is within its hedge band (or rounds to no lot)."""

    fields = ("underlying", "delta_notional", "band")


class PerpetualsFirst(ClearingFailure):
    """An option cannot be liquidated while the account still holds a perpetual."""

    fields = ("account", "instrument", "perpetual")


class LiquidationStepTooLarge(ClearingFailure):
    """One Liquidate moves at most ``LIQUIDATION_STEP_NOTIONAL`` (``limit`` is a size)."""

    fields = ("instrument", "requested", "limit")


class NotUnderwater(ClearingFailure):
    """Backstop and Deleverage need an account whose equity (collateral) is negative."""

    fields = ("account", "equity")


class PositionsOpen(ClearingFailure):
    """The insurance fund covers an account only once it holds no positions."""

    fields = ("account", "positions")


class InsuranceFundEmpty(ClearingFailure):
    fields = ("fund", "deficit")


class InsuranceFundSufficient(ClearingFailure):
    """Auto-deleveraging is the last resort: the fund can still cover the deficit."""

    fields = ("fund", "deficit")


class NotOpposite(ClearingFailure):
    """A listed ADL counterparty holds no position opposite to the account's."""

    fields = ("account", "instrument", "position")


class AdlRankOrder(ClearingFailure):
    """ADL counterparties must be listed by non-increasing rank (``adl_score``)."""

    fields = ("account", "after")


class InsufficientCounterparties(ClearingFailure):
    """The listed counterparties hold less than the size to deleverage, or one of them is
    not needed."""

    fields = ("instrument", "requested", "available")


class CounterpartyUnderwater(ClearingFailure):
    """A counterparty would be left with negative equity by its share of the deficit."""

    fields = ("account", "equity")


class UnknownOrder(ClearingFailure):
    """The account has no open order opened by the transaction of this nonce."""

    fields = ("account", "order")


class TooManyOrders(ClearingFailure):
    """The account already has the most open orders one account may have."""

    fields = ("account", "limit")


class OrderExpired(ClearingFailure):
    """A good-til-block order whose last block has passed."""

    fields = ("good_til", "height")


class ReduceOnlyWouldIncrease(ClearingFailure):
    """A reduce-only order on the side that would grow (or open) the position."""

    fields = ("account", "instrument", "position")


class FillMismatch(ClearingFailure):
    """A fill that its two orders do not allow (instrument, sides, size or price)."""

    fields = ("reason",)


class OpenOrdersLeft(ClearingFailure):
    """The accounts listed for an expiry do not hold every open order of the series."""

    fields = ("instrument", "orders")

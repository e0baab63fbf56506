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

from paraclear.clearing.events import ExpirySettled
from paraclear.clearing.transactions import SettleExpiry, Side
from paraclear.state import keys as k

from .harness import CALL, ONE, PUT, Exchange, usd


def open_call_positions(ex):
    ex.trade("alice", "bob", CALL, Side.BUY, ONE, usd(3_000))
    ex.trade("carol", "bob", CALL, Side.BUY, ONE // 2, usd(3_000))


def test_expiry_settles_every_position_at_intrinsic_value_and_delists():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    before = {a: ex.collateral(a) for a in ("alice", "bob", "carol")}
    ex.time = CALL.expiry
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        settlement_price=usd(65_000),
        accounts=("alice", "bob", "carol"),
    )
    assert receipt.events[0] == ExpirySettled(
        instrument=CALL.name, settlement_price=usd(65_000), positions=3, residual=0
    )
    assert ex.collateral("alice") == before["alice"] + usd(5_000)
    assert ex.collateral("carol") == before["carol"] + usd(2_500)
    assert ex.collateral("bob") == before["bob"] - usd(7_500)
    assert ex.get(k.instrument(CALL.name)) is None
    assert CALL.name not in ex.get(k.series("BTC"))
    assert ex.get(k.open_interest(CALL.name)) is None
    assert ex.get(k.portfolio("alice")) is None


def test_expiry_that_misses_a_holder_fails_as_incomplete():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    ex.time = CALL.expiry
    receipt = ex.fails(
        SettleExpiry,
        "oracle",
        "IncompleteSettlement",
        instrument=CALL.name,
        settlement_price=usd(65_000),
        accounts=("alice", "bob"),
    )
    assert dict(receipt.error.details)["open_interest"] == 3 * ONE // 2


def test_expiry_errors():
    ex = Exchange().market()
    args = dict(settlement_price=usd(1), accounts=())
    ex.fails(SettleExpiry, "oracle", "NotExpired", instrument=PUT.name, **args)
    ex.fails(SettleExpiry, "admin", "Unauthorized", instrument=PUT.name, **args)
    ex.fails(SettleExpiry, "oracle", "WrongInstrumentKind", instrument="BTC-PERP", **args)
    ex.fails(SettleExpiry, "oracle", "UnknownInstrument", instrument="BTC-1JAN27-1-C", **args)


def test_rounding_residual_of_a_settlement_goes_to_the_insurance_fund():
    ex = Exchange().market().fund(alice=10_000, bob=100_000, carol=10_000)
    open_call_positions(ex)
    ex.time = CALL.expiry
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        settlement_price=usd(60_000.000003),
        accounts=("alice", "bob", "carol"),
    )
    # Payoff 3 micro-USDC per contract: carol's half receives 1, bob's 1.5 pays 5.
    assert receipt.events[0].residual == 1
    assert ex.get(k.INSURANCE_FUND) == 1


def test_a_short_that_cannot_pay_its_settlement_is_recorded_bankrupt_until_it_pays():
    from paraclear.clearing.transactions import Deposit, Withdraw

    ex = Exchange().market().fund(alice=100_000, bob=20_000)
    ex.trade("alice", "bob", CALL, Side.BUY, ONE, usd(3_000))
    ex.block(ex.tx(Withdraw, "bob", amount=usd(1_000)))
    ex.time = CALL.expiry
    owed = usd(100_000 - 60_000)  # settles at 100,000: bob owes 40,000
    receipt = ex.ok(
        SettleExpiry,
        "oracle",
        instrument=CALL.name,
        settlement_price=usd(100_000),
        accounts=("alice", "bob"),
    )
    deficit = owed - usd(20_000 + 3_000 - 18 - 1_000)  # deposit, premium, fee, withdrawal
    assert receipt.events[-1].deficit == deficit
    assert ex.collateral("bob") == -deficit
    ex.block(ex.tx(Deposit, "bob", amount=deficit))
    assert ex.get(k.bankruptcy("bob")) is None and ex.collateral("bob") == 0

from paraclear.clearing.events import Deposited, Transferred, Withdrawn
from paraclear.clearing.transactions import Deposit, Side, Transfer, Withdraw
from paraclear.state import keys as k

from .harness import ONE, PERP, Exchange, usd


def test_deposit_credits_collateral_and_net_deposits():
    ex = Exchange()
    receipt = ex.ok(Deposit, "alice", amount=usd(100))
    assert receipt.events == (Deposited(account="alice", amount=usd(100)),)
    assert ex.collateral("alice") == usd(100)
    assert ex.get(k.NET_DEPOSITS) == usd(100)


def test_withdraw_takes_free_collateral_only():
    ex = Exchange().market().fund(alice=10_000, bob=10_000)
    ex.trade("alice", "bob", PERP, Side.BUY, ONE, usd(60_000))
    # A 1 BTC perp at 60,000 needs 2 % = 1,200 of initial margin; fees took 30 and 12.
    receipt = ex.fails(Withdraw, "alice", "InsufficientCollateral", amount=usd(9_000))
    free = dict(receipt.error.details)["available"]
    assert free == usd(10_000 - 30 - 1_200)
    receipt = ex.ok(Withdraw, "alice", amount=free)
    assert receipt.events == (Withdrawn(account="alice", amount=free),)
    assert ex.collateral("alice") == usd(1_200)
    assert ex.get(k.NET_DEPOSITS) == usd(20_000) - free


def test_withdraw_beyond_balance_fails_with_insufficient_collateral():
    ex = Exchange().market().fund(alice=50)
    ex.fails(Withdraw, "alice", "InsufficientCollateral", amount=usd(50.000001))
    ex.ok(Withdraw, "alice", amount=usd(50))
    assert ex.collateral("alice") == 0


def test_transfer_moves_free_collateral():
    ex = Exchange().market().fund(alice=100)
    receipt = ex.ok(Transfer, "alice", to="bob", amount=usd(40))
    assert receipt.events == (Transferred(sender="alice", to="bob", amount=usd(40)),)
    assert (ex.collateral("alice"), ex.collateral("bob")) == (usd(60), usd(40))
    ex.fails(Transfer, "alice", "InsufficientCollateral", to="bob", amount=usd(61))


def test_transfer_to_oneself_fails_as_malformed():
    ex = Exchange().market().fund(alice=100)
    ex.fails(Transfer, "alice", "Malformed", to="alice", amount=usd(1))


def test_withdraw_without_market_config_still_works_for_an_empty_account():
    ex = Exchange().fund(alice=5)
    ex.ok(Withdraw, "alice", amount=usd(5))


def test_a_deposit_beyond_the_balance_limit_fails_and_changes_nothing():
    from paraclear.numbers import MAX_BALANCE

    ex = Exchange()
    ex.ok(Deposit, "whale", amount=MAX_BALANCE)
    receipt = ex.fails(Deposit, "whale", "BalanceLimit", amount=1)
    assert dict(receipt.error.details)["limit"] == MAX_BALANCE

"""Nonces and fees: what every transaction pays, and what a failure still costs."""

from paraclear.clearing.transactions import Deposit, Withdraw
from paraclear.state import keys as k

from .harness import Exchange, usd


def test_wrong_nonce_fails_and_changes_nothing_at_all():
    ex = Exchange().fund(alice=10)
    before = dict(ex.state.data)
    receipt = ex.block(Deposit(sender="alice", nonce=5, amount=usd(1))).receipts[0]
    assert receipt.error is not None and receipt.error.code == "InvalidNonce"
    assert receipt.error.details == (("account", "alice"), ("expected", 1), ("got", 5))
    assert ex.state.data == before


def test_replayed_nonce_in_the_same_block_fails():
    ex = Exchange()
    tx = Deposit(sender="alice", nonce=0, amount=usd(1))
    result = ex.block(tx, tx)
    assert result.receipts[0].ok
    assert result.receipts[1].error is not None
    assert result.receipts[1].error.code == "InvalidNonce"
    assert ex.collateral("alice") == usd(1)


def test_fee_is_paid_into_the_fee_pool_even_when_the_body_fails():
    ex = Exchange().market().fund(alice=10)
    receipt = ex.run(Withdraw, "alice", amount=usd(50), fee=usd(1))
    assert receipt.error is not None and receipt.error.code == "InsufficientCollateral"
    assert ex.collateral("alice") == usd(9)
    assert ex.get(k.FEE_POOL) == usd(1)
    assert ex.get(k.nonce("alice")) == 2


def test_fee_above_collateral_fails_with_insufficient_fee_and_changes_nothing():
    ex = Exchange().fund(alice=1)
    before = dict(ex.state.data)
    receipt = ex.run(Deposit, "alice", amount=usd(5), fee=usd(2))
    assert receipt.error is not None and receipt.error.code == "InsufficientFee"
    assert ex.state.data == before

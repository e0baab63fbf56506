import msgspec
import pytest

from paraclear.clearing.errors import Rejected
from paraclear.clearing.events import CloseReason
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.transactions import (
    Backstop,
    CloseOrder,
    Deleverage,
    Deposit,
    ListInstrument,
    SettleExpiry,
    Side,
    Trade,
    Transaction,
    Transfer,
    decode_transaction,
    validate,
)

GOOD = [
    Deposit(sender="alice", nonce=0, amount=5),
    Trade(
        sender="a",
        nonce=3,
        fee=1,
        maker="b",
        instrument="BTC-PERP",
        side=Side.SELL,
        size=1000,
        price=100_000,
    ),
    ListInstrument(sender="admin", nonce=0, instrument=Perpetual(underlying="BTC")),
    SettleExpiry(
        sender="oracle",
        nonce=1,
        instrument="BTC-1JUN26-60000-C",
        accounts=("a", "b"),
    ),
    Backstop(sender="keeper", nonce=0, account="a"),
    Deleverage(
        sender="keeper", nonce=1, account="a", instrument="BTC-PERP", size=1, counterparties=("b",)
    ),
]


@pytest.mark.parametrize("tx", GOOD)
def test_transactions_round_trip_through_json_and_validate(tx):
    encoded = msgspec.json.encode(tx)
    assert decode_transaction(encoded) == tx
    assert validate(tx) is tx


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"deposit","sender":"a","nonce":0,"amount":-5}',
        b'{"type":"deposit","sender":"a","nonce":0,"amount":1.5}',
        b'{"type":"deposit","sender":"a","nonce":0,"amount":NaN}',
        b'{"type":"deposit","sender":"a","nonce":0,"amount":"5"}',
        b'{"type":"deposit","sender":"a","nonce":0}',
        b'{"type":"deposit","sender":"","nonce":0,"amount":5}',
        b'{"type":"deposit","sender":"a b","nonce":0,"amount":5}',
        b'{"type":"deposit","sender":"a","nonce":-1,"amount":5}',
        b'{"type":"deposit","sender":"a","nonce":0,"amount":99999999999999999999999}',
        b'{"type":"mint","sender":"a","nonce":0,"amount":5}',
        b'{"type":"trade","sender":"a","nonce":0,"maker":"a","instrument":"X","side":"buy","size":1,"price":1}',
        b'{"type":"trade","sender":"a","nonce":0,"maker":"b","instrument":"X","side":"hold","size":1,"price":1}',
        b'{"type":"transfer","sender":"a","nonce":0,"to":"a","amount":1}',
        b'{"type":"settle_expiry","sender":"o","nonce":0,"instrument":"X","accounts":["b","a"]}',
        b'{"type":"oracle_update","sender":"o","nonce":0,"underlying":"BTC","index_price":1,"atm_vol_ppm":1,"impact_bid":5}',
        b'{"type":"oracle_update","sender":"o","nonce":0,"underlying":"BTC","index_price":1,"atm_vol_ppm":1,"impact_bid":5,"impact_ask":4}',
        b'{"type":"oracle_update","sender":"o","nonce":0,"underlying":"BTC","index_price":1,"atm_vol_ppm":0}',
        b'{"type":"deleverage","sender":"k","nonce":0,"account":"a","instrument":"X","size":1,"counterparties":[]}',
        b'{"type":"deleverage","sender":"k","nonce":0,"account":"a","instrument":"X","size":1,"counterparties":["b","b"]}',
        b'{"type":"deleverage","sender":"k","nonce":0,"account":"a","instrument":"X","size":1,"counterparties":["a"]}',
        b'{"type":"deleverage","sender":"a","nonce":0,"account":"a","instrument":"X","size":1,"counterparties":["b"]}',
        b'{"type":"deleverage","sender":"k","nonce":0,"account":"a","instrument":"X","size":0,"counterparties":["b"]}',
        b'{"type":"backstop","sender":"k","nonce":0}',
        b"not json",
        b"[]",
    ],
)
def test_malformed_transactions_are_rejected_with_a_clear_error(raw):
    with pytest.raises(Rejected) as info:
        decode_transaction(raw)
    assert str(info.value)


def test_oversized_names_are_rejected():
    with pytest.raises(Rejected, match="length"):
        validate(Deposit(sender="a" * 65, nonce=0, amount=1))


def test_constructed_transactions_with_bad_fields_are_rejected_by_validate():
    with pytest.raises(Rejected):
        validate(Transfer(sender="a", nonce=0, to="b", amount=0))
    with pytest.raises(Rejected):
        validate(Deposit(sender="a", nonce=0, amount=1, fee=-1))


def test_the_union_is_tagged_by_type():
    decoded = msgspec.json.decode(
        b'{"type":"deposit","sender":"a","nonce":0,"amount":5}', type=Transaction
    )
    assert isinstance(decoded, Deposit)


def test_validate_rejects_integers_too_wide_for_any_encoding():
    with pytest.raises(Rejected):
        validate(Deposit(sender="a", nonce=0, amount=2**70))


def test_expiry_settles_the_options_pool_but_no_other_name_with_a_space():
    settle = SettleExpiry(sender="oracle", nonce=0, instrument="X", accounts=("a", "options pool"))
    assert validate(settle) is settle
    with pytest.raises(Rejected):
        validate(SettleExpiry(sender="oracle", nonce=0, instrument="X", accounts=("a b",)))
    with pytest.raises(Rejected):
        validate(Deposit(sender="options pool", nonce=0, amount=1))


def test_a_close_carries_one_of_the_close_reasons():
    close = (
        b'{"type":"close_order","sender":"oracle","nonce":0,"account":"alice",'
        b'"instrument":"BTC-PERP","order":7,"remaining":0,"reason":"unfilled"}'
    )
    tx = decode_transaction(close)
    assert isinstance(tx, CloseOrder) and tx.reason is CloseReason.UNFILLED
    encoded = msgspec.json.encode(tx)
    assert b'"reason":"unfilled"' in encoded  # on the wire as its string, as before
    assert decode_transaction(encoded) == tx
    with pytest.raises(Rejected, match="reason"):
        decode_transaction(close.replace(b"unfilled", b"because"))
    assert {reason.value for reason in CloseReason} == {
        "cancelled", "unfilled", "reduced", "refused", "expired", "self_trade", "delisted",
    }  # fmt: skip

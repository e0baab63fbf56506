"""Names in transactions: printable ASCII without spaces, checked when a transaction is
decoded or built, in every field that names an account or an instrument."""

import re
import typing

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from paraclear.clearing import transactions as t
from paraclear.clearing.errors import Rejected
from paraclear.clearing.names import NAME_LENGTH, check_names
from paraclear.client.envelope import Keypair, decode_signed, encode_signed, sign
from paraclear.client.errors import MalformedEnvelope
from paraclear.state.keys import POOL_ACCOUNT

THE_RULE = re.compile(r"[\x21-\x7e]{1,64}")
"""The rule as the pattern every name field carried before: the reference."""

FREE_TEXT = {("PlaceOrder", "label"), ("CloseOrder", "reason")}
"""The only ``str`` fields that are not names."""

TRANSACTION_TYPES = typing.get_args(t.Transaction)


def _deposit_from(sender: str) -> bytes:
    return msgspec.json.encode({"type": "deposit", "sender": sender, "nonce": 0, "amount": 1})


@given(st.text(max_size=70) | st.text(st.characters(max_codepoint=0x80), max_size=70))
def test_a_decoded_name_passes_exactly_when_the_old_pattern_matches(name: str) -> None:
    try:
        decoded = t.decode_transaction(_deposit_from(name))
    except Rejected:
        assert not THE_RULE.fullmatch(name)
    else:
        assert THE_RULE.fullmatch(name) and decoded.sender == name


@pytest.mark.parametrize("name", ["a b", "tab\there", "del\x7f", "caf\u00e9", "nul\x00", " "])
def test_a_bad_name_is_refused_when_built_decoded_or_signed(name: str) -> None:
    with pytest.raises(Rejected, match="printable ASCII without spaces"):
        t.Transfer(sender="alice", nonce=0, to=name, amount=1)
    with pytest.raises(Rejected, match="printable ASCII"):
        t.decode_transaction(_deposit_from(name))
    good = t.Deposit(sender="alice", nonce=0, amount=1)
    keypair = Keypair.from_seed_int(1)
    signed = sign(keypair, "chain", t.Deposit(sender=keypair.account, nonce=0, amount=1))
    forged = name.encode() + b"a" * (64 - len(name.encode()))  # the same length in bytes
    envelope = encode_signed(signed).replace(keypair.account.encode(), forged)
    assert good.sender == "alice"
    with pytest.raises(MalformedEnvelope, match="printable ASCII"):
        decode_signed(envelope)


def test_every_field_that_names_something_is_checked() -> None:
    """Each ``str`` field of every transaction type, or tuple of them, is a checked name,
    a ``Holder`` (with its own pattern) or one of the two free-text fields: a new field
    typed plain ``str`` fails here."""
    for kind in TRANSACTION_TYPES:
        hints = typing.get_type_hints(kind, include_extras=True)
        for field in kind.__struct_fields__:
            hint = hints[field]
            if typing.get_origin(_bare(hint)) is tuple:
                hint = typing.get_args(_bare(hint))[0]
            if _bare(hint) is not str or (kind.__name__, field) in FREE_TEXT:
                continue
            if kind is t.SettleExpiry and field == "accounts":
                assert hint is t.Holder
                continue
            assert any(meta is NAME_LENGTH for meta in typing.get_args(hint)[1:]), (kind, field)


def _bare(hint: object) -> object:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def test_the_names_of_each_kind_of_field_are_read() -> None:
    fill = t.SettleFill(
        sender="oracle",
        nonce=0,
        instrument="BTC-PERP",
        taker="a",
        taker_order=1,
        maker="b",
        maker_order=2,
        price=1,
        size=1,
    )
    for field in ("sender", "instrument", "taker", "maker"):
        with pytest.raises(Rejected, match="'x y'"):
            msgspec.structs.replace(fill, **{field: "x y"})
    adl = dict(sender="o", nonce=0, account="a", instrument="I", size=1)
    assert t.Deleverage(**adl, counterparties=("b", "c")).counterparties == ("b", "c")
    with pytest.raises(Rejected, match="'c d'"):
        t.Deleverage(**adl, counterparties=("b", "c d"))
    check_names(t.Deposit(sender="alice", nonce=0, amount=1))


def test_only_expiry_may_name_the_pool_whose_name_has_a_space() -> None:
    settle = t.SettleExpiry(sender="oracle", nonce=0, instrument="X", accounts=("a", POOL_ACCOUNT))
    assert t.validate(settle) is settle
    with pytest.raises(Rejected):
        t.validate(t.SettleExpiry(sender="oracle", nonce=0, instrument="X", accounts=("a b",)))
    with pytest.raises(Rejected):
        t.Deposit(sender=POOL_ACCOUNT, nonce=0, amount=1)

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.clearing.transactions import Deposit, OracleUpdate, Side, Trade, Transfer
from paraclear.client import errors
from paraclear.client.envelope import (
    SIGNING_DOMAIN,
    Keypair,
    SignedTx,
    check_envelope,
    consumes_nonce,
    decode_signed,
    decode_trusted,
    encode_signed,
    is_operator_only,
    sign,
    signing_message,
    tx_id,
)

CHAIN = "paraclear-test"
ALICE = Keypair.from_seed_int(1)
BOB = Keypair.from_seed_int(2)


def trade(sender: Keypair = ALICE, nonce: int = 0, size: int = 1_000_000) -> Trade:
    return Trade(
        sender=sender.account,
        nonce=nonce,
        fee=7,
        maker=BOB.account,
        instrument="BTC-PERP",
        side=Side.BUY,
        size=size,
        price=60_000_000_000,
    )


def test_account_is_lowercase_hex_of_the_verify_key_and_seeds_are_deterministic():
    assert ALICE.account == ALICE.public_key.hex() and len(ALICE.account) == 64
    assert Keypair.from_seed_int(1).account == ALICE.account != BOB.account


def test_signed_envelope_round_trips_and_verifies():
    signed = sign(ALICE, CHAIN, trade())
    decoded = decode_signed(encode_signed(signed))
    assert decoded == signed
    check_envelope(decoded, CHAIN)
    assert tx_id(decoded) == tx_id(signed) != tx_id(sign(ALICE, CHAIN, trade(nonce=1)))


def test_trusted_decoding_gives_the_same_envelope_and_refuses_garbage():
    raw = encode_signed(sign(ALICE, CHAIN, trade()))
    assert decode_trusted(raw) == decode_signed(raw)
    with pytest.raises(errors.MalformedEnvelope):
        decode_trusted(b"\xc1 not msgpack")


def test_forged_signature_is_rejected_with_bad_signature():
    signed = sign(ALICE, CHAIN, trade())
    forged = msgspec.structs.replace(signed, signature=bytes(64))
    with pytest.raises(errors.BadSignature):
        check_envelope(forged, CHAIN)


def test_signature_by_another_key_over_the_senders_public_key_is_rejected():
    tx = trade()
    by_bob = BOB.sign_message(signing_message(CHAIN, tx))
    with pytest.raises(errors.BadSignature):
        check_envelope(SignedTx(CHAIN, tx, ALICE.public_key, by_bob), CHAIN)


def test_tampered_field_is_rejected_with_bad_signature():
    signed = sign(ALICE, CHAIN, trade(size=1_000_000))
    tampered = msgspec.structs.replace(signed, tx=trade(size=9_000_000))
    with pytest.raises(errors.BadSignature):
        check_envelope(tampered, CHAIN)


def test_wrong_chain_is_rejected_with_both_chain_ids():
    signed = sign(ALICE, "other-chain", trade())
    with pytest.raises(errors.WrongChain) as caught:
        check_envelope(signed, CHAIN)
    assert caught.value.data() == {"expected": CHAIN, "got": "other-chain"}


def test_relabelled_chain_id_does_not_verify():
    signed = sign(ALICE, "other-chain", trade())
    with pytest.raises(errors.BadSignature):
        check_envelope(msgspec.structs.replace(signed, chain_id=CHAIN), CHAIN)


def test_sender_other_than_the_signing_key_is_rejected():
    tx = trade(sender=BOB)
    signed = SignedTx(CHAIN, tx, ALICE.public_key, ALICE.sign_message(signing_message(CHAIN, tx)))
    with pytest.raises(errors.SenderMismatch) as caught:
        check_envelope(signed, CHAIN)
    assert caught.value.data() == {"sender": BOB.account, "signer": ALICE.account}
    with pytest.raises(errors.SenderMismatch):
        sign(ALICE, CHAIN, tx)


def test_signature_over_a_non_canonical_encoding_does_not_verify():
    tx = trade()
    json_message = SIGNING_DOMAIN + msgspec.json.encode((CHAIN, tx))
    undomained = msgspec.msgpack.encode((CHAIN, tx))
    for message in (json_message, undomained):
        signed = SignedTx(CHAIN, tx, ALICE.public_key, ALICE.sign_message(message))
        with pytest.raises(errors.BadSignature):
            check_envelope(signed, CHAIN)


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"\x94", b"garbage bytes", b"\x94\xa1a\x80\xc4\x00\xc4\x00"]
)
def test_garbage_bytes_are_malformed(data):
    with pytest.raises(errors.MalformedEnvelope):
        decode_signed(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_envelope_errors(data):
    try:
        signed = decode_signed(data)
    except errors.EnvelopeError:
        return
    assert decode_signed(encode_signed(signed)) == signed


def test_oversized_envelope_is_rejected_before_decoding():
    data = encode_signed(sign(ALICE, CHAIN, trade()))
    with pytest.raises(errors.OversizedTransaction) as caught:
        decode_signed(data, max_bytes=len(data) - 1)
    assert caught.value.data() == {"size": len(data), "limit": len(data) - 1}
    assert decode_signed(data, max_bytes=len(data)).tx == trade()


def test_out_of_range_field_and_semantic_errors_are_malformed():
    negative = Deposit(sender=ALICE.account, nonce=0, amount=-5)
    to_self = Transfer(sender=ALICE.account, nonce=0, to=ALICE.account, amount=5)
    for tx in (negative, to_self):
        signed = sign(ALICE, CHAIN, tx)
        with pytest.raises(errors.MalformedEnvelope):
            decode_signed(encode_signed(signed))


def test_short_public_key_is_malformed():
    signed = sign(ALICE, CHAIN, trade())
    short = msgspec.structs.replace(signed, public_key=ALICE.public_key[:31])
    with pytest.raises(errors.MalformedEnvelope):
        decode_signed(encode_signed(short))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_flipped_byte_never_verifies_as_a_different_transaction(data):
    signed = sign(ALICE, CHAIN, trade())
    wire = bytearray(encode_signed(signed))
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_signed(bytes(wire))
        check_envelope(decoded, CHAIN)
    except errors.EnvelopeError:
        return
    assert decoded == signed


def test_oracle_and_producer_types_are_marked():
    update = OracleUpdate(
        sender=ALICE.account, nonce=0, underlying="BTC", index_price=1, atm_vol_ppm=1
    )
    assert is_operator_only(update) and consumes_nonce(update)
    deposit = Deposit(sender=ALICE.account, nonce=0, amount=5)
    assert not is_operator_only(deposit) and consumes_nonce(deposit)


def test_operator_only_follows_the_class_marker(monkeypatch):
    tx = Deposit(sender=ALICE.account, nonce=0, amount=5)
    assert not is_operator_only(tx)
    monkeypatch.setattr(Deposit, "operator_only", True, raising=False)
    assert is_operator_only(tx)

import msgspec
import pytest

from paraclear.chain.sigverify import SigVerifier
from paraclear.clearing.transactions import Deposit
from paraclear.client import errors
from paraclear.client.envelope import Keypair, SignedTx, check_envelope, sign

CHAIN = "paraclear-test"
KEYS = [Keypair.from_seed_int(n) for n in range(8)]


def mixed_batch(count: int) -> list[SignedTx]:
    """Good envelopes, with a forged, a wrong-chain and a sender-mismatched one every so often."""
    batch = []
    for i in range(count):
        key = KEYS[i % len(KEYS)]
        signed = sign(key, CHAIN, Deposit(sender=key.account, nonce=i, amount=i + 1))
        if i % 7 == 3:
            signed = msgspec.structs.replace(signed, signature=bytes(64))
        elif i % 11 == 5:
            signed = sign(key, "elsewhere", signed.tx)
        elif i % 13 == 6:
            signed = msgspec.structs.replace(signed, public_key=KEYS[(i + 1) % 8].public_key)
        batch.append(signed)
    return batch


def expected(batch: list[SignedTx]) -> list[str | None]:
    codes: list[str | None] = []
    for signed in batch:
        try:
            check_envelope(signed, CHAIN)
            codes.append(None)
        except errors.EnvelopeError as error:
            codes.append(error.code)
    return codes


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_outcomes_are_in_input_order_and_equal_one_by_one_checks(threads):
    batch = mixed_batch(400)
    with SigVerifier(threads) as verifier:
        outcomes = verifier.verify(batch, CHAIN)
        small = verifier.verify(batch[:5], CHAIN)
    codes = [None if o is None else o.code for o in outcomes]
    assert codes == expected(batch)
    assert {"bad_signature", "wrong_chain", "sender_mismatch", None} == set(codes)
    assert [None if o is None else o.code for o in small] == codes[:5]


def test_empty_batch_and_bad_thread_count():
    with SigVerifier(2) as verifier:
        assert verifier.verify([], CHAIN) == []
    with pytest.raises(ValueError):
        SigVerifier(0)

"""The signed envelope: a transaction, the chain it is for, and an ed25519 signature.

Accounts are public keys: an account id is the 64-character lowercase hex of the account's
32-byte ed25519 verify key. The signature covers ``SIGNING_DOMAIN`` followed by the
canonical msgpack encoding (msgspec, fields in declaration order) of ``(chain_id, tx)``.
Verification re-encodes the *decoded* transaction, so a signature is over what the node
will execute, whatever bytes carried it; a signature over any other encoding cannot verify.

The chain id stops replays across chains, the nonce replays within one (the mempool and the
clearing house check it), and the domain prefix stops a transaction signature from being
reused as a signature of anything else the same key signs.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Final

import msgspec
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from paraclear.clearing.errors import Rejected
from paraclear.clearing.transactions import Transaction, check_semantics
from paraclear.client.errors import (
    BadSignature,
    MalformedEnvelope,
    OversizedTransaction,
    SenderMismatch,
    WrongChain,
)

SIGNING_DOMAIN: Final = b"paraclear/tx/v1\x00"
"""Prefix of every signed message; change the version to retire every old signature."""

MAX_ENVELOPE_BYTES: Final = 8 * 1024 * 1024
"""Largest encoded envelope ``decode_signed`` accepts by default (bytes): room for the
largest operator transaction (a ``SettleExpiry`` over 100,000 accounts). The mempool applies
its own, much smaller, per-transaction limit."""

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
SEED_BYTES: Final = 32

PublicKey = Annotated[bytes, msgspec.Meta(min_length=PUBLIC_KEY_BYTES, max_length=PUBLIC_KEY_BYTES)]
Signature = Annotated[bytes, msgspec.Meta(min_length=SIGNATURE_BYTES, max_length=SIGNATURE_BYTES)]


class SignedTx(msgspec.Struct, frozen=True, array_like=True):
    """A transaction signed by its sender for one chain. Encoded as a msgpack array."""

    chain_id: str
    tx: Transaction
    public_key: PublicKey
    signature: Signature


class Keypair:
    """An ed25519 signing key and the account it controls."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"a seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._key = SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)
        self.account: str = self.public_key.hex()

    @classmethod
    def from_seed_int(cls, n: int) -> Keypair:
        """A deterministic keypair numbered ``n`` (tests and simulations; not secret)."""
        return cls(hashlib.sha256(b"paraclear/test-key/" + str(n).encode()).digest())

    def sign_message(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return self._key.sign(message).signature

    def __repr__(self) -> str:
        return f"Keypair(account={self.account!r})"


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(SignedTx)


def account_of(public_key: bytes) -> str:
    """The account id of a verify key: its lowercase hex."""
    return public_key.hex()


def signing_message(chain_id: str, tx: Transaction) -> bytes:
    """The exact bytes a signature covers."""
    return SIGNING_DOMAIN + _encoder.encode((chain_id, tx))


def tx_id(signed: SignedTx) -> str:
    """A transaction's id: hex SHA-256 of what was signed (equal for equal transactions)."""
    return hashlib.sha256(signing_message(signed.chain_id, signed.tx)).hexdigest()


def sign(keypair: Keypair, chain_id: str, tx: Transaction) -> SignedTx:
    """Sign ``tx`` for ``chain_id``. Raises SenderMismatch if ``tx.sender`` is not the
    keypair's account (such an envelope could never be accepted)."""
    if tx.sender != keypair.account:
        raise SenderMismatch(tx.sender, keypair.account)
    signature = keypair.sign_message(signing_message(chain_id, tx))
    return SignedTx(chain_id, tx, keypair.public_key, signature)


def encode_signed(signed: SignedTx) -> bytes:
    """The wire form of an envelope (msgpack)."""
    return _encoder.encode(signed)


def decode_signed(data: bytes, max_bytes: int = MAX_ENVELOPE_BYTES) -> SignedTx:
    """Decode an envelope from untrusted bytes and check its transaction's fields.

    Does not check the signature (``check_envelope`` does). Raises OversizedTransaction,
    MalformedEnvelope.
    """
    if len(data) > max_bytes:
        raise OversizedTransaction(len(data), max_bytes)
    try:
        signed = _decoder.decode(data)
    except msgspec.ValidationError as error:
        raise MalformedEnvelope(str(error)) from None
    except (msgspec.DecodeError, ValueError) as error:  # ValueError: invalid UTF-8, say
        raise MalformedEnvelope(f"undecodable: {error}") from None
    try:  # decoding checked every field's range already
        check_semantics(signed.tx)
    except Rejected as error:
        raise MalformedEnvelope(str(error)) from None
    return signed


def decode_trusted(data: bytes) -> SignedTx:
    """Decode an envelope that a trusted process decoded and checked already
    (``decode_signed``, ``check_envelope``: an API front-end forwarding to its node core),
    without checking its fields again (a tenth of ``decode_signed``'s time). Raises
    MalformedEnvelope on bytes that do not decode at all."""
    try:
        signed: SignedTx = _decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as error:
        raise MalformedEnvelope(f"undecodable: {error}") from None
    return signed


def check_envelope(signed: SignedTx, chain_id: str) -> None:
    """Check that ``signed`` is for this chain, from its signer, and correctly signed.

    Cheap checks first; the signature check releases the GIL (libsodium through cffi), so
    several threads can run it at once. Raises WrongChain, SenderMismatch, BadSignature.
    """
    if signed.chain_id != chain_id:
        raise WrongChain(chain_id, signed.chain_id)
    signer = signed.public_key.hex()
    if signed.tx.sender != signer:
        raise SenderMismatch(signed.tx.sender, signer)
    message = signing_message(signed.chain_id, signed.tx)
    try:
        crypto_sign_open(signed.signature + message, signed.public_key)
    except (BadSignatureError, ValueError):
        raise BadSignature() from None


def is_operator_only(tx: Transaction) -> bool:
    """Whether only the house's operator accounts may send ``tx`` (oracle and admin types).

    Transaction classes mark themselves with ``operator_only: ClassVar[bool] = True``.
    """
    return bool(getattr(type(tx), "operator_only", False))


def consumes_nonce(tx: Transaction) -> bool:
    """Whether ``tx`` takes its sender's nonce; those that do not (settlements the block
    producer derives from matching) never come through the mempool."""
    return bool(getattr(type(tx), "consumes_nonce", True))

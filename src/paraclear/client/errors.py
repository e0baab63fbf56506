"""Why the node refuses a transaction before it can enter a block.

A refused transaction never reaches a block, so it changes nothing, not even a nonce (unlike
a *failed* transaction; see ``paraclear.clearing.errors``). Every refusal is a ``NodeError``
with a stable string ``code`` for machines, a message for people, and typed fields that
``data()`` returns, so the API can answer with a JSON-RPC error carrying all three.

    NodeError
    ├── EnvelopeError            the signed envelope itself is wrong (checked before the mempool)
    │   ├── MalformedEnvelope    undecodable bytes, or a field out of range
    │   ├── OversizedTransaction
    │   ├── WrongChain
    │   ├── SenderMismatch       the transaction's sender is not the signing key's account
    │   └── BadSignature
    └── AdmissionError           the envelope is fine, but the mempool will not hold it
        ├── OperatorOnly
        ├── ProducerOnly         derived by the block producer; never accepted from outside
        ├── FeeTooLow
        ├── NonceReplayed        nonce below the account's next one
        │   └── ReplacementUnderpriced   same nonce as a pending one, fee not higher
        ├── NonceTooFar
        ├── AccountQueueFull
        └── MempoolFull
"""

from __future__ import annotations

from typing import ClassVar

Field = int | str


class NodeError(Exception):
    """Base of every refusal. ``code`` is stable; ``fields`` name the typed attributes."""

    code: ClassVar[str] = "node_error"
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def data(self) -> dict[str, Field]:
        """The typed fields, by name (what a JSON-RPC error's ``data`` carries)."""
        values: dict[str, Field] = {}
        for name in self.fields:
            value = getattr(self, name)
            assert isinstance(value, int | str), (name, value)
            values[name] = value
        return values


class EnvelopeError(NodeError):
    """The signed envelope is unusable; rejected before the mempool."""

    code = "envelope_error"


class MalformedEnvelope(EnvelopeError):
    """Bytes that do not decode to a valid signed transaction, or a field out of range."""

    code = "malformed_envelope"
    fields = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed transaction envelope: {reason}")
        self.reason = reason


class OversizedTransaction(EnvelopeError):
    """An encoded envelope longer than the node accepts (bytes)."""

    code = "oversized_transaction"
    fields = ("size", "limit")

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"transaction of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class WrongChain(EnvelopeError):
    """Signed for another chain (a replay from a test net, say)."""

    code = "wrong_chain"
    fields = ("expected", "got")

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"transaction is for chain {got!r}, this node runs {expected!r}")
        self.expected = expected
        self.got = got


class SenderMismatch(EnvelopeError):
    """The transaction names a sender other than the account of the key that signed it."""

    code = "sender_mismatch"
    fields = ("sender", "signer")

    def __init__(self, sender: str, signer: str) -> None:
        super().__init__(f"sender {sender!r} is not the signing key's account {signer!r}")
        self.sender = sender
        self.signer = signer


class BadSignature(EnvelopeError):
    """The signature does not verify over the canonical encoding of (chain id, transaction)."""

    code = "bad_signature"

    def __init__(self) -> None:
        super().__init__("signature does not verify")


class AdmissionError(NodeError):
    """A well-signed transaction the mempool refuses to hold."""

    code = "admission_error"


class OperatorOnly(AdmissionError):
    """A transaction type only the house's operator accounts may send (oracle, admin)."""

    code = "operator_only"
    fields = ("tx_type", "account")

    def __init__(self, tx_type: str, account: str) -> None:
        super().__init__(f"{tx_type} may only be sent by an operator account, not {account!r}")
        self.tx_type = tx_type
        self.account = account


class ProducerOnly(AdmissionError):
    """A type only the block producer derives (fills and order closes from matching): it
    takes no nonce, so no one may submit it, the operator included."""

    code = "producer_only"
    fields = ("tx_type",)

    def __init__(self, tx_type: str) -> None:
        super().__init__(f"{tx_type} is derived by the block producer and cannot be submitted")
        self.tx_type = tx_type


class FeeTooLow(AdmissionError):
    """Fee (micro-USDC) under the mempool's minimum."""

    code = "fee_too_low"
    fields = ("min_fee", "got")

    def __init__(self, min_fee: int, got: int) -> None:
        super().__init__(f"fee {got} is below the minimum fee {min_fee}")
        self.min_fee = min_fee
        self.got = got


class NonceReplayed(AdmissionError):
    """A nonce below the account's next one: already used, or already on its way to a block."""

    code = "nonce_replayed"
    fields: ClassVar[tuple[str, ...]] = ("account", "expected", "got")

    def __init__(self, account: str, expected: int, got: int, message: str = "") -> None:
        super().__init__(
            message or f"nonce {got} of {account!r} is already used; next expected is {expected}"
        )
        self.account = account
        self.expected = expected
        self.got = got


class ReplacementUnderpriced(NonceReplayed):
    """The nonce of a pending transaction again, without a higher fee to replace it."""

    code = "replacement_underpriced"
    fields = ("account", "expected", "got", "pending_fee")

    def __init__(self, account: str, expected: int, got: int, pending_fee: int) -> None:
        super().__init__(
            account,
            expected,
            got,
            f"nonce {got} of {account!r} is pending with fee {pending_fee}; "
            "a replacement must pay a higher fee",
        )
        self.pending_fee = pending_fee


class NonceTooFar(AdmissionError):
    """A nonce more than ``max_gap`` ahead of the account's next executable one."""

    code = "nonce_too_far"
    fields = ("account", "next", "got", "max_gap")

    def __init__(self, account: str, next: int, got: int, max_gap: int) -> None:
        super().__init__(
            f"nonce {got} of {account!r} is more than {max_gap} ahead of the next "
            f"executable nonce {next}"
        )
        self.account = account
        self.next = next
        self.got = got
        self.max_gap = max_gap


class AccountQueueFull(AdmissionError):
    """The account already has ``limit`` transactions waiting."""

    code = "account_queue_full"
    fields = ("account", "limit")

    def __init__(self, account: str, limit: int) -> None:
        super().__init__(f"{account!r} already has {limit} pending transactions")
        self.account = account
        self.limit = limit


class MempoolFull(AdmissionError):
    """The mempool holds ``limit`` transactions."""

    code = "mempool_full"
    fields = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__(f"mempool is full ({limit} transactions)")
        self.limit = limit


class Dropped(AdmissionError):
    """A transaction admitted earlier left the mempool before any block: ``replaced`` by
    one of the same nonce with a higher fee, or ``evicted`` by a higher fee when full."""

    code = "dropped"
    fields = ("account", "nonce", "reason")

    def __init__(self, account: str, nonce: int, reason: str) -> None:
        super().__init__(f"{account!r}'s transaction {nonce} was {reason} before inclusion")
        self.account = account
        self.nonce = nonce
        self.reason = reason

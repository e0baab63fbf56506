"""Who is calling: accounts prove themselves by signing, and the server never signs for them.

An account is the hex of its ed25519 verify key (``paraclear.client.envelope``). To
authenticate, a client signs (``paraclear.client.grants``)
``AUTH_DOMAIN + "{chain_id}\\n{challenge}\\n{timestamp}\\n{nonce}\\n{data}"`` with the
account's key, where ``challenge`` is the server's (``public/get_auth_challenge``),
``timestamp`` the client's clock in milliseconds and ``nonce`` a fresh string.

A grant must not work twice, not even across a restart:

* the **challenge** is 16 random bytes drawn when the server starts: a grant signed for one
  run of the server is refused by every later one (the error carries the new challenge),
  and no grant can be signed in advance for a run that has not started;
* within a run, the server accepts a grant only within ``window_ms`` of its clock and only
  once per (account, nonce); it remembers a nonce until the grant's timestamp leaves the
  window, so what it keeps is bounded by the window (time), not by a count.

Transports:

* WebSocket: ``public/auth`` with ``grant_type: "signature"``, ``client_id`` (the account),
  ``challenge``, ``timestamp``, ``nonce``, ``signature`` (hex) and optional ``data``, as
  Deribit's signature grant, binds the connection to that account for its lifetime.
* HTTP: every private request carries the header ``Authorization: paraclear-ed25519
  client_id=..,challenge=..,timestamp=..,nonce=..,signature=..`` whose ``data`` is the hex
  SHA-256 of the request body (POST) or of the path and query (GET), so a signature
  authorises one request only.

Orders are in addition signed transactions of their own (see ``paraclear.client.envelope``):
being authenticated lets a connection read an account's data and subscribe to its channels.
"""

from __future__ import annotations

import heapq
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from paraclear.api.rpc import INVALID_CREDENTIALS, Context, Registry, RpcError
from paraclear.client.grants import DEFAULT_WINDOW_MS, HTTP_SCHEME, auth_message

CHALLENGE_BYTES: Final = 16

Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
Hex128 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]


class ChallengeParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class AuthParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grant_type: Literal["signature"]
    client_id: Hex64
    challenge: Hex32
    timestamp: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]
    nonce: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    signature: Hex128
    data: Annotated[str, msgspec.Meta(max_length=256)] = ""


class Authenticator:
    """Checks authentication signatures for one chain and one run of the server, and
    remembers the nonces used while their grants are within the window."""

    def __init__(
        self,
        chain_id: str,
        window_ms: int = DEFAULT_WINDOW_MS,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.chain_id = chain_id
        self.window_ms = window_ms
        self.challenge = secrets.token_hex(CHALLENGE_BYTES)
        """This run's challenge: drawn at start, never persisted, so never seen again."""
        self._clock_ms = clock_ms
        self._seen: set[tuple[str, str]] = set()
        self._expiries: list[tuple[int, tuple[str, str]]] = []
        """(ms after which the grant's timestamp is out of the window, key): a heap."""

    def verify(self, params: AuthParams) -> str:
        """The account ``params`` authenticate. Raises RpcError (invalid credentials)."""
        now = self._clock_ms()
        self._forget(now)
        if params.challenge != self.challenge:
            raise _refused(
                "challenge is not this server's: ask public/get_auth_challenge",
                challenge=self.challenge,
            )
        if abs(now - params.timestamp) > self.window_ms:
            raise _refused(
                f"timestamp {params.timestamp} is more than {self.window_ms} ms from {now}"
            )
        key = (params.client_id, params.nonce)
        if key in self._seen:
            raise _refused("nonce already used")
        message = auth_message(
            self.chain_id, params.challenge, params.timestamp, params.nonce, params.data
        )
        try:
            VerifyKey(bytes.fromhex(params.client_id)).verify(
                message, bytes.fromhex(params.signature)
            )
        except (BadSignatureError, ValueError):
            raise _refused("bad signature") from None
        self._seen.add(key)
        heapq.heappush(self._expiries, (params.timestamp + self.window_ms, key))
        return params.client_id

    def remembered(self) -> int:
        """Nonces remembered now (those whose grants are still within the window)."""
        self._forget(self._clock_ms())
        return len(self._seen)

    def _forget(self, now: int) -> None:
        """Drop the nonces of grants whose timestamps have left the window: such a grant
        is refused by its timestamp already."""
        while self._expiries and self._expiries[0][0] < now:
            _, key = heapq.heappop(self._expiries)
            self._seen.discard(key)

    def verify_header(self, header: str, data: str) -> str:
        """The account an HTTP ``Authorization`` header authenticates for a request whose
        signed data is ``data``. Raises RpcError."""
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != HTTP_SCHEME:
            raise _refused(f"authorization scheme must be {HTTP_SCHEME}")
        fields = dict(part.partition("=")[::2] for part in rest.split(","))
        raw = {"grant_type": "signature", **fields, "data": data}
        try:
            params = msgspec.convert(raw, AuthParams, strict=False)
        except msgspec.ValidationError as error:
            raise _refused(f"bad authorization header: {error}") from None
        return self.verify(params)

    def register(self, registry: Registry) -> None:
        """Add ``public/auth`` and ``public/get_auth_challenge``."""
        registry.add("public/auth", AuthParams, self._auth)
        registry.add("public/get_auth_challenge", ChallengeParams, self._challenge)

    def _challenge(self, context: Context, params: ChallengeParams) -> dict[str, Any]:
        return {
            "challenge": self.challenge,
            "chain_id": self.chain_id,
            "window_ms": self.window_ms,
        }

    def _auth(self, context: Context, params: AuthParams) -> dict[str, Any]:
        account = self.verify(params)
        if context.account is not None and context.account != account:
            raise _refused(f"this connection is already bound to account {context.account}")
        context.account = account
        if context.session is not None:
            context.session.account = account
        return {
            "account": account,
            "token_type": "signature",
            "scope": f"account:{account} session:connection",
            "expires_in": None,
        }


def _refused(reason: str, **extra: str) -> RpcError:
    return RpcError(
        INVALID_CREDENTIALS, f"invalid credentials: {reason}", {"reason": reason, **extra}
    )

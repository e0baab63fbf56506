"""Authentication grants, the client's side: what an account signs to prove itself to a
node's API (``paraclear.api.auth`` checks them; its docstring describes the protocol).

``sign_auth`` gives the ``public/auth`` params of a WebSocket connection; ``http_header``
the ``Authorization`` header of one HTTP request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Final, Protocol

AUTH_DOMAIN: Final = b"paraclear/auth/v2\x00"
HTTP_SCHEME: Final = "paraclear-ed25519"
HTTP_FIELDS: Final = ("client_id", "challenge", "timestamp", "nonce", "signature")
DEFAULT_WINDOW_MS: Final = 60_000


class Signer(Protocol):
    """What signs for an account (``paraclear.client.envelope.Keypair`` is one)."""

    @property
    def account(self) -> str: ...

    def sign_message(self, message: bytes) -> bytes: ...


def auth_message(chain_id: str, challenge: str, timestamp: int, nonce: str, data: str) -> bytes:
    """The exact bytes an authentication signature covers."""
    return AUTH_DOMAIN + f"{chain_id}\n{challenge}\n{timestamp}\n{nonce}\n{data}".encode()


def sign_auth(
    signer: Signer,
    chain_id: str,
    challenge: str,
    data: str = "",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The ``public/auth`` params that authenticate ``signer`` now (client side), for the
    server whose ``public/get_auth_challenge`` gave ``challenge``."""
    timestamp = time.time_ns() // 1_000_000 if timestamp is None else timestamp
    nonce = secrets.token_hex(16)
    signature = signer.sign_message(auth_message(chain_id, challenge, timestamp, nonce, data))
    return {
        "grant_type": "signature",
        "client_id": signer.account,
        "challenge": challenge,
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": signature.hex(),
        "data": data,
    }


def http_data(method: str, path_qs: str, body: bytes) -> str:
    """What an HTTP request's signature covers: hex SHA-256 of its body, or of its target."""
    return hashlib.sha256(body if method == "POST" else path_qs.encode()).hexdigest()


def http_header(
    signer: Signer, chain_id: str, challenge: str, method: str, path_qs: str, body: bytes
) -> str:
    """The ``Authorization`` header value for one HTTP request (client side)."""
    params = sign_auth(signer, chain_id, challenge, http_data(method, path_qs, body))
    return f"{HTTP_SCHEME} " + ",".join(f"{name}={params[name]}" for name in HTTP_FIELDS)

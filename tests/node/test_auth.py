"""Authentication by signature: what verifies, and every way it must not."""

from __future__ import annotations

import msgspec
import pytest

from paraclear.node import rpc
from paraclear.node.auth import Authenticator, AuthParams, http_data, http_header, sign_auth
from paraclear.node.envelope import Keypair
from paraclear.node.rpc import Context, RpcError
from tests.node.support import CHAIN, keypair

NOW = 1_780_000_000_000


def params(signer: Keypair, chain: str = CHAIN, timestamp: int = NOW, data: str = "") -> AuthParams:
    return msgspec.convert(sign_auth(signer, chain, data, timestamp), AuthParams)


def authenticator() -> Authenticator:
    return Authenticator(CHAIN, window_ms=1_000, clock_ms=lambda: NOW)


def refused(auth: Authenticator, p: AuthParams) -> str:
    with pytest.raises(RpcError) as raised:
        auth.verify(p)
    assert raised.value.code == rpc.INVALID_CREDENTIALS
    assert raised.value.data is not None
    return str(raised.value.data["reason"])


def test_signature_authenticates_its_account() -> None:
    signer = keypair(1)
    assert authenticator().verify(params(signer)) == signer.account


def test_replayed_nonce_is_refused() -> None:
    auth, p = authenticator(), params(keypair(1))
    auth.verify(p)
    assert refused(auth, p) == "nonce already used"


def test_stale_or_future_timestamp_is_refused() -> None:
    assert "ms from" in refused(authenticator(), params(keypair(1), timestamp=NOW - 1_001))
    assert "ms from" in refused(authenticator(), params(keypair(1), timestamp=NOW + 1_001))


def test_signature_for_another_chain_is_refused() -> None:
    assert refused(authenticator(), params(keypair(1), chain="other-chain")) == "bad signature"


def test_claiming_another_account_is_refused() -> None:
    p = params(keypair(1))
    forged = msgspec.structs.replace(p, client_id=keypair(2).account)
    assert refused(authenticator(), forged) == "bad signature"
    assert refused(authenticator(), msgspec.structs.replace(p, data="tampered")) == "bad signature"


def test_auth_binds_the_context_and_cannot_rebind_it() -> None:
    auth, context = authenticator(), Context()
    result = auth._auth(context, params(keypair(1)))
    assert context.account == keypair(1).account == result["account"]
    with pytest.raises(RpcError):
        auth._auth(context, params(keypair(2)))
    assert context.account == keypair(1).account


def test_http_header_authorises_one_request_body() -> None:
    signer, body = keypair(3), b'{"jsonrpc":"2.0","id":1,"method":"private/whoami"}'
    auth = Authenticator(CHAIN)
    header = http_header(signer, CHAIN, "POST", "/api/v2", body)
    assert auth.verify_header(header, http_data("POST", "/api/v2", body)) == signer.account
    other = http_header(signer, CHAIN, "POST", "/api/v2", body)
    with pytest.raises(RpcError):
        auth.verify_header(other, http_data("POST", "/api/v2", body + b" "))
    for bad in ("Bearer abc", "paraclear-ed25519 client_id=zz", "paraclear-ed25519 ,,,"):
        with pytest.raises(RpcError):
            auth.verify_header(bad, "")

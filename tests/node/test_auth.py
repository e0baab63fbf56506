"""Authentication by signature: what verifies, and every way it must not."""

from __future__ import annotations

import msgspec
import pytest

from paraclear.api import rpc
from paraclear.api.auth import Authenticator, AuthParams
from paraclear.api.rpc import Context, RpcError
from paraclear.client.envelope import Keypair
from paraclear.client.grants import http_data, http_header, sign_auth
from tests.node.support import CHAIN, keypair

NOW = 1_780_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


def authenticator(clock: Clock | None = None) -> Authenticator:
    return Authenticator(CHAIN, window_ms=1_000, clock_ms=clock or (lambda: NOW))


def params(
    auth: Authenticator,
    signer: Keypair,
    chain: str = CHAIN,
    timestamp: int = NOW,
    data: str = "",
) -> AuthParams:
    return msgspec.convert(sign_auth(signer, chain, auth.challenge, data, timestamp), AuthParams)


def refused(auth: Authenticator, p: AuthParams) -> str:
    with pytest.raises(RpcError) as raised:
        auth.verify(p)
    assert raised.value.code == rpc.INVALID_CREDENTIALS
    assert raised.value.data is not None
    return str(raised.value.data["reason"])


def test_signature_authenticates_its_account() -> None:
    signer, auth = keypair(1), authenticator()
    assert auth.verify(params(auth, signer)) == signer.account


def test_replayed_nonce_is_refused() -> None:
    auth = authenticator()
    p = params(auth, keypair(1))
    auth.verify(p)
    assert refused(auth, p) == "nonce already used"


def test_grant_for_another_run_of_the_server_is_refused_with_the_new_challenge() -> None:
    before, after = authenticator(), authenticator()  # a restart draws a new challenge
    p = params(before, keypair(1))
    before.verify(p)
    with pytest.raises(RpcError) as raised:
        after.verify(p)
    assert raised.value.code == rpc.INVALID_CREDENTIALS and raised.value.data is not None
    assert raised.value.data["challenge"] == after.challenge != before.challenge
    forged = msgspec.structs.replace(p, challenge=after.challenge)  # re-labelled: not signed
    assert refused(after, forged) == "bad signature"


def test_stale_or_future_timestamp_is_refused() -> None:
    auth = authenticator()
    assert "ms from" in refused(auth, params(auth, keypair(1), timestamp=NOW - 1_001))
    assert "ms from" in refused(auth, params(auth, keypair(1), timestamp=NOW + 1_001))


def test_used_nonces_are_forgotten_once_their_grants_leave_the_window() -> None:
    clock = Clock()
    auth = authenticator(clock)
    future = params(auth, keypair(1), timestamp=NOW + 1_000)  # accepted until NOW + 2,000
    auth.verify(future)
    for n in range(50):
        auth.verify(params(auth, keypair(2 + n % 3)))
    assert auth.remembered() == 51
    clock.now = NOW + 1_001
    assert auth.remembered() == 1  # only the grant whose timestamp is still in the window
    assert refused(auth, future) == "nonce already used"
    clock.now = NOW + 2_001
    assert auth.remembered() == 0
    assert "ms from" in refused(auth, future)


def test_signature_for_another_chain_is_refused() -> None:
    auth = authenticator()
    assert refused(auth, params(auth, keypair(1), chain="other-chain")) == "bad signature"


def test_claiming_another_account_is_refused() -> None:
    auth = authenticator()
    p = params(auth, keypair(1))
    forged = msgspec.structs.replace(p, client_id=keypair(2).account)
    assert refused(auth, forged) == "bad signature"
    assert refused(auth, msgspec.structs.replace(p, data="tampered")) == "bad signature"


def test_auth_binds_the_context_and_cannot_rebind_it() -> None:
    auth, context = authenticator(), Context()
    result = auth._auth(context, params(auth, keypair(1)))
    assert context.account == keypair(1).account == result["account"]
    with pytest.raises(RpcError):
        auth._auth(context, params(auth, keypair(2)))
    assert context.account == keypair(1).account


def test_http_header_authorises_one_request_body() -> None:
    signer, body = keypair(3), b'{"jsonrpc":"2.0","id":1,"method":"private/whoami"}'
    auth = Authenticator(CHAIN)
    header = http_header(signer, CHAIN, auth.challenge, "POST", "/api/v2", body)
    assert auth.verify_header(header, http_data("POST", "/api/v2", body)) == signer.account
    other = http_header(signer, CHAIN, auth.challenge, "POST", "/api/v2", body)
    with pytest.raises(RpcError):
        auth.verify_header(other, http_data("POST", "/api/v2", body + b" "))
    for bad in ("Bearer abc", "paraclear-ed25519 client_id=zz", "paraclear-ed25519 ,,,"):
        with pytest.raises(RpcError):
            auth.verify_header(bad, "")

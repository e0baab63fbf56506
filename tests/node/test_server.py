"""The API server on a real socket, driven by the client: methods, errors, limits, auth."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

from paraclear.api import rpc
from paraclear.api.limits import Limits
from paraclear.api.rpc import RpcError
from paraclear.api.server import ServerThread
from paraclear.client.async_client import AsyncClient, Stamps
from paraclear.client.connection import Client
from paraclear.client.grants import http_header
from paraclear.client.subscription import ConnectionClosed
from tests.node.support import CHAIN, keypair, running


@pytest.fixture(scope="module")
def server() -> Any:
    with running() as thread:
        yield thread


@pytest.fixture
def client(server: ServerThread) -> Any:
    with Client.connect(server.url, timeout=10, chain_id=CHAIN) as connected:
        yield connected


def error_of(client: Client, method: str, params: dict[str, Any] | None = None) -> RpcError:
    with pytest.raises(RpcError) as raised:
        client.call(method, params)
    return raised.value


def test_public_test_hello_time_and_status(client: Client) -> None:
    assert client.call("public/test") == {"version": "2.1.1"}
    assert client.call("public/hello", {"client_name": "t", "client_version": "1"}) == {
        "version": "2.1.1"
    }
    assert client.call("public/get_time") > 1_700_000_000_000
    assert client.call("public/status") == {"locked": "false", "locked_indices": [], "height": 7}
    assert error_of(client, "public/test", {"expected_result": "exception"}).code == 11094


def test_get_instruments_filters_by_currency_and_kind(client: Client) -> None:
    everything = client.call("public/get_instruments", {"currency": "BTC"})
    assert len(everything) == 4
    futures = client.call("public/get_instruments", {"currency": "BTC", "kind": "future"})
    assert [i["instrument_name"] for i in futures] == ["BTC-PERP"]
    assert client.call("public/get_instruments", {"currency": "ETH"}) == []
    assert client.call("public/get_instruments", {"kind": "spot"}) == []  # Deribit's, none here
    error = error_of(client, "public/get_instruments", {"kind": "swap"})
    assert (
        error.code == rpc.INVALID_PARAMS
        and error.data is not None
        and error.data["param"] == "kind"
    )


def test_get_index_price(client: Client) -> None:
    assert (
        client.call("public/get_index_price", {"index_name": "btc_usdc"})["index_price"] == 60_000.0
    )
    for name in ("eth_usdc", "btc", "btc_eur"):
        error = error_of(client, "public/get_index_price", {"index_name": name})
        assert error.code == rpc.INVALID_PARAMS and error.data == {
            "param": "index_name",
            "reason": error.data["reason"],
        }


def test_unknown_method_and_bad_params_over_the_wire(client: Client) -> None:
    assert error_of(client, "public/nope").code == rpc.METHOD_NOT_FOUND
    error = error_of(client, "public/get_index_price", {"index": "btc_usdc"})
    assert (
        error.code == rpc.INVALID_PARAMS
        and error.data is not None
        and error.data["param"] == "index"
    )


def test_malformed_frames_get_errors_and_the_connection_survives(client: Client) -> None:
    for frame, code in (
        ("{not json", rpc.PARSE_ERROR),
        ('{"jsonrpc": "1.0", "id": 9, "method": "public/test"}', rpc.INVALID_REQUEST),
        ("[]", rpc.INVALID_REQUEST),
    ):
        client.send_raw(frame)
        assert client.next_stray()["error"]["code"] == code
    assert client.call("public/test") == {"version": "2.1.1"}


def test_call_without_an_answer_times_out(server: ServerThread) -> None:
    async def scenario() -> None:
        async with await AsyncClient.connect(server.url) as client:
            hung = asyncio.ensure_future(client.call("public/hang", timeout=0.05))
            with pytest.raises(TimeoutError):
                await hung

    asyncio.run(scenario())


def test_calls_in_one_turn_leave_as_one_batch_and_resolve_separately(server: ServerThread) -> None:
    async def scenario() -> list[Any]:
        async with await AsyncClient.connect(server.url) as client:
            client.batch_limit = 7
            calls = [
                client.call("public/get_index_price", {"index_name": "btc_usdc"}) for _ in range(20)
            ]
            calls.append(client.call("public/nope"))
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(r["index_price"] == 60_000.0 for r in results[:20])
    assert isinstance(results[20], RpcError) and results[20].code == rpc.METHOD_NOT_FOUND


def test_a_stamped_call_says_when_it_reached_the_server_and_came_back(
    server: ServerThread,
) -> None:
    async def scenario() -> list[tuple[Any, Stamps]]:
        async with await AsyncClient.connect(server.url) as client:
            calls = [client.call_stamped("public/get_time") for _ in range(5)]
            return await asyncio.gather(*calls)

    for result, stamps in asyncio.run(scenario()):
        assert stamps.sent <= stamps.server_in <= stamps.server_out <= stamps.received
        assert stamps.server_in // 1000 <= result <= stamps.server_out // 1000  # ms, read between


def test_internal_errors_do_not_leak_details(client: Client) -> None:
    error = error_of(client, "public/crash")
    assert (error.code, error.message, error.data) == (rpc.INTERNAL_ERROR, "internal error", None)


def test_private_method_needs_auth_and_acts_for_the_signer(client: Client) -> None:
    assert error_of(client, "private/whoami").code == rpc.UNAUTHORIZED
    signer = keypair(11)
    assert client.auth(signer)["account"] == signer.account
    assert client.call("private/whoami") == {"account": signer.account}
    assert error_of(client, "public/auth", {"grant_type": "signature"}).code == rpc.INVALID_PARAMS


def test_auth_with_a_wrong_chain_signature_is_refused(server: ServerThread) -> None:
    with Client.connect(server.url, chain_id="other-chain") as other:
        with pytest.raises(RpcError) as raised:
            other.auth(keypair(12))
        assert raised.value.code == rpc.INVALID_CREDENTIALS
        assert error_of(other, "private/whoami").code == rpc.UNAUTHORIZED


def test_subscriptions_deliver_published_messages_with_gap_free_sequences(
    server: ServerThread, client: Client
) -> None:
    subscription = client.subscribe(["trades.BTC-PERP", "book.BTC-PERP"])
    assert subscription.channels == ["trades.BTC-PERP", "book.BTC-PERP"]
    hub = server.server.hub
    for n in range(50):
        hub.publish("trades.BTC-PERP", {"n": n})
    got = [subscription.get(timeout=10) for _ in range(50)]
    assert {channel for channel, _ in got} == {"trades.BTC-PERP"}
    sequences = [data["sequence"] for _, data in got]
    assert [data["prev_sequence"] for _, data in got] == [s - 1 for s in sequences]
    assert sequences == list(range(sequences[0], sequences[0] + 50))
    assert client.call("public/unsubscribe", {"channels": ["book.BTC-PERP"]}) == ["book.BTC-PERP"]


def test_private_channel_delivers_only_to_its_account(server: ServerThread) -> None:
    alice, bob = keypair(21), keypair(22)
    with (
        Client.connect(server.url, chain_id=CHAIN) as a,
        Client.connect(server.url, chain_id=CHAIN) as b,
    ):
        error = error_of(a, "private/subscribe", {"channels": ["user.orders"]})
        assert error.code == rpc.UNAUTHORIZED
        a.auth(alice)
        b.auth(bob)
        sub_a, sub_b = a.subscribe(["user.orders"]), b.subscribe(["user.orders"])
        with pytest.raises(RpcError):
            b.call("public/subscribe", {"channels": ["user.orders"]})
        server.server.hub.publish("user.orders", {"who": "alice"}, account=alice.account)
        server.server.hub.publish("user.orders", {"who": "bob"}, account=bob.account)
        assert sub_a.get()[1]["who"] == "alice"
        assert sub_b.get()[1]["who"] == "bob"


def test_subscribe_over_http_is_refused(server: ServerThread) -> None:
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "public/subscribe",
            "params": {"channels": ["trades.BTC-PERP"]},
        }
    )
    status, reply = post(server, body)
    assert status == 200 and reply["error"]["data"]["error"] == "WebSocketOnly"


def post(
    server: ServerThread, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.http_url + "/api/v2",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return fetch(request)


def fetch(request: urllib.request.Request | str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, msgspec.json.decode(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, msgspec.json.decode(error.read())


def test_http_post_single_and_batch(server: ServerThread) -> None:
    status, reply = post(server, b'{"jsonrpc":"2.0","id":3,"method":"public/test"}')
    assert status == 200 and reply["id"] == 3 and reply["result"] == {"version": "2.1.1"}
    status, reply = post(
        server,
        b'[{"jsonrpc":"2.0","id":1,"method":"public/test"},{"jsonrpc":"2.0","id":2,"method":"x"}]',
    )
    assert [r["id"] for r in reply] == [1, 2] and reply[1]["error"]["code"] == rpc.METHOD_NOT_FOUND
    assert post(server, b"{oops")[1]["error"]["code"] == rpc.PARSE_ERROR
    assert post(server, b'{"jsonrpc":"2.0","method":"public/test"}') == (204, None)


def test_http_get_with_query_params(server: ServerThread) -> None:
    status, reply = fetch(
        server.http_url + "/api/v2/public/get_instruments?currency=BTC&kind=future&expired=false"
    )
    assert status == 200 and [i["instrument_name"] for i in reply["result"]] == ["BTC-PERP"]
    status, reply = fetch(server.http_url + "/api/v2/public/get_instruments?bogus=1")
    assert reply["error"]["data"]["param"] == "bogus"


def test_http_private_request_needs_a_signed_header_for_that_body(server: ServerThread) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"private/whoami"}'
    assert post(server, body)[1]["error"]["code"] == rpc.UNAUTHORIZED
    signer = keypair(31)
    header = http_header(
        signer, CHAIN, server.server.authenticator.challenge, "POST", "/api/v2", body
    )
    assert post(server, body, {"Authorization": header})[1]["result"] == {"account": signer.account}
    status, reply = post(server, body, {"Authorization": header})  # the same signature again
    assert status == 401 and reply["error"]["code"] == rpc.INVALID_CREDENTIALS
    other = http_header(
        signer, CHAIN, server.server.authenticator.challenge, "POST", "/api/v2", body
    )
    status, reply = post(server, body.replace(b'id":1', b'id":2'), {"Authorization": other})
    assert status == 401


def test_deep_json_gets_a_typed_error_over_websocket_and_http(
    server: ServerThread, client: Client
) -> None:
    deep = b'{"jsonrpc":"2.0","id":1,"method":"public/test","params":' + b"[" * 1_000
    deep += b"]" * 1_000 + b"}"
    client.send_raw(deep)
    error = client.next_stray()["error"]
    assert error["code"] == rpc.INVALID_REQUEST and error["data"]["reason"] == "too_deep"
    assert client.call("public/test") == {"version": "2.1.1"}
    status, reply = post(server, deep)
    assert status == 200 and reply["error"]["data"]["reason"] == "too_deep"


def test_metrics_in_prometheus_text(server: ServerThread, client: Client) -> None:
    client.call("public/test")
    with pytest.raises(RpcError):
        client.call("public/nope")
    server.server.metrics.gauge("height", "Latest block height", lambda: 42)
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain")
    assert 'paraclear_rpc_requests_total{method="public/test"}' in text
    assert 'paraclear_rpc_errors_total{code="-32601",method="other"}' in text
    assert "paraclear_ws_connections" in text and "paraclear_height 42.0" in text


def test_dashboard_index_is_served_from_the_static_directory(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>paraclear</h1>")
    with (
        running(static_dir=tmp_path) as thread,
        urllib.request.urlopen(thread.http_url + "/", timeout=10) as r,
    ):
        assert b"paraclear" in r.read()


# --- limits: each on a server of its own ---------------------------------------------------


def test_oversized_frame_gets_an_error_and_huge_frame_closes_only_that_connection() -> None:
    limits = Limits(max_frame_bytes=1_000, hard_frame_bytes=10_000)
    with running(limits) as thread, Client.connect(thread.url) as client:
        client.send_raw('{"pad": "' + "x" * 2_000 + '"}')
        error = client.next_stray()["error"]
        assert (
            error["code"] == rpc.INVALID_REQUEST and "exceeds the limit of 1000" in error["message"]
        )
        assert client.call("public/test") == {"version": "2.1.1"}
        client.send_raw("x" * 20_000)
        assert client.wait_closed().code == 1009
        with Client.connect(thread.url) as other:
            assert other.call("public/test") == {"version": "2.1.1"}


def test_batch_too_long_is_refused() -> None:
    with running(Limits(max_batch=5)) as thread, Client.connect(thread.url) as client:
        client.send_raw(
            msgspec.json.encode(
                [{"jsonrpc": "2.0", "id": n, "method": "public/test"} for n in range(6)]
            )
        )
        assert "exceeds the limit of 5" in client.next_stray()["error"]["message"]


def test_flood_gets_errors_then_disconnect_while_others_are_served() -> None:
    limits = Limits(rate_per_s=1.0, burst=5, flood_strikes=20)

    async def scenario(url: str) -> None:
        async with (
            await AsyncClient.connect(url) as flooder,
            await AsyncClient.connect(url) as calm,
        ):
            results = await asyncio.gather(
                *(flooder.call("public/test") for _ in range(40)), return_exceptions=True
            )
            ok = [r for r in results if isinstance(r, dict)]
            limited = [
                r for r in results if isinstance(r, RpcError) and r.code == rpc.TOO_MANY_REQUESTS
            ]
            assert 5 <= len(ok) <= 7 and len(limited) >= 15
            closed = await flooder.wait_closed()
            assert (closed.code, closed.reason) == (1008, "flood")
            with pytest.raises(ConnectionClosed):
                await flooder.call("public/test")
            assert await calm.call("public/test") == {"version": "2.1.1"}

    with running(limits) as thread:
        asyncio.run(scenario(thread.url))


def test_slow_consumer_is_disconnected_and_publishing_does_not_wait() -> None:
    limits = Limits(max_pending_frames=3)

    async def scenario(thread: ServerThread) -> None:
        async with await AsyncClient.connect(thread.url) as client:
            await client.subscribe(["trades.BTC-PERP"])
            hub = thread.server.hub

            def burst() -> None:  # on the server's loop: nothing can be written in between
                for n in range(10):
                    hub.publish_now("trades.BTC-PERP", {"n": n})

            thread.call_soon(burst)
            closed = await client.wait_closed()
            assert (closed.code, closed.reason) == (1008, "slow consumer")
            assert hub.dropped == 1 and hub.subscription_count() == 0

    with running(limits) as thread:
        asyncio.run(scenario(thread))


def test_subscription_by_callback_and_by_async_iteration(server: ServerThread) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        async with await AsyncClient.connect(server.url) as client:
            heard: list[int] = []
            await client.subscribe(
                ["ticker.BTC-PERP"], lambda channel, data: heard.append(data["n"])
            )
            iterated = await client.subscribe(["trades.BTC-27JUN26-60000-C"])
            hub = server.server.hub
            for n in range(5):
                server.call_soon(hub.publish_now, "ticker.BTC-PERP", {"n": n})
                server.call_soon(hub.publish_now, "trades.BTC-27JUN26-60000-C", {"n": n})
            got = []
            async for _, data in iterated:
                got.append(data["n"])
                if len(got) == 5:
                    break
            return heard, got  # each ticker message arrived before the trades one after it

    heard, got = asyncio.run(scenario())
    assert heard == got == [0, 1, 2, 3, 4]

"""The JSON-RPC dispatcher on its own: every error path, without a network."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.api import rpc
from paraclear.api.limits import Limits, TokenBucket
from paraclear.api.rpc import Context, Dispatcher, Registry, RpcError
from paraclear.clearing.errors import InsufficientFee


class AddParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    a: int
    b: int = 0


class TypedNodeError(Exception):
    """Shaped like ``paraclear.client.errors.NodeError``: string code, message, data()."""

    code = "nonce_replayed"

    def __init__(self) -> None:
        super().__init__("nonce 3 already used")
        self.message = "nonce 3 already used"

    def data(self) -> dict[str, Any]:
        return {"account": "ab", "nonce": 3}


def registry() -> Registry:
    methods = Registry()
    methods.add("public/add", AddParams, lambda context, p: p.a + p.b)
    methods.add("private/add", AddParams, lambda context, p: p.a + p.b)

    async def slow_add(context: Context, p: AddParams) -> int:
        await asyncio.sleep(0)
        return p.a + p.b

    methods.add("public/async_add", AddParams, slow_add)

    def fail(context: Context, p: AddParams) -> None:
        raise [TypedNodeError(), InsufficientFee(account="ab", fee=5, collateral=1), KeyError("x")][
            p.a
        ]

    methods.add("public/fail", AddParams, fail)
    methods.add("public/unencodable", AddParams, lambda context, p: object())
    return methods


def handle(frame: bytes | str, limits: Limits | None = None, **context: Any) -> Any:
    dispatcher = Dispatcher(registry(), limits)
    data = frame.encode() if isinstance(frame, str) else frame
    response = asyncio.run(dispatcher.handle(data, Context(**context)))
    return None if response is None else msgspec.json.decode(response)


def call(method: str, params: Any = None, request_id: Any = 1, **context: Any) -> Any:
    return handle(
        msgspec.json.encode(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        ),
        **context,
    )


def test_result_carries_deribit_envelope() -> None:
    response = call("public/add", {"a": 2, "b": 3}, request_id="x")
    assert response["result"] == 5 and response["id"] == "x" and response["jsonrpc"] == "2.0"
    assert response["usOut"] - response["usIn"] == response["usDiff"] >= 0
    assert response["testnet"] is True


def test_async_handler_is_awaited() -> None:
    assert call("public/async_add", {"a": 2, "b": 3})["result"] == 5


def test_positional_params_map_onto_fields_in_order() -> None:
    assert call("public/add", [4, 5])["result"] == 9
    assert call("public/add", [1, 2, 3])["error"]["code"] == rpc.INVALID_PARAMS


def test_malformed_json_is_a_parse_error_with_null_id() -> None:
    response = handle('{"jsonrpc": "2.0", "id": 1, "method": ')
    assert response["error"]["code"] == rpc.PARSE_ERROR and response["id"] is None


@pytest.mark.parametrize(
    "request_, reason",
    [
        ({"jsonrpc": "1.0", "id": 1, "method": "public/add"}, "jsonrpc"),
        ({"id": 1, "method": "public/add"}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, "method"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "public/add"}, "id"),
        ({"jsonrpc": "2.0", "id": True, "method": "public/add"}, "id"),
        (17, "object"),
    ],
)
def test_invalid_requests_say_what_is_wrong(request_: Any, reason: str) -> None:
    response = handle(msgspec.json.encode(request_))
    assert response["error"]["code"] == rpc.INVALID_REQUEST
    assert reason in response["error"]["message"]


def test_unknown_method_is_method_not_found() -> None:
    response = call("public/nope")
    assert response["error"]["code"] == rpc.METHOD_NOT_FOUND
    assert response["error"]["data"] == {"method": "public/nope"}


@pytest.mark.parametrize(
    "params, param",
    [
        ({"a": "2"}, "a"),
        ({}, "a"),
        ({"a": 1, "c": 2}, "c"),
        ({"a": 1, "b": None}, "b"),
        ("x", "params"),
    ],
)
def test_bad_params_name_the_offending_param(params: Any, param: str) -> None:
    error = call("public/add", params)["error"]
    assert error["code"] == rpc.INVALID_PARAMS
    assert error["data"]["param"] == param, error


def test_lax_context_converts_query_strings() -> None:
    assert call("public/add", {"a": "2", "b": "3"}, lax=True)["result"] == 5


def test_private_method_needs_an_account() -> None:
    assert call("private/add", {"a": 1})["error"]["code"] == rpc.UNAUTHORIZED
    assert call("private/add", {"a": 1}, account="ab")["result"] == 1


def test_typed_node_error_keeps_code_message_and_data() -> None:
    error = call("public/fail", {"a": 0})["error"]
    assert error == {
        "code": rpc.APPLICATION_ERROR,
        "message": "nonce 3 already used",
        "data": {"error": "nonce_replayed", "account": "ab", "nonce": 3},
    }


def test_clearing_failure_becomes_an_application_error_with_its_fields() -> None:
    error = call("public/fail", {"a": 1})["error"]
    assert error["code"] == rpc.APPLICATION_ERROR
    assert error["data"] == {
        "error": "InsufficientFee",
        "account": "ab",
        "fee": 5,
        "collateral": 1,
    }


def test_a_bug_in_a_handler_is_an_internal_error_without_details() -> None:
    error = call("public/fail", {"a": 2})["error"]
    assert error == {"code": rpc.INTERNAL_ERROR, "message": "internal error"}
    assert call("public/unencodable", {"a": 1})["error"]["code"] == rpc.INTERNAL_ERROR


def test_notifications_get_no_answer_even_when_they_fail() -> None:
    assert handle('{"jsonrpc": "2.0", "method": "public/add", "params": {"a": 1}}') is None
    assert handle('{"jsonrpc": "2.0", "method": "public/nope"}') is None


def test_batch_answers_each_request_in_order_and_skips_notifications() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "public/add", "params": {"a": 1}},
        {"jsonrpc": "2.0", "method": "public/add", "params": {"a": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "public/nope"},
        3,
    ]
    responses = handle(msgspec.json.encode(batch))
    assert [r.get("id") for r in responses] == [1, 2, None]
    assert responses[0]["result"] == 1
    assert [r["error"]["code"] for r in responses[1:]] == [
        rpc.METHOD_NOT_FOUND,
        rpc.INVALID_REQUEST,
    ]


def test_batch_of_notifications_only_gets_no_answer() -> None:
    assert handle('[{"jsonrpc": "2.0", "method": "public/add", "params": {"a": 1}}]') is None


def test_empty_and_oversized_batches_are_invalid_requests() -> None:
    assert handle("[]")["error"]["code"] == rpc.INVALID_REQUEST
    request = {"jsonrpc": "2.0", "id": 1, "method": "public/add", "params": {"a": 1}}
    response = handle(msgspec.json.encode([request] * 4), Limits(max_batch=3))
    assert response["error"]["code"] == rpc.INVALID_REQUEST
    assert "batch of 4 requests exceeds the limit of 3" in response["error"]["message"]
    assert len(handle(msgspec.json.encode([request] * 3), Limits(max_batch=3))) == 3


def test_oversized_frame_is_an_invalid_request() -> None:
    frame = msgspec.json.encode(
        {"jsonrpc": "2.0", "id": 1, "method": "public/test", "pad": "x" * 200}
    )
    response = handle(frame, Limits(max_frame_bytes=100))
    assert response["error"]["code"] == rpc.INVALID_REQUEST
    assert "exceeds the limit of 100" in response["error"]["message"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_requests_beyond_the_rate_get_too_many_requests_then_pass_again() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10, burst=2, clock=clock)
    dispatcher = Dispatcher(registry())
    frame = b'{"jsonrpc": "2.0", "id": 1, "method": "public/add", "params": {"a": 1}}'

    def send() -> Any:
        response = asyncio.run(dispatcher.handle(frame, Context(), bucket))
        assert response is not None
        return msgspec.json.decode(response)

    assert [("result" in send()) for _ in range(3)] == [True, True, False]
    clock.now = 0.1
    assert "result" in send()
    error = send()["error"]
    assert error["code"] == rpc.TOO_MANY_REQUESTS and error["data"]["retry_after_ms"] >= 1


def test_observer_sees_every_answer_with_bounded_labels() -> None:
    seen: list[tuple[str, int | None]] = []

    class Observer:
        def on_request(self, method: str, error_code: int | None, seconds: float) -> None:
            seen.append((method, error_code))

    dispatcher = Dispatcher(registry(), observer=Observer())
    for frame in (
        b'{"jsonrpc":"2.0","id":1,"method":"public/add","params":{"a":1}}',
        b'{"jsonrpc":"2.0","id":1,"method":"public/random-name-1"}',
        b"{",
    ):
        asyncio.run(dispatcher.handle(frame, Context()))
    assert seen == [
        ("public/add", None),
        ("other", rpc.METHOD_NOT_FOUND),
        ("parse", rpc.PARSE_ERROR),
    ]


def test_rpc_error_round_trips_through_its_object() -> None:
    error = RpcError(rpc.INVALID_PARAMS, "bad", {"param": "a"})
    again = RpcError.from_object(error.to_object())
    assert (again.code, again.message, again.data) == (error.code, error.message, error.data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_no_frame_raises_out_of_the_handler(frame: bytes) -> None:
    response = handle(frame)
    assert response is None or isinstance(response, dict | list)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "jsonrpc": st.sampled_from(["2.0", "1.0"]) | json_values,
            "id": json_values,
            "method": st.sampled_from(["public/add", "private/add", "public/fail"]) | json_values,
            "params": json_values | st.fixed_dictionaries({"a": json_values}),
        },
    )
)
def test_no_request_object_raises_out_of_the_handler(request_: dict[str, Any]) -> None:
    response = handle(msgspec.json.encode(request_))
    assert response is None or "result" in response or "error" in response


def test_batch_requests_run_concurrently_in_their_order() -> None:
    """The first request waits for the second: a batch run one by one would never end."""
    methods = Registry()
    released = asyncio.Event()
    order: list[str] = []

    async def wait(context: Context, p: AddParams) -> str:
        order.append("wait")
        await released.wait()
        return "released"

    def release(context: Context, p: AddParams) -> str:
        order.append("release")
        released.set()
        return "done"

    methods.add("public/wait", AddParams, wait)
    methods.add("public/release", AddParams, release)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "public/wait", "params": {"a": 0}},
        {"jsonrpc": "2.0", "id": 2, "method": "public/release", "params": {"a": 0}},
    ]
    response = asyncio.run(Dispatcher(methods).handle(msgspec.json.encode(batch), Context()))
    assert response is not None
    assert [r["result"] for r in msgspec.json.decode(response)] == ["released", "done"]
    assert order == ["wait", "release"]


# --- hostile frames (issue 17): typed errors, never an exception -----------------------------


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_frames_nested_too_deep_are_refused_before_parsing(depth: int) -> None:
    frame = b'{"jsonrpc":"2.0","id":1,"method":"public/add","params":{"a":' + b"[" * depth
    frame += b"]" * depth + b"}}"
    error = handle(frame, Limits(max_frame_bytes=1_000_000))["error"]
    assert error["code"] == rpc.INVALID_REQUEST
    assert error["data"] == {"reason": "too_deep", "limit": 32}


def test_nesting_at_the_limit_is_parsed_and_reaches_the_method() -> None:
    frame = b'{"jsonrpc":"2.0","id":1,"method":"public/add","params":{"a":'
    frame += b"[" * 30 + b"]" * 30 + b"}}"  # 32 levels with the request and its params
    error = handle(frame)["error"]
    assert error["code"] == rpc.INVALID_PARAMS and error["data"]["param"] == "a"


@pytest.mark.parametrize("number", [b"1e800000", b"-1e999999999999", b"9" * 5_000])
def test_json_numbers_beyond_any_float_or_integer_are_parse_errors(number: bytes) -> None:
    frame = b'{"jsonrpc":"2.0","id":1,"method":"public/add","params":{"a":' + number + b"}}"
    assert handle(frame)["error"]["code"] in (rpc.PARSE_ERROR, rpc.INVALID_PARAMS)


def test_a_recursion_error_in_decoding_is_a_parse_error() -> None:
    frame = b"[" * 5_000 + b"]" * 5_000  # past the interpreter's recursion limit
    error = handle(frame, Limits(max_depth=10_000))["error"]
    assert error["code"] == rpc.PARSE_ERROR and "recursion" in error["message"]

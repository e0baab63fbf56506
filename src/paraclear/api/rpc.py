"""JSON-RPC 2.0, independent of the transport: errors, the method registry, the dispatcher.
(The error codes and ``RpcError`` are ``paraclear.client.rpc_errors``'s, named here too.)

``Dispatcher.handle`` takes one frame (a WebSocket message or an HTTP body) and returns the
encoded response, or ``None`` when there is nothing to answer (notifications only). The
requests of a batch run concurrently, started in their order (each runs until its first
``await`` before the next starts: an order waiting for its block does not hold up the next
order of the batch), and are answered together in their order. It never
raises: malformed JSON, wrong versions, unknown methods, bad parameters, oversized frames and
batches, rate-limit excess and handler crashes all become JSON-RPC error objects.

Responses carry Deribit's envelope: ``jsonrpc``, ``id``, ``result`` or ``error``, and the
server's receive and send times in microseconds (``usIn``, ``usOut``, ``usDiff``) and
``testnet``.

Each method declares its parameters as a msgspec struct; validation names the offending
parameter in ``error.data.param``. Methods named ``private/...`` need an authenticated
account on the context (see ``paraclear.api.auth``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import msgspec

from paraclear.api.limits import Limits, TokenBucket, deeper_than
from paraclear.client.names import canonical_params
from paraclear.client.rpc_errors import (
    APPLICATION_ERROR,
    INTERNAL_ERROR,
    INVALID_CREDENTIALS,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JSONRPC,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    RpcError,
)
from paraclear.state import TxFailure

__all__ = [
    "APPLICATION_ERROR",
    "INTERNAL_ERROR",
    "INVALID_CREDENTIALS",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "JSONRPC",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "TOO_MANY_REQUESTS",
    "UNAUTHORIZED",
    "Context",
    "Dispatcher",
    "Handler",
    "Method",
    "Observer",
    "Registry",
    "RpcError",
    "now_us",
    "params_error",
    "to_rpc_error",
]

log = logging.getLogger(__name__)


def to_rpc_error(error: BaseException) -> RpcError:
    """The JSON-RPC error for anything a handler raised.

    An ``RpcError`` passes through. Any exception with an integer or string ``code``, a
    ``message`` and a ``data()`` method (the node's typed errors) keeps them. A clearing
    ``TxFailure`` becomes an application error with its typed fields. Anything else is a bug:
    it is logged and the client sees only ``internal error``.
    """
    if isinstance(error, RpcError):
        return error
    code = getattr(error, "code", None)
    data_of = getattr(error, "data", None)
    message = str(getattr(error, "message", "") or error)
    if isinstance(code, (int, str)) and not isinstance(code, bool) and callable(data_of):
        data = dict(data_of())
        if isinstance(code, int):
            return RpcError(code, message, data)
        return RpcError(APPLICATION_ERROR, message, {"error": code, **data})
    if isinstance(error, TxFailure):
        return RpcError(
            APPLICATION_ERROR, error.message, {"error": error.code, **dict(error.details)}
        )
    log.error("internal error in an RPC handler", exc_info=error)
    return RpcError(INTERNAL_ERROR, "internal error")


@dataclass
class Context:
    """Who is calling, over what: passed to every handler.

    ``account``: the authenticated account, or None. ``session``: the WebSocket session
    (subscriptions need one), None over HTTP. ``lax``: parameters came from a query string,
    so strings may be converted to numbers and booleans.
    """

    transport: str = "ws"
    account: str | None = None
    session: Any = None
    lax: bool = False
    peer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Context, Any], Any]


@dataclass(frozen=True)
class Method:
    """A registered method: its parameter struct, handler, and whether it needs an account."""

    name: str
    params: type[msgspec.Struct]
    handler: Handler
    private: bool
    is_async: bool
    raw: bool = False
    """The handler takes the request's ``params`` as sent, unchecked (a front-end forwarding
    the call to the node core, which checks them)."""


class Registry:
    """Methods by name."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def add(self, name: str, params: type[msgspec.Struct], handler: Handler) -> None:
        """Register ``handler(context, params)``; sync or async. Replaces an earlier one."""
        is_async = inspect.iscoroutinefunction(handler)
        self._methods[name] = Method(name, params, handler, name.startswith("private/"), is_async)

    def forward(self, name: str, handler: Handler) -> None:
        """Register an async ``handler(context, request)`` that gets the whole request, its
        ``params`` unchecked (see ``Method.raw``)."""
        self._methods[name] = Method(
            name, msgspec.Struct, handler, name.startswith("private/"), True, raw=True
        )

    def method(self, name: str, params: type[msgspec.Struct]) -> Callable[[Handler], Handler]:
        """Decorator form of ``add``."""

        def register(handler: Handler) -> Handler:
            self.add(name, params, handler)
            return handler

        return register

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods


class Observer(Protocol):
    """Receives one call per request answered (metrics)."""

    def on_request(self, method: str, error_code: int | None, seconds: float) -> None: ...


_PARAM_PATH: Final = re.compile(r"at `\$\.([A-Za-z0-9_]+)")
_PARAM_NAMED: Final = re.compile(r"field `([A-Za-z0-9_]+)`")


def params_error(error: msgspec.ValidationError) -> RpcError:
    """An invalid-params error naming the parameter msgspec complained about."""
    text = str(error)
    match = _PARAM_PATH.search(text) or _PARAM_NAMED.search(text)
    reason = text.split(" - at ")[0]
    return RpcError.invalid_params(match[1] if match else "params", reason)


def now_us() -> int:
    return time.time_ns() // 1000


class Dispatcher:
    """Turns request frames into response frames using a ``Registry``."""

    def __init__(
        self,
        registry: Registry,
        limits: Limits | None = None,
        *,
        testnet: bool = True,
        observer: Observer | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits or Limits()
        self.testnet = testnet
        self.observer = observer
        self._encoder = msgspec.json.Encoder()

    async def handle(
        self, frame: bytes, context: Context, bucket: TokenBucket | None = None
    ) -> bytes | None:
        """The encoded response to one frame, or None if it held only notifications.

        Size and nesting depth are checked before the frame is parsed; nothing raises out
        of here (a bug becomes an internal error, logged)."""
        us_in = now_us()
        try:
            body = self._decode(frame)
            if isinstance(body, list):
                return await self._batch(body, context, bucket, us_in)
            return await self._one(body, context, bucket, us_in)
        except RpcError as error:  # the frame itself: oversized, too deep, not JSON
            label = "parse" if error.data is None else str(error.data["reason"])
            return self._error_frame(None, error, us_in, label)
        except Exception as error:
            return self._error_frame(None, to_rpc_error(error), us_in, "other")

    async def call(self, request: dict[str, Any], context: Context) -> Any:
        """The result of one request object (no rate limit: a front-end took it); raises
        what its handler raised, or ``RpcError``."""
        return await self._call(request, context, None)

    def _decode(self, frame: bytes) -> Any:
        """The JSON value of a frame. Raises RpcError (oversized, too deep, parse error)."""
        limit = self.limits.max_frame_bytes
        if len(frame) > limit:
            message = f"frame of {len(frame)} bytes exceeds the limit of {limit}"
            raise RpcError(INVALID_REQUEST, message, {"reason": "oversized", "limit": limit})
        depth = self.limits.max_depth
        if deeper_than(frame, depth):
            message = f"frame nests arrays and objects deeper than {depth} levels"
            raise RpcError(INVALID_REQUEST, message, {"reason": "too_deep", "limit": depth})
        try:
            return msgspec.json.decode(frame)
        except (msgspec.DecodeError, RecursionError) as error:
            raise RpcError(PARSE_ERROR, f"parse error: {error}") from None

    async def _batch(
        self, body: list[Any], context: Context, bucket: TokenBucket | None, us_in: int
    ) -> bytes | None:
        if not body:
            return self._error_frame(None, RpcError(INVALID_REQUEST, "empty batch"), us_in, "batch")
        if len(body) > self.limits.max_batch:
            message = f"batch of {len(body)} requests exceeds the limit of {self.limits.max_batch}"
            return self._error_frame(None, RpcError(INVALID_REQUEST, message), us_in, "batch")
        answers = await asyncio.gather(*(self._one(r, context, bucket, us_in) for r in body))
        parts = [answer for answer in answers if answer is not None]
        return b"[" + b",".join(parts) + b"]" if parts else None

    async def _one(
        self, request: Any, context: Context, bucket: TokenBucket | None, us_in: int
    ) -> bytes | None:
        if not isinstance(request, dict):
            return self._error_frame(
                None, RpcError(INVALID_REQUEST, "a request must be an object"), us_in, "invalid"
            )
        request_id = request.get("id")
        if not _valid_id(request_id):
            message = "id must be a string, an integer or null"
            return self._error_frame(None, RpcError(INVALID_REQUEST, message), us_in, "invalid")
        notification = "id" not in request
        name = request.get("method")
        label = name if isinstance(name, str) and name in self.registry else "other"
        try:
            result = await self._call(request, context, bucket)
        except Exception as error:
            if notification:
                return None
            return self._error_frame(request_id, to_rpc_error(error), us_in, label)
        if notification:
            return None
        return self._result_frame(request_id, result, us_in, label)

    async def _call(
        self, request: dict[str, Any], context: Context, bucket: TokenBucket | None
    ) -> Any:
        if request.get("jsonrpc") != JSONRPC:
            raise RpcError(INVALID_REQUEST, 'jsonrpc must be "2.0"')
        name = request.get("method")
        if not isinstance(name, str):
            raise RpcError(INVALID_REQUEST, "method must be a string")
        if bucket is not None and not bucket.take():
            raise RpcError(
                TOO_MANY_REQUESTS, "too many requests", {"retry_after_ms": bucket.retry_after_ms()}
            )
        method = self.registry.get(name)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {name}", {"method": name})
        if method.private and context.account is None:
            raise RpcError(UNAUTHORIZED, f"{name} needs an authenticated account (public/auth)")
        if method.raw:
            return await method.handler(context, request)
        params = self._params(method, request.get("params"), context.lax)
        if method.is_async:
            return await method.handler(context, params)
        return method.handler(context, params)

    @staticmethod
    def _params(method: Method, raw: Any, lax: bool) -> msgspec.Struct:
        if raw is None:
            raw = {}
        elif isinstance(raw, list):
            names = method.params.__struct_fields__
            if len(raw) > len(names):
                raise RpcError.invalid_params("params", f"at most {len(names)} positional params")
            raw = dict(zip(names, raw, strict=False))
        elif not isinstance(raw, dict):
            raise RpcError.invalid_params("params", "params must be an object or an array")
        try:
            return msgspec.convert(canonical_params(raw), method.params, strict=not lax)
        except msgspec.ValidationError as error:
            raise params_error(error) from None

    def _result_frame(self, request_id: Any, result: Any, us_in: int, label: str) -> bytes:
        us_out = now_us()
        try:
            frame = self._encoder.encode(
                {
                    "jsonrpc": JSONRPC,
                    "id": request_id,
                    "result": result,
                    "usIn": us_in,
                    "usOut": us_out,
                    "usDiff": us_out - us_in,
                    "testnet": self.testnet,
                }
            )
        except (TypeError, ValueError, OverflowError) as error:
            return self._error_frame(request_id, to_rpc_error(error), us_in, label)
        self._observe(label, None, us_in, us_out)
        return frame

    def _error_frame(self, request_id: Any, error: RpcError, us_in: int, label: str) -> bytes:
        us_out = now_us()
        self._observe(label, error.code, us_in, us_out)
        try:
            return self._encoder.encode(
                {
                    "jsonrpc": JSONRPC,
                    "id": request_id,
                    "error": error.to_object(),
                    "usIn": us_in,
                    "usOut": us_out,
                    "usDiff": us_out - us_in,
                    "testnet": self.testnet,
                }
            )
        except (TypeError, ValueError, OverflowError):
            fallback = RpcError(error.code, error.message)
            return self._encoder.encode(
                {"jsonrpc": JSONRPC, "id": None, "error": fallback.to_object()}
            )

    def _observe(self, label: str, code: int | None, us_in: int, us_out: int) -> None:
        if self.observer is not None:
            self.observer.on_request(label, code, (us_out - us_in) / 1e6)


def _valid_id(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int) and not isinstance(value, bool))
    )

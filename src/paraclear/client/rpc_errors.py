"""JSON-RPC errors as a node's API answers them: the codes (Deribit's where it has one) and
``RpcError``, which the server raises and the client raises again from an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

JSONRPC: Final = "2.0"
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Application errors, numbered as Deribit numbers them where it has one.
APPLICATION_ERROR: Final = 10000
"""A typed node or clearing error; ``data.error`` names it (its code), the rest of ``data``
holds its typed fields."""
TOO_MANY_REQUESTS: Final = 10028
INVALID_CREDENTIALS: Final = 13004
UNAUTHORIZED: Final = 13009


class RpcError(Exception):
    """A JSON-RPC error: an integer ``code``, a ``message`` and optional structured ``data``."""

    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = dict(data) if data is not None else None

    def to_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def from_object(cls, error: Mapping[str, Any]) -> RpcError:
        """The error a response's ``error`` member describes (used by the client)."""
        code = error.get("code")
        data = error.get("data")
        return cls(
            code if isinstance(code, int) else INTERNAL_ERROR,
            str(error.get("message", "")),
            data if isinstance(data, Mapping) else None,
        )

    @classmethod
    def invalid_params(cls, param: str, reason: str) -> RpcError:
        return cls(
            INVALID_PARAMS, f"invalid params: {param}: {reason}", {"param": param, "reason": reason}
        )

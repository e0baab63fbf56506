"""Deribit's names for our instruments and channels, accepted wherever a client names one.

Perpetuals are listed as ``BTC-PERP``; Deribit calls a USDC-settled perpetual
``BTC_USDC-PERPETUAL`` and its inverse one ``BTC-PERPETUAL``. Both are aliases of
``BTC-PERP`` here (every contract settles in USDC), and so is Deribit's ``BTC_USDC-`` prefix
of a linear option (``BTC_USDC-27JUN26-60000-C`` is ``BTC-27JUN26-60000-C``). Answers use
the canonical name; a subscription keeps the channel name the client gave.

>>> canonical("BTC_USDC-PERPETUAL"), canonical("ETH-PERPETUAL"), canonical("BTC-PERP")
('BTC-PERP', 'ETH-PERP', 'BTC-PERP')
>>> canonical("SOL_USDC-5JUL26-150-C")
'SOL-5JUL26-150-C'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_PERPETUAL: Final = re.compile(r"^(?P<u>[A-Z][A-Z0-9]{0,9})(?:_USDC)?-PERPETUAL$")
_LINEAR: Final = re.compile(r"^(?P<u>[A-Z][A-Z0-9]{0,9})_USDC-(?P<rest>.+)$")
NAME_PARAMS: Final = ("instrument_name",)
"""Parameters that hold an instrument name, translated by ``canonical_params``."""


def canonical(name: str) -> str:
    """The listed name of an instrument Deribit names ``name`` (``name`` if not an alias)."""
    if match := _PERPETUAL.match(name):
        return f"{match['u']}-PERP"
    if match := _LINEAR.match(name):
        return f"{match['u']}-{match['rest']}"
    return name


def canonical_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """``params`` with Deribit's instrument names replaced by the listed ones."""
    if not any(isinstance(params.get(name), str) for name in NAME_PARAMS):
        return params
    changed = dict(params)
    for name in NAME_PARAMS:
        value = changed.get(name)
        if isinstance(value, str):
            changed[name] = canonical(value)
    return changed

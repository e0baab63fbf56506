"""``borrowed``: an array as compiled kernels pass it around, without its reference count.

numba counts references to every array a compiled function holds: a function taking
arrays increments each one's count on entry and decrements it on every way out, and a loop
that may assign an array variable again does both on every pass. Each is a call into its
runtime with an atomic operation, which numba's pruning of them often leaves in place (in
functions with several exits, calls and raise paths, which the kernels are). Measured with
``perf``: the calls were 34 % of the state tree's update and 6 % of a block of order flow
end to end, half of the transaction kernels' time.

A kernel called from Python holds its arguments for the whole call. Inside it,
``borrowed(array)`` is the same array without an owner (numba's ``meminfo`` null, as for an
array made from a raw pointer): whatever it is passed to and every view of it count nothing
(numba's runtime returns at once on a null owner). It is valid only while the array it
borrows from is held by someone else: borrow a function's arguments (their caller holds
them for the call), never an array the function made itself (numba frees that after its
last use, which may come before the borrowed one's), and never return or store it.
"""

from __future__ import annotations

from typing import Any

from numba.core import cgutils, types
from numba.extending import intrinsic

_cgutils: Any = cgutils  # untyped, as numba is


def _borrowed(typingctx, array):  # type: ignore[no-untyped-def]
    del typingctx
    if not isinstance(array, types.Array):
        return None
    signature = array(array)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        source = context.make_array(sig.args[0])(context, builder, args[0])
        made = context.make_array(sig.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(made, field, getattr(source, field))
        made.meminfo = _cgutils.get_null_value(made.meminfo.type)
        made.parent = _cgutils.get_null_value(made.parent.type)
        return made._getvalue()

    return signature, codegen


borrowed: Any = intrinsic(_borrowed)

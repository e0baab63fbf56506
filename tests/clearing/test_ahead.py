"""``run_orders``' kernels compiled ahead (``clearing.kernels.ahead``) have the signatures
their callers use: compiling ``run_orders`` again after the parts (a copy without numba's
cache, so that it types every call it makes), and ``place`` and ``amend`` (which call the
margin check), compiles nothing else. On a cold cache ``run_orders`` then links the parts
instead of compiling them again."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_CHECK = """
import json
import numba
from numba.core import event
from paraclear.clearing import ClearingMachine
from paraclear.clearing.kernels import ahead
from paraclear.clearing.kernels.run import run_orders

for part in ahead.PARTS:
    ahead.compile_part(part)
ClearingMachine(engine="compiled").batch_runner.warm_up()
calls = [(run_orders, run_orders.signatures[0])]
calls += [(k, ahead.signature(k)) for k in ahead.PARTS["orders"][:2]]
compiled = []

class Watch(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass

with event.install_listener("numba:compile", Watch()):
    for caller, signature in calls:
        numba.njit(nogil=True)(caller.py_func).compile(signature)
print(json.dumps({
    "copies": [caller.py_func.__qualname__ for caller, _ in calls],
    "compiled": compiled,
    "signatures": sorted({
        len(k.signatures) for kernels in ahead.PARTS.values() for k in kernels
    }),
}))
"""


def test_the_parts_compiled_ahead_are_the_signatures_their_callers_link() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHECK)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["copies"] == ["run_orders", "place", "amend"]
    assert result["compiled"] == result["copies"]  # each copy, and nothing it calls
    assert result["signatures"] == [1]  # each kernel of the parts has one signature

"""The warm-up step: every kernel is reached by a step, each command finds every kernel
signature it uses already there (compiled or loaded from numba's cache), and a cache nobody
can write is said once and worked around. Each check runs in a fresh process: a kernel's
signatures are per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from paraclear.cli import main

_COVERAGE = """
import json, types
from paraclear.warmup import kernels, warm

warm("all")
found = kernels()

def callees(func):
    # kernels a kernel's code names (helpers compile inside their callers)
    codes, names = [func.__code__], set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    values = (func.__globals__.get(name) for name in names)
    return {id(v) for v in values if v is not None}

called = set().union(*(callees(k.py_func) for k in found.values()))
print(json.dumps({
    "kernels": len(found),
    "unreached": sorted(
        name for name, k in found.items() if not k.signatures and id(k) not in called
    ),
}))
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=900
    )


def test_every_kernel_in_the_package_is_compiled_by_a_step_or_inside_one() -> None:
    done = _python(_COVERAGE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kernels"] >= 40  # the walk found the package's kernels
    assert result["unreached"] == []


_AFTER_WARMUP = """
import json, sys
from numba.core.registry import CPUDispatcher
from paraclear.cli import demo, main, simulate
from paraclear import warmup

added = []  # signatures a kernel got after the warm-up: compiled, or loaded from the cache
add_overload = CPUDispatcher.add_overload

def watched(self, cres):
    frames, frame = [], sys._getframe()
    while frame is not None:
        frames.append(frame.f_globals.get("__name__", ""))
        frame = frame.f_back
    from_agents = any(name.startswith("paraclear.sim.agents") for name in frames)
    added.append([self.py_func.__module__ + "." + self.py_func.__qualname__, from_agents])
    add_overload(self, cres)

def then_watch(command, *args, **kwargs):
    # the command's own warm-up (or the steps of {steps!r} instead), then watch
    report = warmup.warm({steps!r}) if {steps!r} else warmup.warm(command, *args, **kwargs)
    CPUDispatcher.add_overload = watched
    return report

demo.warm = simulate.warm = then_watch
code = main({argv!r})
print(json.dumps({{"code": code, "added": added}}), file=sys.stderr)
"""


def _run_after_warmup(steps: str | None, argv: list[str]) -> list[list[object]]:
    done = _python(_AFTER_WARMUP.format(steps=steps, argv=argv))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["code"] == 0
    added: list[list[object]] = result["added"]
    return added


_DEMO = ["demo", "--minutes", "10", "--accounts", "12", "--html", "-", "--json", "--quiet"]


def test_the_demo_after_its_warmup_needs_no_other_kernel() -> None:
    assert _run_after_warmup(None, _DEMO) == []


def test_the_node_steps_cover_everything_but_the_demo_agents() -> None:
    """serve and replay warm the node's steps: in the demo, only the agents' own analytics
    (called from ``paraclear.sim.agents``: the vol takers' implied vol, from their sixth
    minute) compile after them."""
    added = _run_after_warmup("serve", _DEMO)
    assert added  # the agents' kernels are not among the node's steps
    assert [name for name, from_agents in added if not from_agents] == []


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--engine", "reference"],
        ["--margin", "portfolio", "--executor", "parallel", "--backend", "inline"],
        ["--scenario", "crash", "--accounts", "40"],
    ],
)
def test_simulate_after_its_warmup_needs_no_other_kernel(argv: list[str]) -> None:
    small = ["simulate", "--blocks", "3", "--txs-per-block", "60", "--json", "--quiet"]
    assert _run_after_warmup(None, small + argv) == []


def test_a_cache_nobody_can_write_is_said_once_and_the_kernels_still_run() -> None:
    done = _python("""
        from numba.core import caching
        for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"):
            setattr(getattr(caching, name), "from_function", classmethod(lambda *_: None))
        import numpy as np
        from paraclear.risk import portfolio_margin
        pnl = np.array([[-3_000_000, 0, 2_000_000]], dtype=np.int64)
        print(portfolio_margin([500_000], pnl, -pnl).maintenance)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1500000"]
    assert done.stderr.count("numba cannot write its cache") == 1


def test_warmup_json_reports_every_step_of_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warmup", "--command", "serve", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == "serve"
    assert [step["step"] for step in report["steps"] if not step["part"]] == [
        "state tree",
        "block schedule",
        "clearing kernels",
        "marks",
        "greeks",
    ]
    assert report["seconds"] >= sum(step["seconds"] for step in report["steps"]) - 0.01


def test_warmup_refuses_an_unknown_command() -> None:
    from paraclear.warmup import warm

    with pytest.raises(ValueError, match="unknown command"):
        warm("trade")


def test_on_a_cold_cache_each_step_is_compiled_once_and_loaded_where_another_did(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two processes claim the steps: this one compiles the first, and whichever steps it
    claims after it; every step compiles in exactly one process, and this one loads from
    numba's cache the ones the other process compiled (which one takes which depends on
    timing; the order of claims is ``tests/test_warmup_claims.py``'s)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import json
            from paraclear import warmup
            from paraclear.risk import _black_kernels, _iv_kernels

            warmup.COMMANDS["cheap"] = ("greeks", "marks", "implied vol")
            report = warmup.warm("cheap", processes=2)
            kernels = {
                "greeks": _black_kernels.greeks_strict_serial,
                "marks": _black_kernels.price_strict_serial,
                "implied vol": _iv_kernels.implied_vol_loop_serial,
            }
            print(json.dumps({
                "report": report.as_json(),
                "here": {
                    step: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
                    for step, k in kernels.items()
                },
                "again": warmup.warm("cheap", processes=2).compiled,
            }))
        """)],
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    steps = result["report"]["steps"]
    assert [step["step"] for step in steps] == ["greeks", "marks", "implied vol"]
    compiled = [{k["kernel"].rsplit(".", 1)[1] for k in step["compiled"]} for step in steps]
    assert compiled == [
        {"_greeks_loop_serial"},
        {"_price_loop_serial"},
        {"implied_vol_loop_serial"},
    ]
    assert steps[0]["process"] == 0  # the first compile found the cache cold, here
    for step in steps:  # [loaded from the cache, compiled] in this process
        assert result["here"][step["step"]] == ([0, 1] if step["process"] == 0 else [1, 0])
    assert len(result["report"]["processes_cpu_seconds"]) == 2
    assert result["again"] is False


def test_when_the_other_process_fails_this_one_compiles_every_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import json, sys
            from paraclear import warmup

            sys.executable = "false"  # the other process exits at once, having said nothing
            warmup.COMMANDS["cheap"] = ("greeks", "marks")
            print(json.dumps(warmup.warm("cheap", processes=2).as_json()))
        """)],
        env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert [(step["step"], step["process"], len(step["compiled"])) for step in steps] == [
        ("greeks", 0, 1),
        ("marks", 0, 1),
    ]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_the_default_number_of_compiling_processes_follows_the_cpu_affinity() -> None:
    done = _python("""
        import os
        from paraclear.warmup import _cores
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(_cores())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]

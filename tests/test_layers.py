"""The package layers of ``docs/design.md``: a package imports only the packages above it.

Checked two ways: every ``paraclear`` import written in a module (at its top or inside a
function) against the table, and what importing a package really loads, in a fresh
interpreter: ``paraclear.execution`` loads no derivatives code, ``paraclear.client`` no node
code, and the sim's agents (which trade through the client) no node code either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Final

SRC: Final = Path(__file__).parent.parent / "src" / "paraclear"
LAYERS: Final = (
    "state",
    "execution",
    "risk",
    "clearing",
    "market",
    "client",
    "chain",
    "api",
    "sim",
    "bench",
)
"""From the bottom up: each may import those before it, never one after it."""
BASE: Final = frozenset(
    {"numbers", "int128", "int128_reference", "numba_cache", "jit", "borrowed", "cluster"}
)
"""Modules and packages that import no other part of paraclear: anyone may use them."""
TOP: Final = frozenset({"cli", "warmup", "warmup_claims", "warmup_steps", "__main__", "__init__"})
"""May import anything; nothing below imports them."""
NODE: Final = ("paraclear.chain", "paraclear.api", "paraclear.sim.market", "paraclear.bench")
DERIVATIVES: Final = (
    "paraclear.clearing",
    "paraclear.market",
    "paraclear.risk",
    "paraclear.client",
    "paraclear.chain",
    "paraclear.api",
    "paraclear.sim",
)


def imported(path: Path) -> set[str]:
    """The second part of every ``paraclear.X...`` a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "paraclear":
                modules = [f"paraclear.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        found |= {m.split(".")[1] for m in modules if m.startswith("paraclear.")}
    return found


def package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_every_import_points_up_the_table() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        package = package_of(path)
        if package in TOP:
            continue
        allowed = set(BASE) | {package}
        if package in LAYERS:
            allowed |= set(LAYERS[: LAYERS.index(package)])
        for target in sorted(imported(path) - allowed):
            wrong.append(f"{path.relative_to(SRC)} imports paraclear.{target}")
    assert not wrong, "\n".join(wrong)
    assert {package_of(p) for p in SRC.iterdir() if p.name != "py.typed"} - {"__pycache__"} <= (
        set(LAYERS) | BASE | TOP | {"_version"}
    )


def loaded_by(*modules: str) -> set[str]:
    """The ``paraclear`` modules a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('paraclear')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_execution_loads_no_derivatives_code() -> None:
    loaded = loaded_by("paraclear.execution")
    assert "paraclear.execution.parallel" in loaded
    assert not [m for m in loaded if m.startswith(DERIVATIVES)]


def test_the_client_and_the_agents_load_no_node_code() -> None:
    loaded = loaded_by("paraclear.client", "paraclear.sim.agents")
    assert {"paraclear.client.async_client", "paraclear.sim.agents.maker"} <= loaded
    assert not [m for m in loaded if m.startswith(NODE)]


def test_the_table_catches_an_import_down_it(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from paraclear.api.views import price\n")
    assert imported(module) == {"api"}

"""Compile the numba kernels a command needs before it starts, with progress and timings.

numba compiles a kernel the first time it is called and keeps the machine code in its
on-disk cache (``__pycache__`` next to the source, or ``NUMBA_CACHE_DIR``); a later process
loads it in milliseconds. On a fresh machine the demo's kernels take half a minute to
compile, which used to happen silently inside the first blocks. Here:

* a **step** (``warmup_steps.STEPS``) runs one area's kernels on tiny inputs through the
  same public functions that real work calls, so the argument types are the real ones and
  the later calls find their code compiled (``tests/test_warmup.py`` runs each command
  after its warm-up and checks that it needs no other kernel signature, and that every
  kernel in the package is reached by a step);
* each **command** names the steps it needs (``warmup_steps.COMMANDS``);
* :func:`warm` runs the steps, timing each one and each kernel compiled (a listener on
  numba's ``numba:compile`` event, which fires for compiles, not for cache loads), and
  shows a progress line only while something actually compiles;
* numba compiles one kernel at a time per process, so when the first compile shows that
  the cache is cold, other processes (one per core) compile a round-robin share of the
  later steps into the cache meanwhile, and this process then loads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from numba.core import event

from paraclear import numba_cache
from paraclear.warmup_steps import COMMANDS, STEPS


class Progress(Protocol):
    """Shows a progress line; ``final`` marks the last one (``ProgressLine.show``)."""

    def __call__(self, text: str, *, final: bool = False) -> None: ...


def _clock() -> tuple[float, float]:
    """Wall and CPU seconds so far, the CPU of this process and of its finished helpers:
    compile time is CPU time, and on a busy machine the wall time is a multiple of it."""
    times = os.times()
    return (
        time.perf_counter(),
        times.user + times.system + times.children_user + times.children_system,
    )


@dataclass(frozen=True, slots=True)
class KernelCompile:
    """One kernel compiled for one signature; the seconds include the helpers it calls."""

    kernel: str
    seconds: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class StepTime:
    """One step: seconds spent compiling, or loading from numba's cache, and what compiled."""

    step: str
    seconds: float
    cpu_seconds: float
    compiled: tuple[KernelCompile, ...]


@dataclass(frozen=True, slots=True)
class WarmupReport:
    command: str
    seconds: float
    cpu_seconds: float
    steps: tuple[StepTime, ...]

    @property
    def compiled(self) -> bool:
        """Whether anything compiled (False: everything came from numba's cache)."""
        return any(step.compiled for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "compiled": self.compiled,
            "steps": [_step_json(step) for step in self.steps],
        }


def _step_json(step: StepTime) -> dict[str, Any]:
    compiled = [
        {"kernel": k.kernel, "seconds": round(k.seconds, 3), "cpu_seconds": round(k.cpu_seconds, 3)}
        for k in step.compiled
    ]
    return {
        "step": step.step,
        "seconds": round(step.seconds, 3),
        "cpu_seconds": round(step.cpu_seconds, 3),
        "compiled": compiled,
    }


@dataclass
class _CompileWatch(event.Listener):
    """Times top-level compiles (a kernel's helpers compile inside it) and calls ``on_first``
    when the first one of the current step starts."""

    on_first: Callable[[], None]
    compiled: list[KernelCompile] = field(default_factory=list)
    _starts: list[tuple[float, float]] = field(default_factory=list)

    def on_start(self, ev: event.Event) -> None:
        if not self._starts and not self.compiled:
            self.on_first()
        self._starts.append(_clock())

    def on_end(self, ev: event.Event) -> None:
        (wall, cpu), (wall_now, cpu_now) = self._starts.pop(), _clock()
        if not self._starts:
            func = ev.data["dispatcher"].py_func
            name = f"{func.__module__}.{func.__qualname__}"
            self.compiled.append(KernelCompile(name, wall_now - wall, cpu_now - cpu))


@contextmanager
def _watching(on_first: Callable[[], None]) -> Iterator[_CompileWatch]:
    watch = _CompileWatch(on_first)
    with event.install_listener("numba:compile", watch):
        yield watch


class _Helpers:
    """Other processes compiling later steps into numba's cache while this one compiles the
    rest: numba compiles one kernel at a time per process (a global lock, held mostly by
    Python code), so only processes use more cores. Started when a compile shows that the
    cache is cold, never when the cache is private to this process."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.started = False
        self.handed: set[str] = set()
        """The steps another process compiles."""
        self.running: list[tuple[tuple[str, ...], subprocess.Popen[str]]] = []

    def start(self, names: tuple[str, ...]) -> None:
        """Share ``names`` (the steps after the one compiling) round robin between this
        process, which keeps the first and every ``processes``-th after it, and the others;
        once."""
        count = min(len(names), self.processes - 1)
        if self.started or count < 1 or numba_cache.private():
            return
        self.started = True
        for part in (names[i :: count + 1] for i in range(1, count + 1)):
            command = [sys.executable, "-m", "paraclear.warmup", *part]
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            self.running.append((part, process))
            self.handed.update(part)

    def finish(self, show: Progress) -> dict[str, StepTime]:
        """Wait for the processes; the steps they compiled (a failed one reports nothing,
        and this process compiles its steps itself)."""
        done: dict[str, StepTime] = {}
        if self.running:
            count = len(self.running)
            show(f"compiling kernels (first run only): the rest in {count} more process(es)")
        for _, process in self.running:
            out, _ = process.communicate()
            try:
                steps = [_step_from_json(step) for step in json.loads(out)]
            except (ValueError, TypeError, KeyError):
                continue  # it failed or said something else: this process compiles its steps
            if process.returncode == 0:
                done.update((step.step, step) for step in steps)
        self.running = []
        return done

    def stop(self) -> None:
        """End the processes still running (this one was interrupted)."""
        for _, process in self.running:
            process.kill()
            process.wait()
        self.running = []


def _step_from_json(step: dict[str, Any]) -> StepTime:
    compiled = tuple(KernelCompile(**kernel) for kernel in step["compiled"])
    return StepTime(step["step"], step["seconds"], step["cpu_seconds"], compiled)


def _run_step(name: str, announce: Callable[[], None]) -> StepTime:
    wall, cpu = _clock()
    with _watching(announce) as watch:
        STEPS[name]()
    wall_now, cpu_now = _clock()
    return StepTime(name, wall_now - wall, cpu_now - cpu, tuple(watch.compiled))


def warm(
    command: str = "all",
    progress: Progress | None = None,
    processes: int | None = None,
    steps: tuple[str, ...] | None = None,
) -> WarmupReport:
    """Compile (or load from numba's cache) the kernels ``command`` needs: the steps
    ``COMMANDS[command]``, or ``steps`` when given (a command whose options decide).

    ``progress`` gets a line when a step starts compiling ("compiling kernels (first run
    only): 3/6 marks") and a last line with the total, only if something compiled. When a
    step compiles, up to ``processes - 1`` other processes (default: one per core) take a
    round-robin share of the later steps and compile them at the same time; this process
    compiles its own share, then loads theirs from numba's cache.

    Raises:
        ValueError: ``command`` is not in ``COMMANDS`` or a step not in ``STEPS``.
    """
    if steps is None and command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    names = COMMANDS[command] if steps is None else steps
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        raise ValueError(f"unknown warm-up steps {unknown}; choose from {', '.join(STEPS)}")
    helpers = _Helpers(processes or os.cpu_count() or 1)
    show = progress or (lambda text, final=False: None)

    def announcer(number: int) -> Callable[[], None]:
        def announce() -> None:
            show(f"compiling kernels (first run only): {number}/{len(names)} {names[number - 1]}")
            helpers.start(names[number:])

        return announce

    done: dict[str, StepTime] = {}
    wall, cpu = _clock()
    try:
        for number, name in enumerate(names, 1):
            if name not in helpers.handed:
                done[name] = _run_step(name, announcer(number))
        elsewhere = helpers.finish(show)
        for number, name in enumerate(names, 1):  # load what the others compiled
            if name in helpers.handed:
                step = _run_step(name, announcer(number))  # compiles if another failed
                done[name] = elsewhere.get(name, step)
    finally:
        helpers.stop()
    wall_now, cpu_now = _clock()
    report = WarmupReport(
        command, wall_now - wall, cpu_now - cpu, tuple(done[name] for name in names)
    )
    if report.compiled:
        took = f"compiled kernels in {report.seconds:.1f} s ({report.cpu_seconds:.1f} s CPU)"
        show(f"{took}; later starts load them from numba's cache", final=True)
    return report


def kernels() -> dict[str, Any]:
    """Every CPU kernel (numba dispatcher) defined in the package, by module and function
    name. Imports every module of the package."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import paraclear

    found: dict[str, Any] = {}
    for module in pkgutil.walk_packages(paraclear.__path__, "paraclear."):
        if module.name.endswith("__main__"):
            continue
        names = vars(importlib.import_module(module.name))
        for value in names.values():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.name:
                found[f"{module.name}.{value.py_func.__qualname__}"] = value
    return found


if __name__ == "__main__":  # a helper process of warm(): python -m paraclear.warmup STEP...
    print(json.dumps([_step_json(_run_step(name, lambda: None)) for name in sys.argv[1:]]))

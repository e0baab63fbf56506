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
  the cache is cold, other processes (one per core) start (``_Pool``): every process,
  this one included, claims the next step whenever it is free, in the order of
  ``warmup_claims.Claims`` (the longest chain of work first; a step's **parts**, kernels
  it calls that can compile ahead, before it), and this process then loads from the
  cache what the others compiled. The report says which process compiled each step and
  each process's CPU seconds (the longest is the critical path on idle cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from numba.core import event

from paraclear import numba_cache
from paraclear.warmup_claims import Claims
from paraclear.warmup_steps import COMMANDS, NEEDS, PARTS, STEPS, WEIGHTS


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
    """One step or part: seconds spent compiling, or loading from numba's cache, what
    compiled, and in which process (0: this one; 1 and up: the others of ``_Pool``)."""

    step: str
    seconds: float
    cpu_seconds: float
    compiled: tuple[KernelCompile, ...]
    process: int = 0


@dataclass(frozen=True, slots=True)
class WarmupReport:
    command: str
    seconds: float
    cpu_seconds: float
    steps: tuple[StepTime, ...]
    """The command's steps in order, each after the parts compiled ahead for it (on a cold
    cache only)."""
    processes: tuple[float, ...] = ()
    """CPU seconds of each process that compiled, this one first (the others' include their
    start); the longest is the critical path."""

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
            "processes_cpu_seconds": [round(seconds, 3) for seconds in self.processes],
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
        "part": step.step in PARTS,
        "process": step.process,
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


class _Helper:
    """Another process compiling steps into numba's cache, fed by a thread of this one that
    claims the next step whenever the process is free (``python -m paraclear.warmup N``)."""

    def __init__(self, number: int, pool: _Pool) -> None:
        self.number, self.pool = number, pool
        command = [sys.executable, "-m", "paraclear.warmup", str(number)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.cpu_seconds = 0.0
        """The process's CPU seconds, its start included (once it has ended)."""
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        process, claims = self.process, self.pool.claims
        assert process.stdin is not None and process.stdout is not None and claims is not None
        try:
            while (name := claims.claim()) is not None:
                self.pool.starting(name, self.number)
                try:
                    process.stdin.write(name + "\n")
                    process.stdin.flush()
                    step = _step_from_json(json.loads(process.stdout.readline()), self.number)
                except (OSError, ValueError, TypeError, KeyError):
                    return  # it failed: this process compiles the step, or what needs it does
                finally:
                    claims.finished(name)
                self.pool.finished(step)
            process.stdin.close()
            self.cpu_seconds = float(json.loads(process.stdout.readline())["cpu_seconds"])
        except (OSError, ValueError, TypeError, KeyError):
            return


class _Pool:
    """The processes compiling a cold cache's steps at once: numba compiles one kernel at a
    time per process (a global lock, held mostly by Python code), so only processes use
    more cores. Started when a compile shows that the cache is cold, never when the cache
    is private to this process. Every process, this one included, claims the next step
    from one ``Claims`` (longest chain of work first, parts before the steps that need
    them); this one then loads what the others compiled."""

    def __init__(self, processes: int, show: Progress) -> None:
        self.processes = processes
        self.show = show
        self.claims: Claims | None = None
        self.helpers: list[_Helper] = []
        self.done: dict[str, StepTime] = {}
        self._compiling: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self, names: tuple[str, ...]) -> None:
        """Hand out ``names`` (the first one is compiling here already) and their parts
        between this process and ``processes - 1`` others; once."""
        items = _with_parts(names)
        count = min(len(items) - 1, self.processes - 1)
        if self.claims is not None or count < 1 or numba_cache.private():
            return
        self.processes = count + 1
        self.claims = Claims(items, WEIGHTS, NEEDS)
        self.claims.take(names[0])
        self._compiling[names[0]] = 0
        self.helpers = [_Helper(number, self) for number in range(1, count + 1)]

    def starting(self, name: str, process: int) -> None:
        with self._lock:
            self._compiling[name] = process
            self._show()

    def finished(self, step: StepTime) -> None:
        with self._lock:
            self._compiling.pop(step.step, None)
            self.done[step.step] = step
            self._show()

    def _show(self) -> None:
        assert self.claims is not None
        names = self.claims.names
        total, finished = len(names), sum(name in self.done for name in names)
        now = "; now " + ", ".join(sorted(self._compiling)) if self._compiling else ""
        self.show(
            f"compiling kernels (first run only, {self.processes} processes): "
            f"{finished}/{total} done{now}"
        )

    def run_claims(self, first: StepTime) -> None:
        """After ``first`` (the step that started the pool), claim and compile steps in this
        process until none is left, then wait for the other processes."""
        assert self.claims is not None
        self.claims.finished(first.step)
        self.finished(first)
        while (name := self.claims.claim()) is not None:
            self.starting(name, 0)
            try:
                step = _run_step(name, lambda: None)
            finally:
                self.claims.finished(name)
            self.finished(step)
        for helper in self.helpers:
            helper.thread.join()
            helper.process.wait()

    def stop(self) -> None:
        """End the processes still running (this one was interrupted)."""
        for helper in self.helpers:
            if helper.process.poll() is None:
                helper.process.kill()
                helper.process.wait()


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one: a
    container or ``taskset`` limited to 2 of 16 cores gets 2 compiling processes, not 16)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _with_parts(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` with the parts each one needs (directly or not) before it."""
    items: dict[str, None] = {}

    def add(name: str) -> None:
        for before in NEEDS.get(name, ()):
            if before in PARTS:
                add(before)
        items[name] = None

    for name in names:
        add(name)
    return tuple(items)


def _step_from_json(step: dict[str, Any], process: int) -> StepTime:
    compiled = tuple(KernelCompile(**kernel) for kernel in step["compiled"])
    return StepTime(step["step"], step["seconds"], step["cpu_seconds"], compiled, process)


def _run_step(name: str, announce: Callable[[], None]) -> StepTime:
    wall, cpu = _clock()
    with _watching(announce) as watch:
        (STEPS.get(name) or PARTS[name])()
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
    only): 3/6 marks"), lines as the processes compiling at once take and finish steps,
    and a last line with the total, only if something compiled. When a step compiles, up
    to ``processes - 1`` other processes (default: one per core this process may use)
    start, and every process claims the next of the later steps and their parts
    (``_Pool``); this process then loads what the others compiled.

    Raises:
        ValueError: ``command`` is not in ``COMMANDS`` or a step not in ``STEPS``.
    """
    if steps is None and command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    names = COMMANDS[command] if steps is None else steps
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        raise ValueError(f"unknown warm-up steps {unknown}; choose from {', '.join(STEPS)}")
    show = progress or (lambda text, final=False: None)
    pool = _Pool(processes or _cores(), show)

    def announcer(number: int) -> Callable[[], None]:
        def announce() -> None:
            show(f"compiling kernels (first run only): {number}/{len(names)} {names[number - 1]}")
            pool.start(names[number - 1 :])

        return announce

    wall, cpu, own = *_clock(), time.process_time()
    try:
        for number, name in enumerate(names, 1):
            pool.done[name] = _run_step(name, announcer(number))
            if pool.claims is not None:  # it compiled, and the others started
                pool.run_claims(pool.done[name])
                break
        for name in names:  # load what the others compiled, or compile what they failed
            step = pool.done.get(name)
            if step is None or step.process:
                loaded = _run_step(name, lambda: None)
                pool.done[name] = step or loaded
    finally:
        pool.stop()
    wall_now, cpu_now = _clock()
    cpu_seconds = (time.process_time() - own, *(h.cpu_seconds for h in pool.helpers))
    ran = tuple(pool.done[name] for name in _with_parts(names) if name in pool.done)
    report = WarmupReport(command, wall_now - wall, cpu_now - cpu, ran, cpu_seconds)
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


def _serve(number: int) -> None:
    """A helper process of ``warm`` (``_Helper``): compile each step named on standard input,
    one per line, answering each with one JSON line; at the end, a line with this
    process's CPU seconds, its start included."""
    for line in sys.stdin:
        step = replace(_run_step(line.strip(), lambda: None), process=number)
        print(json.dumps(_step_json(step)), flush=True)
    times = os.times()
    print(json.dumps({"cpu_seconds": round(times.user + times.system, 3)}), flush=True)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))

"""Which compile comes next: the order in which the warm-up's processes claim steps.

On a cold cache several processes compile at once (``paraclear.warmup``), each claiming the
next step when it is free. Claims follow one fixed order, so the same steps with the same
prerequisites finished are always handed out the same way:

* a step is **ready** when every step it ``needs`` is finished (a part of a kernel compiled
  ahead, which the kernel then loads from the kernel cache instead of compiling it again);
* of the ready steps, the one with the longest **chain** goes first: its own weight (the
  seconds it takes to compile) plus the longest chain of a step that needs it. A long
  chain started late is what keeps the last process busy after the others have finished
  (list scheduling by "bottom level", as in HLFET); among equal chains, the step listed
  first.

A claimer with nothing ready while steps are still compiling elsewhere waits for them. The
class is shared by threads (one per other process, and the main thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from functools import cache


class Claims:
    """The steps still to hand out, their prerequisites and their order (see the module)."""

    def __init__(
        self,
        names: Iterable[str],
        weights: Mapping[str, float],
        needs: Mapping[str, tuple[str, ...]],
    ) -> None:
        """``names``: the steps, in the command's order; ``weights``: seconds to compile a
        step (missing: 1.0); ``needs``: the steps each one must wait for (those that are not
        among ``names`` are not waited for).

        Raises:
            ValueError: the needs form a cycle (no step of it could ever start).
        """
        self.names = tuple(dict.fromkeys(names))
        listed = set(self.names)
        self._needs = {n: tuple(x for x in needs.get(n, ()) if x in listed) for n in listed}
        needed_by: dict[str, list[str]] = {name: [] for name in listed}
        for name, before in self._needs.items():
            for other in before:
                needed_by[other].append(name)

        visiting: set[str] = set()

        @cache
        def chain(name: str) -> float:
            if name in visiting:
                raise ValueError(f"warm-up steps that need each other: {sorted(visiting)}")
            visiting.add(name)
            longest = max(map(chain, needed_by[name]), default=0.0)
            visiting.discard(name)
            return weights.get(name, 1.0) + longest

        self.order = tuple(sorted(self.names, key=lambda name: -chain(name)))
        """Every step, by priority (longest chain first; sorting is stable)."""
        self._open = list(self.order)
        self._running: set[str] = set()
        self._changed = threading.Condition()

    def take(self, name: str) -> None:
        """Claim ``name`` out of turn (a step that started before the claims did), with
        every step it needs, directly or not: compiling it compiles them too."""
        with self._changed:
            todo = [name]
            while todo:
                step = todo.pop()
                if step in self._open:
                    self._open.remove(step)
                    self._running.add(step)
                    todo.extend(self._needs[step])

    def claim(self) -> str | None:
        """The next ready step, now claimed; waits while none is ready but steps are still
        running elsewhere; None when every step is handed out."""
        with self._changed:
            while True:
                ready = [name for name in self._open if self._ready(name)]
                if ready:
                    self._open.remove(ready[0])
                    self._running.add(ready[0])
                    return ready[0]
                if not self._open:
                    return None
                self._changed.wait()

    def finished(self, name: str) -> None:
        """``name`` is compiled, or failed (the steps that need it then compile what they
        lack themselves); the steps it held back may start."""
        with self._changed:
            self._running.discard(name)
            self._changed.notify_all()

    def _ready(self, name: str) -> bool:
        return not any(n in self._running or n in self._open for n in self._needs[name])

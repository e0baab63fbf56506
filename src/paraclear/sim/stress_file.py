"""The stress run's result file: one JSON ``ScenarioResult`` per line, appended as results
arrive, so that a run that stops (interrupted, a machine lost) resumes where it was.

A line cut short by a kill while it was written is ignored (that scenario runs again).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from paraclear.sim.stress import ScenarioResult

_decoder = msgspec.json.Decoder(ScenarioResult)
_encoder = msgspec.json.Encoder()


class ResultFile:
    """Results by scenario key, read from and appended to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, ScenarioResult]:
        """Every complete result in the file (the last one per scenario)."""
        if not self.path.exists():
            return {}
        found: dict[str, ScenarioResult] = {}
        with self.path.open("rb") as lines:
            for line in lines:
                try:
                    result = _decoder.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue  # a line cut short by a kill
                found[result.scenario.key] = result
        return found

    def append(self, result: ScenarioResult) -> None:
        """Add one result; it is in the file (flushed) when this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as out:
            out.seek(0, 2)
            cut = out.tell() > 0 and _last_byte(out.name) != b"\n"
            out.write((b"\n" if cut else b"") + _encoder.encode(result) + b"\n")


def _last_byte(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1)

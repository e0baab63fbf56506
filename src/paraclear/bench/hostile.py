"""CPU per hostile request, and what 100,000 of them do to a live node.

``python -m paraclear.bench.hostile [--requests 100000] [--seed 1] [--json]`` (also
``paraclear bench hostile``) starts a node on a fresh data directory
(``paraclear.bench.hostile_requests.HostileVenue``), sends it seeded hostile frames through
its API's dispatcher one after another, and reports:

* ``worst_cpu_ms`` and ``worst_input``: the most CPU the API thread spent on one request
  (``time.thread_time`` around the dispatch of a frame that is not a batch) and the first
  300 bytes of it; ``worst_batch_cpu_ms``: the same for a batch (up to 100 requests, or
  refused whole beyond); ``p50_cpu_ms``, ``p99_cpu_ms`` over all frames;
  ``worst_by_method``: the worst frame per method;
* ``internal_errors``, ``unanswered``, ``state_changes`` (height, state root or mempool
  different after a frame; ``first_state_change_input``): all must be 0;
* ``rss_growth_mb``: resident memory after the run less after the warm-up (the first
  ``--warmup`` frames, 20,000 by default: the C allocator's heap keeps growing for a while
  after the first 200–300 KB frames, by 10.7 MB over 100,000 frames after a 2,000-frame
  warm-up, 6.7 MB after 20,000, while Python keeps no objects).

Targets (issue 17): worst ≤ 10 ms of CPU, 0 internal errors, 0 unanswered, 0 state changes,
RSS growth ≤ 5 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from paraclear.bench import hostile_requests as hostile
from paraclear.bench.hostile_requests import Answer, HostileVenue


def rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def method_of(frame: bytes) -> str:
    """The method a single request names, ``(batch)`` for a batch, or ``(unparsed)`` for a
    frame that is not JSON or too deep to parse here."""
    if frame.lstrip()[:1] == b"[":
        return "(batch)"
    try:
        body = msgspec.json.decode(frame)
    except (msgspec.DecodeError, RecursionError):
        return "(unparsed)"
    name = body.get("method") if isinstance(body, dict) else None
    return name[:40] if isinstance(name, str) else "(no method)"


def _failures(answer: Answer) -> tuple[int, int]:
    """(internal errors, unanswered) of one answer."""
    try:
        hostile.check_answer(answer)
    except AssertionError as error:
        return (0, 1) if "unanswered" in str(error) else (1, 0)
    return 0, 0


async def _drive(venue: HostileVenue, requests: int, warmup: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    cpu = array("d")
    worst: dict[str, tuple[float, bytes]] = {}
    internal = unanswered = changes = 0
    changed_by = b""
    rss_after_warmup = 0.0
    before = venue.fingerprint()
    for n in range(warmup + requests):
        if n == warmup:
            rss_after_warmup = rss_mb()
            del cpu[:]
            worst.clear()
        answer = await venue.answer(hostile.hostile_frame(venue, rng, n))
        failed = _failures(answer)
        internal, unanswered = internal + failed[0], unanswered + failed[1]
        if venue.fingerprint() != before:
            changes += 1
            changed_by = changed_by or answer.frame
            before = venue.fingerprint()
        cpu.append(answer.cpu_seconds)
        method = method_of(answer.frame)
        if answer.cpu_seconds > worst.get(method, (-1.0, b""))[0]:
            worst[method] = (answer.cpu_seconds, answer.frame)
    single = {name: value for name, value in worst.items() if name != "(batch)"}
    top = max(single, key=lambda name: single[name][0])
    quantiles = statistics.quantiles(cpu, n=100)
    return {
        "requests": requests,
        "seed": seed,
        "worst_cpu_ms": _ms(single[top][0]),
        "worst_method": top,
        "worst_input": _shown(single[top][1]),
        "worst_batch_cpu_ms": _ms(worst.get("(batch)", (0.0, b""))[0]),
        "worst_batch_input": _shown(worst.get("(batch)", (0.0, b""))[1]),
        "p50_cpu_ms": _ms(statistics.median(cpu)),
        "p99_cpu_ms": _ms(quantiles[98]),
        "worst_by_method": {
            name: _ms(seconds)
            for name, (seconds, _) in sorted(worst.items(), key=lambda item: -item[1][0])
        },
        "internal_errors": internal,
        "unanswered": unanswered,
        "state_changes": changes,
        "first_state_change_input": _shown(changed_by),
        "rss_growth_mb": round(rss_mb() - rss_after_warmup, 2),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 4)


def _shown(frame: bytes) -> str:
    """The first 300 bytes of a frame, and its length if longer."""
    text = frame[:300].decode(errors="replace")
    return text if len(frame) <= 300 else f"{text}... ({len(frame):,} bytes)"


def bench_hostile(requests: int, warmup: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """Run the bench on a node of its own (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="paraclear-hostile-") as data_dir:
        venue = HostileVenue(Path(data_dir))
        try:
            result: dict[str, Any] = hostile.run(_drive(venue, requests, warmup, seed))
        finally:
            venue.close()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paraclear.bench.hostile")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = bench_hostile(args.requests, args.warmup, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")
    failed = result["internal_errors"] or result["unanswered"] or result["state_changes"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

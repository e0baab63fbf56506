"""Signature checks per second on 1, 2, ... threads, measured side by side.

The batch is signed limit-order envelopes from a few hundred accounts, decoded from their wire
bytes as the node receives them. Each repeat times every thread count on the same batch in
turn, so a busy machine slows all of them alike; figures are medians over the repeats, and
the speedup is the median of the per-repeat ratios (last thread count over the first).

``cpu_per_wall_<n>`` (process CPU seconds over wall seconds, median) shows whether the
threads really ran at once: near ``n`` if the GIL is released during the checks, at most 1
if it were held. Below 1 on one thread means other processes took the cores, and the
figures of that run say little about the code.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Final

from paraclear.bench import machine
from paraclear.chain.sigverify import SigVerifier
from paraclear.clearing.transactions import PlaceOrder, Side
from paraclear.client.envelope import Keypair, SignedTx, decode_signed, encode_signed, sign

CHAIN_ID: Final = "paraclear-bench"
ACCOUNTS: Final = 256


def signed_orders(count: int, chain_id: str = CHAIN_ID) -> list[SignedTx]:
    """``count`` signed limit-order envelopes, round-tripped through their wire bytes."""
    keys = [Keypair.from_seed_int(n) for n in range(ACCOUNTS)]
    batch = []
    for i in range(count):
        key = keys[i % ACCOUNTS]
        order = PlaceOrder(
            sender=key.account,
            nonce=i // ACCOUNTS,
            fee=10,
            instrument="BTC-PERP",
            side=Side.BUY if i % 2 else Side.SELL,
            price=60_000_000_000 + i,
            size=1_000_000,
        )
        batch.append(decode_signed(encode_signed(sign(key, chain_id, order))))
    return batch


def bench_sig(count: int, threads: Sequence[int], repeats: int) -> dict[str, object]:
    """Verifications/s per thread count (``verify_per_s_<n>``) and ``speedup``."""
    batch = signed_orders(count)
    verifiers = [SigVerifier(n) for n in threads]
    try:
        for verifier in verifiers:
            _check_all_good(verifier, batch[: min(len(batch), 256)])
        rates: dict[int, list[float]] = {n: [] for n in threads}
        cpu_per_wall: dict[int, list[float]] = {n: [] for n in threads}
        for _ in range(repeats):
            for n, verifier in zip(threads, verifiers, strict=True):
                start, cpu_start = time.perf_counter(), time.process_time()
                _check_all_good(verifier, batch)
                wall = time.perf_counter() - start
                rates[n].append(len(batch) / wall)
                cpu_per_wall[n].append((time.process_time() - cpu_start) / wall)
    finally:
        for verifier in verifiers:
            verifier.close()
    ratios = [b / a for a, b in zip(rates[threads[0]], rates[threads[-1]], strict=True)]
    result: dict[str, object] = {"machine": machine(), "count": count, "repeats": repeats}
    for n in threads:
        result[f"verify_per_s_{n}"] = round(statistics.median(rates[n]))
        result[f"cpu_per_wall_{n}"] = round(statistics.median(cpu_per_wall[n]), 2)
    result["speedup"] = round(statistics.median(ratios), 3)
    result["speedup_threads"] = [threads[0], threads[-1]]
    return result


def _check_all_good(verifier: SigVerifier, batch: Sequence[SignedTx]) -> None:
    outcomes = verifier.verify(batch, CHAIN_ID)
    bad = [error for error in outcomes if error is not None]
    if bad:
        raise RuntimeError(f"{len(bad)} good envelopes failed to verify: {bad[0]}")

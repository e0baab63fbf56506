"""Signature checks of a batch of envelopes, spread over threads.

ed25519 verification is libsodium C code that PyNaCl calls through cffi, which releases the
GIL for the call; the Python around it (re-encoding the transaction, comparing the sender)
is a few microseconds against roughly a hundred for the check itself. So threads scale
nearly linearly on this workload (``paraclear bench sig`` measures it), without the cost of
shipping envelopes to worker processes.

The caller and ``threads - 1`` pool threads each claim small contiguous chunks of the batch
from a shared counter until none are left. Small chunks (``CHUNK`` envelopes, a few
milliseconds of work) keep the threads finishing together: with a few large chunks per
thread, the last one left a core idle for a tenth of the batch. Claiming a chunk costs one
``next`` on an ``itertools.count``, atomic under the GIL. Each result lands at its
envelope's index, so the outcome is the same for every thread count and schedule.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from paraclear.client.envelope import SignedTx, check_envelope
from paraclear.client.errors import EnvelopeError

CHUNK: Final = 32
"""Envelopes per claim: ~3 ms of checks, against microseconds to claim it."""

Outcome = EnvelopeError | None
"""``None`` for a good envelope, else why it is refused."""


class SigVerifier:
    """Checks batches of envelopes (chain id, sender, signature) on ``threads`` threads,
    the caller's included.

    Use as a context manager, or call ``close`` to stop the threads.
    """

    def __init__(self, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, "sigverify") if threads > 1 else None

    def verify(self, batch: Sequence[SignedTx], chain_id: str) -> list[Outcome]:
        """One outcome per envelope of ``batch``, in its order."""
        outcomes: list[Outcome] = [None] * len(batch)
        chunks = itertools.count()
        futures = []
        if self._pool is not None:
            helpers = min(self.threads - 1, len(batch) // CHUNK)
            futures = [
                self._pool.submit(_check_chunks, batch, chain_id, chunks, outcomes)
                for _ in range(helpers)
            ]
        _check_chunks(batch, chain_id, chunks, outcomes)
        for future in futures:
            future.result()
        return outcomes

    def close(self) -> None:
        """Stop the threads (waits for running chunks)."""
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> SigVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_chunks(
    batch: Sequence[SignedTx], chain_id: str, chunks: Iterator[int], outcomes: list[Outcome]
) -> None:
    """Claim chunks of ``batch`` until none are left; write each outcome at its index."""
    for chunk in chunks:
        start = chunk * CHUNK
        if start >= len(batch):
            return
        for index in range(start, min(start + CHUNK, len(batch))):
            try:
                check_envelope(batch[index], chain_id)
            except EnvelopeError as error:
                outcomes[index] = error

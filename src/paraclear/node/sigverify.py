"""Signature checks of a batch of envelopes, spread over threads.

ed25519 verification is libsodium C code that PyNaCl calls through cffi, which releases the
GIL for the call; the Python around it (re-encoding the transaction, comparing the sender)
is a few microseconds against roughly a hundred for the check itself. So threads scale
nearly linearly on this workload (``paraclear bench sig`` measures it), without the cost of
shipping envelopes to worker processes.

The batch is cut into contiguous chunks, a few per thread so that a slow chunk does not
leave the other threads idle at the end, and large enough that scheduling one is cheap next
to verifying it. Each result lands at its envelope's index, so the outcome is the same for
every thread count and schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from paraclear.node.envelope import SignedTx, check_envelope
from paraclear.node.errors import EnvelopeError

CHUNKS_PER_THREAD: Final = 4
MIN_CHUNK: Final = 32
"""Fewest envelopes per chunk: at ~100 µs each, a chunk outweighs its scheduling."""

Outcome = EnvelopeError | None
"""``None`` for a good envelope, else why it is refused."""


class SigVerifier:
    """Checks batches of envelopes (chain id, sender, signature) on ``threads`` threads.

    Use as a context manager, or call ``close`` to stop the threads.
    """

    def __init__(self, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, "sigverify") if threads > 1 else None

    def verify(self, batch: Sequence[SignedTx], chain_id: str) -> list[Outcome]:
        """One outcome per envelope of ``batch``, in its order."""
        outcomes: list[Outcome] = [None] * len(batch)
        if self._pool is None or len(batch) <= MIN_CHUNK:
            _check_range(batch, chain_id, 0, len(batch), outcomes)
            return outcomes
        size = max(MIN_CHUNK, -(-len(batch) // (self.threads * CHUNKS_PER_THREAD)))
        futures = [
            self._pool.submit(_check_range, batch, chain_id, start, start + size, outcomes)
            for start in range(0, len(batch), size)
        ]
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


def _check_range(
    batch: Sequence[SignedTx], chain_id: str, start: int, stop: int, outcomes: list[Outcome]
) -> None:
    """Check ``batch[start:stop]``, writing each outcome at its index (disjoint per chunk)."""
    for index in range(start, min(stop, len(batch))):
        try:
            check_envelope(batch[index], chain_id)
        except EnvelopeError as error:
            outcomes[index] = error

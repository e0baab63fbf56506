"""The mempool: verified transactions waiting for a block, in per-account nonce order.

Each account has a queue keyed by nonce and a ``base``: its next nonce that is neither
committed nor already taken into a block on its way to commit. A transaction is *ready* when
its nonce is ``base`` or follows ready ones without a gap; later nonces are held (at most
``max_nonce_gap`` past the ready run) until the gap fills.

Priority: ``take`` repeatedly picks, among the accounts' next ready transactions (their
heads), the highest fee, and the earliest arrival among equal fees; that account's following
nonce then becomes its head. So higher fees go first across accounts, while one account's
transactions always leave in nonce order, as Ethereum's price-and-nonce ordering does.

Admission (``add``) refuses, with typed errors: types only the block producer derives,
operator-only types from other accounts, a fee under ``min_fee``, an envelope over
``max_tx_bytes``, a nonce below ``base`` (replay) or too far ahead, a pending nonce again
without a higher fee (a higher fee replaces it), and anything beyond ``max_per_account``.
Signatures are checked before the mempool (``paraclear.chain.sigverify``).

Eviction: when the pool holds ``max_txs``, a newcomer evicts the cheapest *tail* (an
account's highest pending nonce, so no gap opens below what stays) of another account if the
newcomer pays a strictly higher fee; among equal fees the latest arrival goes first. Else it
is refused with MempoolFull. So a flood of cheap transactions cannot lock out paying ones.

Commits: ``take`` hands transactions to a block, and their nonces count as used from then on
(so a copy cannot be admitted while the block runs). ``on_committed`` must follow once every
block taken so far has committed or been abandoned: it re-reads each such account's next
nonce from committed state, *lowering* ``base`` where a taken transaction did not consume its
nonce (a block abandoned, or a transaction that failed its nonce or fee check, which changes
nothing), so that the account can send that nonce again instead of being stuck behind it.
One block in flight at a time: pipelining blocks would need per-block bookkeeping.

Deterministic: the same calls in the same order give the same blocks. Ties go by an arrival
counter (``tie_break="arrival"``), and nothing iterates over a set. With
``tie_break="sender"``, equal-fee heads go by (sender, nonce) instead, so that a block does
not depend on which of several concurrent senders reached the node first: the same *set* of
transactions gives the same block (the agent market runs this way; eviction still goes by
arrival).

Heads wait in a heap, tails in another. An entry goes stale when its transaction is replaced,
taken, pruned or evicted, and is skipped when popped: a head entry is live only if it is
still its account's transaction at ``base``, a tail entry only if it is still the account's
highest pending nonce.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from paraclear.client.envelope import SignedTx, consumes_nonce, encode_signed, is_operator_only
from paraclear.client.errors import (
    AccountQueueFull,
    FeeTooLow,
    MempoolFull,
    NonceReplayed,
    NonceTooFar,
    OperatorOnly,
    OversizedTransaction,
    ProducerOnly,
    ReplacementUnderpriced,
)

DEFAULT_MAX_TXS: Final = 200_000
DEFAULT_MAX_PER_ACCOUNT: Final = 256
DEFAULT_MAX_TX_BYTES: Final = 64 * 1024
DEFAULT_MAX_NONCE_GAP: Final = 64
"""How far past an account's ready run a nonce may be held (nonces)."""


@dataclass(slots=True)
class _Entry:
    signed: SignedTx
    size: int
    seq: int


@dataclass(slots=True)
class _Queue:
    base: int
    pending: dict[int, _Entry] = field(default_factory=dict)


TieBreak = Literal["arrival", "sender"]
"""How heads of equal fee are ordered: by arrival, or by (sender, nonce)."""
HeadItem = tuple[int, int, str, int, int]
"""Heads: (-fee, rank, account, nonce, arrival seq), in priority order; ``rank`` is the
arrival seq (``tie_break="arrival"``) or 0 (``"sender"``: then account and nonce decide)."""
HeapItem = tuple[int, int, str, int]
"""Tails: (fee, -arrival seq, account, nonce), cheapest and latest first (eviction order)."""


class Mempool:
    """Pending transactions by account and nonce, handed out by fee.

    ``next_nonce(account)`` reads the account's next nonce from committed state; it is
    called on ``add``. ``operators`` are the accounts that may send operator-only types.
    """

    def __init__(
        self,
        next_nonce: Callable[[str], int],
        *,
        operators: Collection[str] = (),
        max_txs: int = DEFAULT_MAX_TXS,
        max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
        max_tx_bytes: int = DEFAULT_MAX_TX_BYTES,
        max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP,
        min_fee: int = 0,
        tie_break: TieBreak = "arrival",
    ) -> None:
        self._next_nonce = next_nonce
        self._operators = frozenset(operators)
        self.max_txs = max_txs
        self.max_per_account = max_per_account
        self.max_tx_bytes = max_tx_bytes
        self.max_nonce_gap = max_nonce_gap
        self.min_fee = min_fee
        self.tie_break = tie_break
        self._queues: dict[str, _Queue] = {}
        self._in_flight: dict[str, None] = {}
        """Senders of transactions taken since the last ``on_committed`` (an ordered set)."""
        self._heads: list[HeadItem] = []
        self._tails: list[HeapItem] = []
        self._count = 0
        self._bytes = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        """Total encoded size of the pending transactions."""
        return self._bytes

    def add(self, signed: SignedTx, size: int | None = None) -> SignedTx | None:
        """Admit a verified envelope of ``size`` encoded bytes (encoded here if None).

        Returns the transaction it evicted to make room, if any (see the module doc).

        Raises ProducerOnly, OperatorOnly, FeeTooLow, OversizedTransaction, NonceReplayed,
        ReplacementUnderpriced, NonceTooFar, AccountQueueFull, MempoolFull.
        """
        tx = signed.tx
        if size is None:
            size = len(encode_signed(signed))
        self._check_static(signed, size)
        queue = self._sync(tx.sender)
        if tx.nonce < queue.base:
            raise NonceReplayed(tx.sender, queue.base, tx.nonce)
        old = queue.pending.get(tx.nonce)
        if old is not None:
            if tx.fee <= old.signed.tx.fee:
                raise ReplacementUnderpriced(tx.sender, queue.base, tx.nonce, old.signed.tx.fee)
            self._count -= 1
            self._bytes -= old.size
        evicted = None if old is not None else self._check_room(queue, tx.sender, tx.nonce, tx.fee)
        self._seq += 1
        queue.pending[tx.nonce] = _Entry(signed, size, self._seq)
        self._queues.setdefault(tx.sender, queue)
        self._count += 1
        self._bytes += size
        if tx.nonce == queue.base:
            self._push_head(tx.sender, queue)
        if tx.nonce == max(queue.pending):
            heapq.heappush(self._tails, (tx.fee, -self._seq, tx.sender, tx.nonce))
        self._compact()
        return None if evicted is None else evicted.signed

    def take(self, max_txs: int, max_bytes: int | None = None) -> list[SignedTx]:
        """Remove and return the next block's transactions, in order (see the module doc).

        Stops at ``max_txs`` transactions, or before the first that would pass ``max_bytes``.
        """
        block: list[SignedTx] = []
        used = 0
        while self._heads and len(block) < max_txs:
            _, _, account, nonce, seq = self._heads[0]
            queue = self._queues.get(account)
            entry = None if queue is None or queue.base != nonce else queue.pending.get(nonce)
            if queue is None or entry is None or entry.seq != seq:
                heapq.heappop(self._heads)
                continue
            if max_bytes is not None and used + entry.size > max_bytes:
                break
            heapq.heappop(self._heads)
            used += entry.size
            block.append(entry.signed)
            self._in_flight[account] = None
            self._remove(queue, nonce)
            queue.base = nonce + 1
            self._push_head(account, queue)
        return block

    def on_committed(self, next_nonces: Mapping[str, int] | None = None) -> None:
        """Every block taken so far has committed (or been abandoned).

        ``next_nonces`` holds the new next nonce of accounts the blocks touched; senders of
        taken transactions missing from it are read through ``next_nonce``. Drops pending
        nonces below the committed ones, resets ``base`` to them and forgets idle accounts.
        """
        next_nonces = next_nonces or {}
        accounts = dict.fromkeys([*self._in_flight, *next_nonces])
        self._in_flight.clear()
        for account in accounts:
            queue = self._queues.get(account)
            if queue is None:
                continue
            committed = next_nonces.get(account)
            self._reset(
                account, queue, self._next_nonce(account) if committed is None else committed
            )
            if not queue.pending:
                del self._queues[account]
        self._compact()

    def pending(self, account: str) -> list[SignedTx]:
        """An account's pending transactions by nonce (ready and held)."""
        queue = self._queues.get(account)
        if queue is None:
            return []
        return [queue.pending[nonce].signed for nonce in sorted(queue.pending)]

    def next_ready_nonce(self, account: str) -> int:
        """The nonce after the account's ready run: what its next transaction should carry."""
        queue = self._sync(account)
        nonce = queue.base
        while nonce in queue.pending:
            nonce += 1
        return nonce

    def _check_static(self, signed: SignedTx, size: int) -> None:
        tx = signed.tx
        if not consumes_nonce(tx):
            raise ProducerOnly(type(tx).__name__)
        if is_operator_only(tx) and tx.sender not in self._operators:
            raise OperatorOnly(type(tx).__name__, tx.sender)
        if tx.fee < self.min_fee:
            raise FeeTooLow(self.min_fee, tx.fee)
        if size > self.max_tx_bytes:
            raise OversizedTransaction(size, self.max_tx_bytes)

    def _check_room(self, queue: _Queue, account: str, nonce: int, fee: int) -> _Entry | None:
        """Check a new nonce's gap and the limits; evict to make room. Returns the evicted."""
        if nonce > queue.base + self.max_nonce_gap:  # else within the gap of any ready run
            ready_end = queue.base
            while ready_end in queue.pending:
                ready_end += 1
            if nonce > ready_end + self.max_nonce_gap:
                raise NonceTooFar(account, ready_end, nonce, self.max_nonce_gap)
        if len(queue.pending) >= self.max_per_account:
            raise AccountQueueFull(account, self.max_per_account)
        if self._count < self.max_txs:
            return None
        evicted = self._evict_cheaper_than(fee, account)
        if evicted is None:
            raise MempoolFull(self.max_txs)
        return evicted

    def _evict_cheaper_than(self, fee: int, sender: str) -> _Entry | None:
        """Remove the cheapest live tail of an account other than ``sender``, if its fee is
        below ``fee``."""
        own: list[HeapItem] = []
        evicted = None
        while self._tails and self._tails[0][0] < fee:
            item = heapq.heappop(self._tails)
            _, negative_seq, account, nonce = item
            queue = self._queues.get(account)
            entry = None if queue is None else queue.pending.get(nonce)
            if queue is None or entry is None or entry.seq != -negative_seq:
                continue
            if nonce != max(queue.pending):
                continue
            if account == sender:
                own.append(item)
                continue
            evicted = entry
            self._remove(queue, nonce)
            if queue.pending:
                self._push_tail(account, queue)
            elif account not in self._in_flight:
                del self._queues[account]
            break
        for item in own:
            heapq.heappush(self._tails, item)
        return evicted

    def _sync(self, account: str) -> _Queue:
        """The account's queue, its base brought up to committed state (a new, unstored,
        empty queue if it has none: ``add`` stores it only once something is admitted)."""
        committed = self._next_nonce(account)
        queue = self._queues.get(account)
        if queue is None:
            return _Queue(committed)
        self._advance(account, queue, committed)
        return queue

    def _advance(self, account: str, queue: _Queue, committed: int) -> None:
        """Raise the queue's base to ``committed`` if it is behind (a commit not yet told)."""
        if committed > queue.base:
            self._reset(account, queue, committed)

    def _reset(self, account: str, queue: _Queue, committed: int) -> None:
        """Set the queue's base to ``committed``, dropping pending nonces below it."""
        for nonce in sorted(queue.pending):
            if nonce >= committed:
                break
            self._remove(queue, nonce)
        queue.base = committed
        self._push_head(account, queue)

    def _head_item(self, account: str, nonce: int, entry: _Entry) -> HeadItem:
        rank = entry.seq if self.tie_break == "arrival" else 0
        return (-entry.signed.tx.fee, rank, account, nonce, entry.seq)

    def _push_head(self, account: str, queue: _Queue) -> None:
        entry = queue.pending.get(queue.base)
        if entry is not None:
            heapq.heappush(self._heads, self._head_item(account, queue.base, entry))

    def _push_tail(self, account: str, queue: _Queue) -> None:
        nonce = max(queue.pending)
        entry = queue.pending[nonce]
        heapq.heappush(self._tails, (entry.signed.tx.fee, -entry.seq, account, nonce))

    def _compact(self) -> None:
        """Rebuild the heaps from live entries once stale ones outnumber pending ones."""
        if len(self._heads) + len(self._tails) <= 4 * self._count + 2048:
            return
        self._heads, self._tails = [], []
        for account, queue in self._queues.items():
            entry = queue.pending.get(queue.base)
            if entry is not None:
                self._heads.append(self._head_item(account, queue.base, entry))
            if queue.pending:
                self._push_tail(account, queue)
        heapq.heapify(self._heads)

    def _remove(self, queue: _Queue, nonce: int) -> None:
        entry = queue.pending.pop(nonce)
        self._count -= 1
        self._bytes -= entry.size

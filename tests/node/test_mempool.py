import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paraclear.chain.mempool import Mempool
from paraclear.clearing.transactions import Deposit, OracleUpdate, SettleFill
from paraclear.client import errors
from paraclear.client.envelope import SignedTx

CHAIN = "paraclear-test"


def env(account: str, nonce: int, fee: int = 0, amount: int = 1) -> SignedTx:
    """An envelope as the mempool sees it (signatures are checked before it, so none here)."""
    tx = Deposit(sender=account, nonce=nonce, fee=fee, amount=amount)
    return SignedTx(CHAIN, tx, bytes(32), bytes(64))


def pool(committed: dict[str, int] | None = None, **limits: int) -> Mempool:
    nonces = committed if committed is not None else {}
    return Mempool(lambda account: nonces.get(account, 0), **limits)


def order(block: list[SignedTx]) -> list[tuple[str, int]]:
    return [(s.tx.sender, s.tx.nonce) for s in block]


def test_higher_fee_first_across_accounts_without_breaking_nonce_order():
    mempool = pool()
    mempool.add(env("a", 0, fee=5))
    mempool.add(env("a", 1, fee=100))
    mempool.add(env("b", 0, fee=10))
    mempool.add(env("c", 0, fee=10))
    assert order(mempool.take(10)) == [("b", 0), ("c", 0), ("a", 0), ("a", 1)]
    assert len(mempool) == 0


def test_take_respects_the_count_and_byte_limits():
    mempool = pool()
    for account in "abc":
        mempool.add(env(account, 0), size=100)
    assert order(mempool.take(2)) == [("a", 0), ("b", 0)]
    mempool.add(env("d", 0), size=100)
    assert mempool.take(5, max_bytes=150) == [env("c", 0)]
    assert mempool.bytes == 100


def test_replayed_nonce_is_refused_with_the_expected_one():
    mempool = pool({"a": 3})
    with pytest.raises(errors.NonceReplayed) as caught:
        mempool.add(env("a", 2))
    assert caught.value.data() == {"account": "a", "expected": 3, "got": 2}


def test_a_taken_nonce_counts_as_used_before_it_commits():
    committed = {"a": 0}
    mempool = pool(committed)
    mempool.add(env("a", 0))
    assert order(mempool.take(10)) == [("a", 0)]
    with pytest.raises(errors.NonceReplayed):
        mempool.add(env("a", 0, fee=50))
    mempool.add(env("a", 1))
    committed["a"] = 1
    mempool.on_committed({"a": 1})
    assert order(mempool.take(10)) == [("a", 1)]


def test_gap_is_held_until_filled_and_bounded():
    mempool = pool(max_nonce_gap=2)
    mempool.add(env("a", 2))
    assert mempool.take(10) == []
    with pytest.raises(errors.NonceTooFar) as caught:
        mempool.add(env("a", 3))
    assert caught.value.data() == {"account": "a", "next": 0, "got": 3, "max_gap": 2}
    mempool.add(env("a", 0))
    mempool.add(env("a", 3))  # the ready run now ends at 1, so 3 is within the gap
    assert order(mempool.take(10)) == [("a", 0)]
    mempool.add(env("a", 1))
    assert order(mempool.take(10)) == [("a", 1), ("a", 2), ("a", 3)]


def test_duplicate_nonce_replaces_only_with_a_higher_fee():
    mempool = pool()
    mempool.add(env("a", 0, fee=10, amount=1))
    with pytest.raises(errors.ReplacementUnderpriced) as caught:
        mempool.add(env("a", 0, fee=10, amount=2))
    assert caught.value.data()["pending_fee"] == 10
    assert isinstance(caught.value, errors.NonceReplayed)
    mempool.add(env("a", 0, fee=11, amount=3))
    assert len(mempool) == 1
    assert mempool.take(10) == [env("a", 0, fee=11, amount=3)]


def test_limits_on_the_pool_the_account_the_size_and_the_fee():
    mempool = pool(max_txs=3, max_per_account=2, max_tx_bytes=500, min_fee=1)
    mempool.add(env("a", 0, fee=1))
    mempool.add(env("a", 1, fee=1))
    with pytest.raises(errors.AccountQueueFull):
        mempool.add(env("a", 2, fee=1))
    mempool.add(env("b", 0, fee=1))
    with pytest.raises(errors.MempoolFull):
        mempool.add(env("c", 0, fee=1))
    mempool.add(env("a", 1, fee=2))  # a replacement needs no room
    with pytest.raises(errors.FeeTooLow):
        pool(min_fee=1).add(env("d", 0, fee=0))
    with pytest.raises(errors.OversizedTransaction):
        pool(max_tx_bytes=500).add(env("d", 0), size=501)
    assert len(mempool) == 3


def test_a_full_pool_evicts_the_cheapest_tail_of_another_account_for_a_higher_fee():
    mempool = pool(max_txs=3)
    mempool.add(env("a", 0, fee=9))
    mempool.add(env("a", 1, fee=1))
    mempool.add(env("b", 0, fee=5))
    assert mempool.add(env("d", 0, fee=2)) == env("a", 1, fee=1)  # a tail, not a's head
    with pytest.raises(errors.MempoolFull):
        mempool.add(env("e", 0, fee=2))  # the cheapest other tail (d's) pays as much
    assert mempool.add(env("d", 1, fee=6)) == env("b", 0, fee=5)  # never d's own tail
    assert order(mempool.take(10)) == [("a", 0), ("d", 0), ("d", 1)]


def test_eviction_never_opens_a_gap_below_an_accounts_pending_txs():
    mempool = pool(max_txs=3)
    mempool.add(env("a", 0, fee=1))
    mempool.add(env("a", 1, fee=9))
    mempool.add(env("b", 0, fee=5))
    with pytest.raises(errors.MempoolFull):
        mempool.add(env("d", 0, fee=2))  # a's cheap nonce 0 is not a tail
    assert len(mempool) == 3


def test_eviction_among_equal_fees_drops_the_latest_arrival():
    mempool = pool(max_txs=2)
    mempool.add(env("a", 0, fee=1))
    mempool.add(env("b", 0, fee=1))
    assert mempool.add(env("c", 0, fee=2)) == env("b", 0, fee=1)


def test_oracle_updates_are_refused_from_non_operators():
    update = OracleUpdate(
        sender="mallory", nonce=0, underlying="BTC", index_price=60_000_000_000, atm_vol_ppm=1
    )
    mempool = Mempool(lambda account: 0, operators=["oracle"])
    with pytest.raises(errors.OperatorOnly):
        mempool.add(SignedTx(CHAIN, update, bytes(32), bytes(64)))
    by_oracle = msgspec.structs.replace(update, sender="oracle")
    mempool.add(SignedTx(CHAIN, by_oracle, bytes(32), bytes(64)))
    assert len(mempool) == 1


def test_settlements_the_producer_derives_are_refused_even_from_the_operator():
    fill = SettleFill(
        sender="oracle",
        nonce=0,
        instrument="BTC-PERP",
        taker="a",
        taker_order=1,
        maker="b",
        maker_order=2,
        price=1,
        size=1,
    )
    mempool = Mempool(lambda account: 0, operators=["oracle"])
    with pytest.raises(errors.ProducerOnly) as caught:
        mempool.add(SignedTx(CHAIN, fill, bytes(32), bytes(64)))
    assert caught.value.data() == {"tx_type": "SettleFill"}


def test_operator_only_types_are_refused_from_other_accounts(monkeypatch):
    monkeypatch.setattr(Deposit, "operator_only", True, raising=False)
    mempool = Mempool(lambda account: 0, operators=["oracle"])
    with pytest.raises(errors.OperatorOnly) as caught:
        mempool.add(env("mallory", 0))
    assert caught.value.data() == {"tx_type": "Deposit", "account": "mallory"}
    mempool.add(env("oracle", 0))
    assert len(mempool) == 1


def test_commit_prunes_stale_nonces_and_readies_the_next():
    committed: dict[str, int] = {}
    mempool = pool(committed)
    for nonce in range(4):
        mempool.add(env("a", nonce))
    committed["a"] = 2  # two of them committed by another route (say, a peer's block)
    mempool.on_committed({"a": 2})
    assert len(mempool) == 2
    assert order(mempool.take(10)) == [("a", 2), ("a", 3)]


def test_a_taken_tx_that_did_not_consume_its_nonce_frees_it_again():
    committed = {"a": 0}
    mempool = pool(committed)
    mempool.add(env("a", 0, fee=5))
    mempool.add(env("a", 2, fee=5))
    assert order(mempool.take(10)) == [("a", 0)]
    mempool.on_committed({"a": 0})  # it failed its fee check: state's nonce did not move
    mempool.add(env("a", 0, fee=1))
    mempool.add(env("a", 1, fee=1))
    assert order(mempool.take(10)) == [("a", 0), ("a", 1), ("a", 2)]
    mempool.on_committed()  # unnamed senders are read from committed state
    mempool.add(env("a", 0, fee=2))
    assert len(mempool) == 1


def test_refused_accounts_leave_nothing_behind():
    mempool = pool({"a": 5})
    for _ in range(3):
        with pytest.raises(errors.NonceReplayed):
            mempool.add(env("a", 1))
    assert mempool.pending("a") == [] and len(mempool) == 0


ACCOUNTS = ["a", "b", "c"]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(ACCOUNTS), st.integers(0, 8), st.integers(0, 3)),
        st.tuples(
            st.just("take"),
            st.integers(0, 4),
            st.sampled_from(["in flight", "commit", "abandon"]),
            st.just(0),
        ),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_take_keeps_nonce_order_and_returns_each_accepted_tx_once(operations):
    committed: dict[str, int] = {}
    mempool = Mempool(lambda a: committed.get(a, 0), max_txs=8, max_per_account=5, max_nonce_gap=3)
    sent_next = dict.fromkeys(ACCOUNTS, 0)  # next nonce after all taken so far
    accepted: list[SignedTx] = []
    replaced: list[SignedTx] = []
    evicted: list[SignedTx] = []
    taken: list[SignedTx] = []
    for op in operations:
        if op[0] == "add":
            _, account, nonce, fee = op
            signed = env(account, nonce, fee, amount=len(accepted) + 1)
            before = {s.tx.nonce: s for s in mempool.pending(account)}
            try:
                dropped = mempool.add(signed)
            except errors.NonceReplayed:
                assert nonce < sent_next[account] or nonce in before
                continue
            except errors.AdmissionError:
                continue
            assert nonce >= sent_next[account]
            if nonce in before:
                assert fee > before[nonce].tx.fee
                replaced.append(before[nonce])
            accepted.append(signed)
            if dropped is not None:
                assert dropped.tx.sender != account and dropped.tx.fee < fee
                evicted.append(dropped)
            assert len(mempool) <= 8
        else:
            _, count, then, _ = op
            block = mempool.take(count)
            assert len(block) <= count
            taken += _check_nonce_order(block, sent_next)
            if then == "commit":
                committed.update(sent_next)
                mempool.on_committed(sent_next)
            elif then == "abandon":  # every block in flight is lost: nonces are free again
                sent_next.update(dict.fromkeys(ACCOUNTS, 0), **committed)
                mempool.on_committed()
    taken += _check_nonce_order(mempool.take(10**6), sent_next)
    held = [s for account in ACCOUNTS for s in mempool.pending(account)]
    assert all(s.tx.nonce > sent_next[s.tx.sender] for s in held), "a ready tx was left"
    ids = [id(s) for s in taken + replaced + evicted + held]
    assert len(ids) == len(set(ids)), "a tx came out twice"
    assert sorted(ids) == sorted(id(s) for s in accepted)


def _check_nonce_order(block: list[SignedTx], sent_next: dict[str, int]) -> list[SignedTx]:
    for signed in block:
        assert signed.tx.nonce == sent_next[signed.tx.sender], "nonce order broken"
        sent_next[signed.tx.sender] += 1
    return block


def _reference_take(pending: dict[str, dict[int, tuple[int, int]]], base: dict[str, int]):
    """Greedy by (highest fee, earliest arrival) over each account's next ready nonce."""
    out = []
    while True:
        heads = [
            (-pending[a][base[a]][0], pending[a][base[a]][1], a)
            for a in sorted(pending)
            if base[a] in pending[a]
        ]
        if not heads:
            return out
        _, _, account = min(heads)
        out.append((account, base[account]))
        del pending[account][base[account]]
        base[account] += 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, 5), st.integers(0, 4))))
def test_take_equals_the_reference_priority_order(submissions):
    mempool = pool(max_nonce_gap=10)
    pending: dict[str, dict[int, tuple[int, int]]] = {a: {} for a in ACCOUNTS}
    for seq, (account, nonce, fee) in enumerate(submissions):
        try:
            mempool.add(env(account, nonce, fee))
        except errors.AdmissionError:
            continue
        pending[account][nonce] = (fee, seq)
    expected = _reference_take(pending, dict.fromkeys(ACCOUNTS, 0))
    assert order(mempool.take(1000)) == expected


def test_sender_tie_break_orders_equal_fees_by_sender_and_nonce_whatever_the_arrival():
    arrivals = [env("c", 0), env("a", 0), env("b", 0, fee=7), env("a", 1), env("b", 1)]
    blocks = []
    for arrival in (arrivals, arrivals[::-1]):
        mempool = Mempool(lambda account: 0, tie_break="sender")
        for signed in arrival:
            mempool.add(signed)
        blocks.append(order(mempool.take(10)))
    assert blocks[0] == blocks[1] == [("b", 0), ("a", 0), ("a", 1), ("b", 1), ("c", 0)]


def test_arrival_tie_break_is_the_default_and_follows_arrival():
    mempool = pool()
    for signed in (env("c", 0), env("a", 0), env("b", 0)):
        mempool.add(signed)
    assert order(mempool.take(10)) == [("c", 0), ("a", 0), ("b", 0)]


@settings(max_examples=30, deadline=None)
@given(st.permutations([(account, nonce) for account in "abcd" for nonce in range(3)]))
def test_sender_tie_break_gives_one_block_for_any_arrival_order(arrival):
    mempool = Mempool(lambda account: 0, tie_break="sender")
    for account, nonce in arrival:
        mempool.add(env(account, nonce))
    assert order(mempool.take(100)) == sorted(arrival)

"""The node core: signed orders in, durable blocks out, fills settled, restart resumes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import msgspec
import pytest

from paraclear.chain.core import BlockReport, Inclusion, Node, NodeConfig
from paraclear.clearing.instruments import Perpetual
from paraclear.clearing.records import OpenOrder
from paraclear.clearing.transactions import (
    CancelOrder,
    Deposit,
    ListInstrument,
    OracleUpdate,
    OrderType,
    PlaceOrder,
    Side,
    Transaction,
)
from paraclear.client.envelope import Keypair, SignedTx, encode_signed, sign
from paraclear.client.errors import BadSignature, Dropped, NonceReplayed, OperatorOnly
from paraclear.state import keys as k
from tests.clearing.harness import ONE, PERP, T0, usd

CHAIN = "paraclear-local"


class Wallet:
    """A keypair that numbers its transactions."""

    def __init__(self, seed: int) -> None:
        self.keys = Keypair.from_seed_int(seed)
        self.account = self.keys.account
        self.nonces = itertools.count()

    def sign(self, cls: type[Transaction], **fields: object) -> SignedTx:
        tx = cls(sender=self.account, nonce=next(self.nonces), **fields)  # type: ignore[arg-type]
        return sign(self.keys, CHAIN, tx)


def _node(path: Path, **overrides: object) -> Node:
    config = NodeConfig(data_dir=path, genesis_time=T0, **overrides)  # type: ignore[arg-type]
    return Node(config, clock=lambda: T0)


def _run(node: Node, *signed: SignedTx) -> list[Inclusion]:
    futures = [node.submit(s) for s in signed]
    node.admit_pending()
    while node.produce_block() is not None:
        pass
    return [f.result(timeout=0) for f in futures]


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[Node, Wallet, list[Wallet]]]:
    node, operator, traders = _market(tmp_path)
    yield node, operator, traders
    node.stop()


def _market(path: Path, **config: object) -> tuple[Node, Wallet, list[Wallet]]:
    node = _node(path, **config)
    operator = Wallet(0)
    traders = [Wallet(seed) for seed in (1, 2, 3)]
    _run(
        node,
        operator.sign(ListInstrument, instrument=PERP),
        operator.sign(OracleUpdate, underlying="BTC", index_price=usd(60_000), atm_vol_ppm=600_000),
        *(w.sign(Deposit, amount=usd(100_000)) for w in traders),
    )
    return node, operator, traders


def _order(wallet: Wallet, side: Side, price: float, size: int, **fields: object) -> SignedTx:
    return wallet.sign(
        PlaceOrder, instrument=PERP.name, side=side, price=usd(price), size=size, **fields
    )


def test_orders_match_and_settle_in_their_block(market: tuple[Node, Wallet, list[Wallet]]) -> None:
    node, _, (maker, taker, _) = market
    rest = _run(node, _order(maker, Side.SELL, 60_000, 2 * ONE))[0]
    assert rest.receipt.ok
    take = _run(node, _order(taker, Side.BUY, 60_010, ONE, kind=OrderType.IOC))[0]
    assert take.receipt.ok and take.height == rest.height + 1
    block = node.store.block(take.height).block
    assert [type(tx).__name__ for tx in block.txs] == ["PlaceOrder", "SettleFill"]
    assert node.state.get(k.position(taker.account, PERP.name)).size == ONE  # type: ignore[union-attr]
    assert node.depth[PERP.name] == ([], [(usd(60_000), ONE)])
    assert [(t.fill.size, t.seq) for t in node.tape.recent(PERP.name)] == [(ONE, 1)]


def test_bad_envelopes_are_refused_before_the_mempool(
    market: tuple[Node, Wallet, list[Wallet]],
) -> None:
    node, _, (alice, bob, _) = market
    good = _order(alice, Side.BUY, 50_000, ONE)
    forged = SignedTx(good.chain_id, good.tx, good.public_key, bytes(64))
    futures = [node.submit(forged)]
    node.admit_pending()
    assert isinstance(futures[0].exception(timeout=0), BadSignature)
    _run(node, good)
    replay: Future[Inclusion] = node.submit(good)
    node.admit_pending()
    assert isinstance(replay.exception(timeout=0), NonceReplayed)
    not_operator = bob.sign(ListInstrument, instrument=PERP)
    refused = node.submit(not_operator)
    node.admit_pending()
    assert isinstance(refused.exception(timeout=0), OperatorOnly)


def test_checked_envelopes_are_admitted_at_once_without_a_signature_check(
    market: tuple[Node, Wallet, list[Wallet]],
) -> None:
    """What a front-end checked is trusted (``submit_many(checked=True)``); the mempool's
    own rules still apply."""
    node, _, (alice, _, _) = market
    good = _order(alice, Side.BUY, 50_000, ONE)
    unsigned = SignedTx(good.chain_id, good.tx, good.public_key, bytes(64))
    admitted, replayed = node.submit_many([unsigned, good], checked=True)
    assert node.checked == node.received and len(node.mempool) == 1
    assert isinstance(replayed.exception(timeout=0), NonceReplayed)  # same nonce, same fee
    node.produce_block()
    assert admitted.result(timeout=0).receipt.ok


def test_checked_envelopes_with_their_bytes_are_logged_as_given_and_tell_their_waiters(
    market: tuple[Node, Wallet, list[Wallet]],
) -> None:
    """``submit_checked``: the envelope's bytes go to the mempool's count and the block log
    as given; a refusal reaches its waiter before the call returns, an inclusion once the
    block is durable."""
    node, _, (alice, _, _) = market
    good = _order(alice, Side.BUY, 50_000, ONE)
    raw = encode_signed(good)
    admitted: Future[Inclusion] = Future()
    replayed: Future[Inclusion] = Future()
    node.submit_checked([(good, raw, admitted), (good, raw, replayed)])
    assert isinstance(replayed.exception(timeout=0), NonceReplayed) and not admitted.done()
    assert node.mempool.bytes == len(raw)
    node.produce_block()
    inclusion = admitted.result(timeout=0)
    assert inclusion.receipt.ok
    assert node.store.block(inclusion.height).envelopes() == [raw]


def test_restart_resumes_with_the_same_root_and_books(tmp_path: Path) -> None:
    node = _node(tmp_path)
    operator = Wallet(0)
    alice, bob = Wallet(1), Wallet(2)
    _run(
        node,
        operator.sign(ListInstrument, instrument=PERP),
        operator.sign(OracleUpdate, underlying="BTC", index_price=usd(60_000), atm_vol_ppm=600_000),
        alice.sign(Deposit, amount=usd(100_000)),
        bob.sign(Deposit, amount=usd(100_000)),
    )
    first = _order(alice, Side.BUY, 59_000, ONE)
    placed = _run(
        node,
        first,
        _order(alice, Side.BUY, 59_500, 2 * ONE),
        _order(bob, Side.SELL, 61_000, ONE),
    )
    assert all(p.receipt.ok for p in placed)
    _run(node, alice.sign(CancelOrder, instrument=PERP.name, order=first.tx.nonce))
    root, height, depth = node.state.root(), node.height, node.depth[PERP.name]
    node.stop()
    again = _node(tmp_path)
    try:
        assert (again.state.root(), again.height) == (root, height)
        assert again.depth[PERP.name] == depth
        orders = [v for key, v in again.state.items() if key[2:3] == ("order",)]
        assert len(orders) == 2 and all(isinstance(o, OpenOrder) for o in orders)
        take = _run(again, _order(bob, Side.SELL, 59_500, ONE, kind=OrderType.IOC))[0]
        assert take.receipt.ok
        assert again.state.get(k.position(alice.account, PERP.name)).size == ONE  # type: ignore[union-attr]
    finally:
        again.stop()


@pytest.mark.parametrize("executor", ["dry-run", "sequential", "parallel"])
def test_threads_include_everything_acknowledged(tmp_path: Path, executor: str) -> None:
    node, _, traders = _market(tmp_path, executor=executor, backend="inline")
    reports: list[BlockReport] = []
    node.subscribe(reports.append)
    node.start()
    signed = [
        _order(traders[i % 3], Side.BUY if i % 2 else Side.SELL, 60_000 + (i % 7) * 10, ONE)
        for i in range(60)
    ]
    futures = [node.submit(s) for s in signed]
    inclusions = [f.result(timeout=30) for f in futures]
    assert len({i.tx_id for i in inclusions}) == 60
    by_height = {report.block.height: report for report in reports}
    for envelope, inclusion in zip(signed, inclusions, strict=True):
        report = by_height[inclusion.height]
        assert report.block.txs[inclusion.index] == envelope.tx
        assert report.result.receipts[inclusion.index] == inclusion.receipt
    assert sum(report.submitted for report in reports) == 60
    node.stop()


def test_a_replaced_transaction_is_reported_dropped(
    market: tuple[Node, Wallet, list[Wallet]],
) -> None:
    node, _, (alice, _, _) = market
    cheap = _order(alice, Side.BUY, 50_000, ONE)
    tx = cheap.tx
    dearer = sign(alice.keys, CHAIN, type(tx)(**{**msgspec.structs.asdict(tx), "fee": 5}))
    first, second = node.submit(cheap), node.submit(dearer)
    node.admit_pending()
    assert isinstance(first.exception(timeout=0), Dropped)
    assert first.exception(timeout=0).data() == {  # type: ignore[union-attr]
        "account": alice.account,
        "nonce": tx.nonce,
        "reason": "replaced",
    }
    node.produce_block()
    assert second.result(timeout=0).receipt.ok


def test_a_failing_producer_fails_its_waiters(tmp_path: Path) -> None:
    node, _, (alice, _, _) = _market(tmp_path)
    node.store.close()  # the next append cannot write: the producer must stop and say why
    node.start()
    future = node.submit(_order(alice, Side.BUY, 50_000, ONE))
    error = future.exception(timeout=30)
    assert error is not None and node.failure is error
    node.stop()


def test_start_without_producing_admits_but_leaves_blocks_to_the_caller(
    tmp_path: Path,
) -> None:
    node, _, traders = _market(tmp_path)
    height = node.height
    node.start(produce=False)
    try:
        assert not node.producing
        futures = [node.submit(_order(t, Side.BUY, 59_000, ONE)) for t in traders]
        deadline = time.monotonic() + 30
        while node.checked < node.received and time.monotonic() < deadline:
            time.sleep(0.001)
        assert (node.received, node.checked, len(node.mempool)) == (len(traders) + 5,) * 2 + (3,)
        time.sleep(0.2)  # two block intervals: a producer thread would have made a block
        assert node.height == height and not any(f.done() for f in futures)
        report = node.produce_block()
        assert report is not None and report.submitted == 3
        assert all(f.result(timeout=0).height == height + 1 for f in futures)
    finally:
        node.stop()


def test_the_producer_thread_is_reported_running(tmp_path: Path) -> None:
    node, _, _ = _market(tmp_path)
    node.start()
    assert node.producing
    node.stop()
    assert not node.producing


def test_block_time_follows_the_clock_given(tmp_path: Path) -> None:
    now = [T0 + 600.0]
    node = Node(NodeConfig(data_dir=tmp_path, genesis_time=T0), clock=lambda: now[0])
    operator = Wallet(0)
    _run(node, operator.sign(ListInstrument, instrument=PERP))
    now[0] += 60
    _run(node, operator.sign(ListInstrument, instrument=Perpetual("ETH")))
    assert [node.store.block(h).block.time for h in (1, 2)] == [T0 + 600, T0 + 660]
    node.stop()


def test_node_app_gives_its_clock_to_the_node_and_may_leave_blocks_to_the_caller(
    tmp_path: Path,
) -> None:
    from paraclear.api.app import NodeApp

    app = NodeApp(NodeConfig(data_dir=tmp_path, genesis_time=T0), clock=lambda: T0 + 3_600)
    app.start(produce=False)
    try:
        assert not app.node.producing
        future = app.node.submit(Wallet(0).sign(ListInstrument, instrument=PERP))
        deadline = time.monotonic() + 30
        while app.node.checked < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert app.node.produce_block() is not None
        assert future.result(timeout=0).time == T0 + 3_600
    finally:
        app.stop()


def test_admission_counts_what_it_checked_and_refused(
    market: tuple[Node, Wallet, list[Wallet]],
) -> None:
    node, _, (alice, _, _) = market
    received, checked, refused = node.received, node.checked, node.refused
    good = _order(alice, Side.BUY, 50_000, ONE)
    replayed = sign(alice.keys, CHAIN, msgspec.structs.replace(good.tx, nonce=0))
    futures = [node.submit(good), node.submit(replayed)]
    assert (node.received, node.checked) == (received + 2, checked)
    node.admit_pending()
    assert (node.checked, node.refused) == (checked + 2, refused + 1)
    assert isinstance(futures[1].exception(timeout=0), NonceReplayed)

"""The API of a running node: its methods, its subscriptions, its metrics.

``node_api(node)`` builds the ``ApiServer`` for a ``paraclear.chain.core.Node``: the public
market methods, the account reads and order entry (``reads``, ``trading``), the
subscription hub, signature authentication for the node's chain, and gauges for the node's
height, last block's latency and size, and mempool size.

``Publisher`` (``paraclear.api.publisher``) turns each committed block into channel
messages.
"""

from __future__ import annotations

from typing import Any

from paraclear.api.account_risk import AccountRisk
from paraclear.api.auth import Authenticator
from paraclear.api.block_methods import BlockMethods
from paraclear.api.block_stats import STATS_FILE, BlockStats
from paraclear.api.deribit import DeribitMethods
from paraclear.api.deribit_trades import TradeMethods
from paraclear.api.desk import LocalDesk
from paraclear.api.heartbeat import Heartbeats
from paraclear.api.hub import Hub
from paraclear.api.limits import Limits
from paraclear.api.methods import PublicMethods
from paraclear.api.overview import OverviewMethods
from paraclear.api.proofs import ProofMethods
from paraclear.api.publisher import Published, Publisher
from paraclear.api.reads import ReadMethods, ReadNode
from paraclear.api.rpc import Registry
from paraclear.api.server import DASHBOARD_DIR, ApiServer
from paraclear.api.totals import TOTALS_FILE, HouseTotals
from paraclear.api.trading import TradingMethods
from paraclear.chain.core import Node
from paraclear.clearing.instruments import Option, Perpetual
from paraclear.state import keys as k


def node_api(
    node: Node,
    limits: Limits | None = None,
    *,
    testnet: bool = True,
    desk: LocalDesk | None = None,
    published: list[Published] | None = None,
) -> ApiServer:
    """The API server of ``node`` (not started); its publisher is attached to the node.
    ``desk``: the order entry's (its ``caught_up`` is set here), for the front-ends' link
    to share; ``published``: the publisher's ``on_published`` (the link adds itself)."""
    hub = Hub(is_instrument=lambda name: is_listed(node, name))
    stats = BlockStats(
        node.machine, node.config.executor, node.config.data_dir / STATS_FILE, node.height
    )
    totals = HouseTotals(node, node.config.data_dir / TOTALS_FILE)
    publisher = Publisher(node, hub, stats=stats, totals=totals)
    risk = AccountRisk(lambda: node.state, node.machine.margin_model, publisher.caught_up)
    risk.scan(node.state)
    publisher.risk = risk
    if published is not None:
        publisher.on_published = published
    registry = Registry()
    PublicMethods(node, status=lambda: node_status(node)).register(registry)
    Heartbeats().register(registry)
    ReadMethods(node).register(registry)
    ProofMethods(node, totals).register(registry)
    BlockMethods(node).register(registry)
    totals.register(registry)
    DeribitMethods(node).register(registry)
    TradeMethods(node).register(registry)
    OverviewMethods(node, risk).register(registry)
    stats.register(registry)
    desk = desk or LocalDesk(node)
    desk.caught_up = publisher.caught_up
    TradingMethods(desk).register(registry)
    server = ApiServer(
        registry,
        hub=hub,
        authenticator=Authenticator(node.chain_id),
        limits=limits,
        testnet=testnet,
        static_dir=DASHBOARD_DIR,
    )
    metrics = server.metrics
    metrics.gauge("height", "Height of the latest committed block", lambda: node.height)
    metrics.gauge(
        "mempool_transactions", "Transactions waiting in the mempool", lambda: len(node.mempool)
    )
    metrics.gauge(
        "block_seconds",
        "Wall time of the latest block, build to publish",
        lambda: publisher.last_seconds,
    )
    metrics.gauge(
        "block_transactions", "Transactions in the latest block", lambda: publisher.last_txs
    )
    metrics.gauge(
        "storage_full",
        "1 while the store has no room and the node produces no blocks",
        lambda: float(node.storage_full is not None),
    )
    metrics.gauge(
        "log_damaged",
        "1 if the background check of the log's block hashes found a damaged block",
        lambda: float(node.damage is not None),
    )
    publisher.attach(node)
    return server


def is_listed(node: ReadNode, name: str) -> bool:
    """Whether ``name`` is a listed instrument of ``node``."""
    return isinstance(node.state.get(k.instrument(name)), Option | Perpetual)


def node_status(node: Node) -> dict[str, Any]:
    """``public/status``: where the chain is."""
    return {
        "chain_id": node.chain_id,
        "height": node.height,
        "block_time": node.time(),
        "state_root": node.store.last_root.hex(),
        "mempool": len(node.mempool),
        "storage_full": node.storage_full is not None,
        "log_verified": node.verified,
        "log_damage": None if node.damage is None else str(node.damage),
    }

"""``NodeApp``: a node and its API server in one process, as ``paraclear serve`` runs it.

The node's threads produce blocks; the API server runs its event loop in its own thread.
Prometheus gauges of the node (height, mempool, latest block's size and stage times) join
the API's own metrics at ``/metrics``. Restarting on the same data directory resumes.
"""

from __future__ import annotations

from typing import Any

from paraclear.node.auth import Authenticator
from paraclear.node.core import BlockReport, Node, NodeConfig
from paraclear.node.methods import PublicMethods
from paraclear.node.metrics import ApiMetrics
from paraclear.node.rpc import Registry
from paraclear.node.server import ApiServer, ServerThread


class NodeApp:
    """A ``Node`` served over JSON-RPC (WebSocket and HTTP). ``start`` returns the port."""

    def __init__(self, config: NodeConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.node = Node(config)
        self.registry = Registry()
        PublicMethods(self.node, status=self.status).register(self.registry)
        self.metrics = ApiMetrics()
        self.server = ApiServer(
            self.registry, authenticator=Authenticator(config.chain_id), metrics=self.metrics
        )
        self.thread = ServerThread(self.server, host, port)
        self.last_block: BlockReport | None = None
        self.node.subscribe(self._on_block)
        for name, documentation, read in (
            ("height", "Height of the latest committed block", lambda: self.node.height),
            ("mempool_transactions", "Transactions waiting for a block", self._mempool),
            ("block_transactions", "Transactions in the latest block", self._block_txs),
            ("block_seconds", "Wall time of the latest block, build to publish", self._block_s),
        ):
            self.metrics.gauge(name, documentation, read)

    def start(self) -> int:
        port = self.thread.start()
        self.node.start()
        return port

    def stop(self) -> None:
        self.node.stop()
        self.thread.stop()

    def __enter__(self) -> NodeApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.thread.url

    def status(self) -> dict[str, Any]:
        """``public/status``: where the chain is."""
        node = self.node
        return {
            "chain_id": node.chain_id,
            "height": node.height,
            "block_time": node.time(),
            "state_root": node.store.last_root.hex(),
            "mempool": len(node.mempool),
        }

    def _on_block(self, report: BlockReport) -> None:
        self.last_block = report

    def _mempool(self) -> float:
        return float(len(self.node.mempool))

    def _block_txs(self) -> float:
        return float(len(self.last_block.block.txs)) if self.last_block else 0.0

    def _block_s(self) -> float:
        return self.last_block.seconds.get("total", 0.0) if self.last_block else 0.0

"""``NodeApp``: a node and its API server in one process, as ``paraclear serve`` runs it.

The node's threads produce blocks; the API server (``paraclear.node.api.node_api``: every
method, subscriptions fed by each block, the node's gauges at ``/metrics``) runs its event
loop in its own thread. Restarting on the same data directory resumes.
"""

from __future__ import annotations

from typing import Any

from paraclear.node.api import node_api, node_status
from paraclear.node.core import Node, NodeConfig
from paraclear.node.server import ServerThread


class NodeApp:
    """A ``Node`` served over JSON-RPC (WebSocket and HTTP). ``start`` returns the port."""

    def __init__(self, config: NodeConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.node = Node(config)
        self.server = node_api(self.node)
        self.registry = self.server.registry
        self.metrics = self.server.metrics
        self.thread = ServerThread(self.server, host, port)

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
        return node_status(self.node)

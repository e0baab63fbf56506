"""``NodeApp``: a node and its API server in one process, as ``paraclear serve`` runs it.

The node's threads produce blocks; the API server (``paraclear.api.node_api.node_api``: every
method, subscriptions fed by each block, the node's gauges at ``/metrics``) runs its event
loop in its own thread. Restarting on the same data directory resumes.
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable
from typing import Any

from paraclear.api.node_api import node_api, node_status
from paraclear.api.server import ServerThread
from paraclear.chain.core import Node, NodeConfig


class NodeApp:
    """A ``Node`` served over JSON-RPC (WebSocket and HTTP). ``start`` returns the port.

    ``clock`` gives block times (the agent market's simulated minutes); ``start(produce=
    False)`` leaves block production to the caller (``Node.produce_block``).
    """

    def __init__(
        self,
        config: NodeConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = wallclock.time,
    ) -> None:
        self.node = Node(config, clock=clock)
        self.server = node_api(self.node)
        self.registry = self.server.registry
        self.metrics = self.server.metrics
        self.thread = ServerThread(self.server, host, port)

    def start(self, *, produce: bool = True) -> int:
        port = self.thread.start()
        self.node.start(produce=produce)
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

"""``NodeApp``: a node and its API server, as ``paraclear serve`` runs it.

The node's threads produce blocks; the API server (``paraclear.api.node_api.node_api``: every
method, subscriptions fed by each block, the node's gauges at ``/metrics``) runs its event
loop in its own thread (``ApiHost``). Clients connect to that server, or, with
``frontends``, to API front-end processes (``paraclear.api.frontend``) that take the
per-request work off this process's interpreter and reach the server through the core's
link (``paraclear.api.core_link``). Restarting on the same data directory resumes.
"""

from __future__ import annotations

import shutil
import tempfile
import time as wallclock
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paraclear.api.core_link import CoreLink
from paraclear.api.desk import LocalDesk
from paraclear.api.frontends import Frontends
from paraclear.api.node_api import node_api, node_status
from paraclear.api.publisher import Published
from paraclear.api.server import ServerThread
from paraclear.chain.core import Node, NodeConfig


class ApiHost:
    """A node's API server on its own thread: listening on ``host:port`` itself, or, with
    ``frontends`` > 0, serving that many front-end processes there over a unix socket."""

    def __init__(self, node: Node, host: str = "127.0.0.1", port: int = 0, frontends: int = 0):
        self.node = node
        self.desk = LocalDesk(node)
        published: list[Published] = []
        self.server = node_api(node, desk=self.desk, published=published)
        self.thread = ServerThread(self.server, host, port)
        self.frontends: Frontends | None = None
        self.link: CoreLink | None = None
        if frontends:
            socket_dir = Path(tempfile.mkdtemp(prefix="paraclear-core-"))
            self.link = CoreLink(node, self.server, self.desk, socket_dir / "core.sock")
            published.append(self.link.broadcast)
            self.frontends = Frontends(frontends, self.link.path, host, port)

    def start(self) -> int:
        """Serve; returns the port clients connect to."""
        if self.frontends is None or self.link is None:
            return self.thread.start()
        self.thread.start(listen=False)
        self.thread.run(self.link.start())
        self.thread.port = self.frontends.start()
        return self.thread.port

    def stop(self) -> None:
        if self.frontends is not None and self.link is not None:
            self.frontends.stop()
            self.thread.run(self.link.stop())
            shutil.rmtree(self.link.path.parent, ignore_errors=True)
        self.thread.stop()

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def http_url(self) -> str:
        return self.thread.http_url


class NodeApp:
    """A ``Node`` served over JSON-RPC (WebSocket and HTTP). ``start`` returns the port.

    ``clock`` gives block times (the agent market's simulated minutes); ``start(produce=
    False)`` leaves block production to the caller (``Node.produce_block``). ``frontends``:
    API front-end processes that serve the clients (0: this process does).
    """

    def __init__(
        self,
        config: NodeConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = wallclock.time,
        frontends: int = 0,
    ) -> None:
        self.node = Node(config, clock=clock)
        self.api = ApiHost(self.node, host, port, frontends)
        self.server = self.api.server
        self.registry = self.server.registry
        self.metrics = self.server.metrics
        self.thread = self.api.thread

    def start(self, *, produce: bool = True) -> int:
        port = self.api.start()
        self.node.start(produce=produce)
        return port

    def stop(self) -> None:
        self.node.stop()
        self.api.stop()

    def __enter__(self) -> NodeApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.api.url

    def status(self) -> dict[str, Any]:
        """``public/status``: where the chain is."""
        return node_status(self.node)

"""The API's front-end processes beside a node core (``paraclear serve --frontends N``).

``Frontends`` reserves the public port (a socket bound with ``SO_REUSEPORT`` and never
listening, so that port 0 picks one and no other user can take it), starts ``count``
processes of ``paraclear.api.frontend`` on it, each linked to the core's unix socket, and
starts a new one whenever one dies (it is watched every ``WATCH_SECONDS``). Clients of a
front-end that died reconnect: the kernel hands their new connections to the others.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Final

from paraclear.api.frontend import READY

log = logging.getLogger(__name__)

WATCH_SECONDS: Final = 0.2
STOP_SECONDS: Final = 10.0
"""How long a stopping front-end may take before it is killed."""


class FrontendFailed(RuntimeError):
    """A front-end process exited before it served."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT`` and not listening: it holds
    the port for the front-ends (port 0: the kernel picks one). Raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    try:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, port))
    except OSError:
        reserved.close()
        raise
    return reserved


class Frontends:
    """``count`` front-end processes on ``host:port``; see the module docstring."""

    def __init__(
        self, count: int, socket_path: Path, host: str, port: int, sig_threads: int = 1
    ) -> None:
        self.count = count
        self.socket_path = socket_path
        self.host = host
        self.port = port
        self.sig_threads = sig_threads
        self.processes: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        """Front-ends started again after one died."""
        self._reserved: socket.socket | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> int:
        """Reserve the port and start every front-end; returns the port once all serve.
        Raises ``OSError`` (the port), ``FrontendFailed``."""
        self._reserved = reserve_port(self.host, self.port)
        self.port = self._reserved.getsockname()[1]
        try:
            self.processes = [self._launch() for _ in range(self.count)]
            for process in self.processes:
                self._ready(process)
        except BaseException:
            self.stop()
            raise
        self._watcher = threading.Thread(
            target=self._watch, name="paraclear-frontends", daemon=True
        )
        self._watcher.start()
        return self.port

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [process.pid for process in self.processes]

    def _spawn(self) -> subprocess.Popen[bytes]:
        return self._ready(self._launch())

    def _launch(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "paraclear.api.frontend", "--socket", str(self.socket_path),
            "--host", self.host, "--port", str(self.port),
            "--sig-threads", str(self.sig_threads),
        ]  # fmt: skip
        # a session of its own: a terminal's Ctrl-C stops the node, which stops its front-ends
        return subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)

    @staticmethod
    def _ready(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """``process`` once it serves. Raises ``FrontendFailed`` if it exits first."""
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        process.stdout.close()
        if not line.startswith(READY):
            process.wait()
            raise FrontendFailed(f"a front-end exited with {process.returncode} before serving")
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            for index, process in enumerate(list(self.processes)):
                if process.poll() is None or self._stopping.is_set():
                    continue
                log.warning(
                    "front-end %d exited (%s); starting another", process.pid, process.returncode
                )
                try:
                    fresh = self._spawn()
                except (OSError, FrontendFailed) as error:
                    log.error("cannot start a front-end: %s", error)
                    continue
                with self._lock:
                    self.processes[index] = fresh
                self.restarts += 1

    def stop(self) -> None:
        """Stop every front-end (SIGTERM, then SIGKILL after ``STOP_SECONDS``); free the
        port."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

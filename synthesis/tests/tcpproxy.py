"""A TCP proxy a test can cut and restore: a backend (PostgreSQL, Redis) going away under a real server.

A server process is pointed at the proxy's port instead of the backend's. `cut()` closes the
listener and drops every live connection (both ends), so the server sees what it sees when the
database or Redis dies: its open connections break and new ones are refused (nothing listens on
the port). `restore()` listens on the same port again and forwards as before: the backend is back.

Threads, not asyncio: the test's own code is synchronous, and a proxy thread per direction of a
connection is plenty for the few connections one server opens.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target` (host, port) until cut; `url_for` rewrites a backend URL to it."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stalled = False
        self._held: set[socket.socket] = set()  # accepted while stalled: never forwarded

    # -- the backend's life --------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        """Listen (on `port`, or a free one picked now and kept for `restore`) and forward."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The same port again right after a cut, whatever TIME_WAIT the dropped connections left.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name=f"proxy-accept-{self.port}", daemon=True).start()
        return self

    def cut(self) -> None:
        """The backend goes away: the port is closed (connections refused) and every open connection drops."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections | self._held, set()
            self._held = set()
        if listener is not None:
            _close(listener)
        for sock in connections:
            _close(sock)

    def stall(self) -> None:
        """The backend hangs: open connections drop, new ones are accepted and never answered.

        What a backend that is up but stuck (or a host behind a firewall that accepts and drops)
        looks like to a client: only the client's own timeouts end its wait.
        """
        with self._lock:
            self._stalled = True
            connections, self._connections = self._connections, set()
        for sock in connections:
            _close(sock)
        if self._listener is None:
            self.start()

    def restore(self) -> None:
        """The backend is back, on the same port."""
        with self._lock:
            self._stalled = False
            held, self._held = self._held, set()
        for sock in held:  # a client still waiting on the stuck backend gets its error now
            _close(sock)
        if self._listener is None:
            self.start()

    close = cut

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def url_for(self, url: str) -> str:
        """`url` (postgres://… or redis://…) with its host:port replaced by the proxy's."""
        address = "{}:{}".format(*self.target)
        if address not in url:
            raise ValueError(f"{url!r} does not name {address}")
        return url.replace(address, f"127.0.0.1:{self.port}", 1)

    # -- forwarding ----------------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut()
                return
            with self._lock:
                if self._stalled:
                    self._held.add(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # One side finished or the proxy was cut: the whole connection ends.
        with self._lock:
            self._connections.discard(source)
            self._connections.discard(sink)
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    """Shut down first, so a thread blocked in recv/accept on it returns at once, then close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

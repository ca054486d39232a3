"""
The production web server: daphne, whose access log escapes and redacts like every other log line.

    python -m voicehub_site.serve --bind 0.0.0.0 --port 8000 voicehub_site.asgi:application

takes daphne's own arguments (the Dockerfile and docker-compose.yml run it). Daphne writes
its access log straight to a stream, not through logging, with the request line as the
client sent it: `?api_key=<key>` whole (the key is refused, but it was logged), and a raw
ESC or other control byte in the path. Here each entry's request goes through
voicehub_site.logs.safe_line first.

On SIGTERM it drains (voicehub_site.drain): it stops listening, finishes what is in flight within
VOICEHUB_DRAIN_SECONDS, cuts what is left (settling what was delivered) and exits.
"""

import logging
import signal
import time

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from voicehub_site.logs import safe_line

log = logging.getLogger("voicehub_site.serve")

# After the grace period, how long the cut sessions get to settle (a ledger write each) before the exit.
SETTLE_SECONDS = 10.0
# After the grace period, when the sockets still open are closed with 1012 (service restart: reconnect).
SOCKET_CLOSE_SECONDS = 2.0
CLOSE_RESTART = 1012
# How often the drain looks at what is still in flight.
DRAIN_TICK_SECONDS = 0.1


class AccessLog(AccessLogGenerator):
    """Daphne's NCSA-style access log, its request ("GET /path?query") escaped and redacted."""

    def write_entry(self, host, date, request, *args, **kwargs):
        super().write_entry(host, date, safe_line(request), *args, **kwargs)


class SafeServer(Server):
    """daphne's Server, with the access log the command line asked for made an AccessLog, that drains on SIGTERM."""

    def __init__(self, *args, action_logger=None, **kwargs):
        if isinstance(action_logger, AccessLogGenerator) and not isinstance(action_logger, AccessLog):
            action_logger = AccessLog(action_logger.stream)
        super().__init__(*args, action_logger=action_logger, **kwargs)
        self.ports = []
        self._cut = self._sockets_closed = False

    def run(self):
        from twisted.internet import reactor

        # Twisted installs its own SIGTERM handler (stop at once) when the reactor starts; ours replaces it then.
        if self.signal_handlers:
            reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._sigterm)
        super().run()

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)

    def _sigterm(self, signum, frame):
        from twisted.internet import reactor

        reactor.callFromThread(self.drain)

    def drain(self):
        """Stop taking connections, let what is in flight finish within the grace period, then exit."""
        from django.conf import settings
        from twisted.internet import defer, reactor

        from voicehub_site.drain import STATE
        from voicehub_site.http_limits import HeadLimitedChannel

        grace = float(settings.VOICEHUB_DRAIN_SECONDS)
        if not STATE.begin(grace):
            log.warning("SIGTERM again while draining: exiting now (the sweep settles what this cuts)")
            reactor.stop()
            return
        in_flight = len(self._busy())
        # Closed on the reactor's next turn: the line below is written once no connection can be accepted.
        closed = defer.gatherResults([defer.maybeDeferred(port.stopListening) for port in self.ports])
        closed.addBoth(lambda _: log.warning(
            "SIGTERM: draining, no longer listening (up to %.0f s for %d requests and sockets in flight)", grace, in_flight
        ))
        for channel in list(HeadLimitedChannel.open_channels):
            channel.close_if_idle()
        self._drain_tick()

    def _busy(self) -> list:
        """The requests and sockets whose application has not finished."""
        busy = []
        for protocol, details in list(self.connections.items()):
            instance = details.get("application_instance")
            if instance is not None and not instance.done():
                busy.append(protocol)
        return busy

    def _drain_tick(self):
        from twisted.internet import reactor

        from synthesis.services.session import cancel_live_sessions
        from voicehub_site.drain import SHUTDOWN, STATE
        from voicehub_site.http_limits import HeadLimitedChannel

        for channel in list(HeadLimitedChannel.open_channels):
            channel.close_if_idle()  # one that just answered its last request
        busy = self._busy()
        now = time.monotonic()
        if not busy:
            log.warning("drained in %.1f s: exiting", now - STATE.started)
            reactor.stop()
            return
        if now >= STATE.deadline and not self._cut:
            self._cut = True
            cut = cancel_live_sessions(SHUTDOWN)
            log.warning("grace period over: cut %d sessions (what was delivered is charged)", cut)
        if now >= STATE.deadline + SOCKET_CLOSE_SECONDS and not self._sockets_closed:
            # A socket with nothing running (a realtime one waiting for text) would wait for its client forever.
            self._sockets_closed = True
            for protocol in busy:
                if isinstance(protocol, WebSocketProtocol):
                    protocol.serverClose(code=CLOSE_RESTART)
        if now >= STATE.deadline + SETTLE_SECONDS:
            log.warning("%d requests or sockets still open after the grace period: exiting", len(busy))
            reactor.stop()  # daphne's shutdown trigger cancels what is left and waits for it
            return
        reactor.callLater(DRAIN_TICK_SECONDS, self._drain_tick)


class SafeCommandLineInterface(CommandLineInterface):
    server_class = SafeServer


if __name__ == "__main__":
    SafeCommandLineInterface.entrypoint()

"""
The limits on a request's head (request line and headers), answered with a status a client can act on.

Daphne serves production and `manage.py up` (its runserver) on Twisted's HTTPChannel, whose own
limits give no usable answer: a line over 16 KB (a big Authorization header, a long URL) closes the
connection without a response, and over 16 KB of head or 500 headers get a bare 400 with no body.

HeadLimitedChannel keeps Twisted's parser with our limits, and answers them:

- 431 Request Header Fields Too Large, {"detail", "code": "headers_too_large"}, for one header line
  over MAX_LINE_BYTES, a head over MAX_HEAD_BYTES in all, or more than MAX_HEADERS headers;
- 414 URI Too Long, {"detail", "code": "uri_too_long"}, for a request line over MAX_LINE_BYTES.

Then it closes politely: the answer goes out followed by a FIN (a half-close), and what the client
is still sending is read and dropped for up to LINGER_SECONDS. Closing a socket that has unread data
makes the kernel answer with a reset, which can destroy the answer before the client reads it
(nginx's lingering_close exists for the same reason).

voicehub_site/asgi.py installs it: daphne imports the application before it starts listening.
"""

from __future__ import annotations

import json
import weakref

from twisted.web import http

from voicehub_site.drain import STATE as drain_state

# nginx's defaults (large_client_header_buffers 4 8k) and Apache's LimitRequestFields 100: a browser's
# cookies and an API key are far below them; the whole head is 32 KB, twice Twisted's 16 KB.
MAX_LINE_BYTES = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADERS = 100
# How long a refused client may go on sending before the connection is closed (the answer is already out);
# nginx's lingering_time.
LINGER_SECONDS = 30

_REASONS = {414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


def refusal(status: int, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response with the API's JSON error body, that ends the connection."""
    body = json.dumps({"detail": detail, "code": code}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n"
        b"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n" % (status, _REASONS[status], len(body))
    )
    return head + body


class HeadLimitedChannel(http.HTTPChannel):
    MAX_LENGTH = MAX_LINE_BYTES  # LineReceiver's limit: each line of the head
    totalHeadersSize = MAX_HEAD_BYTES
    maxHeaders = MAX_HEADERS

    _refused = False
    # The open connections of this process, for the drain (voicehub_site.serve): weak, a closed one just goes.
    open_channels: weakref.WeakSet = weakref.WeakSet()

    def connectionMade(self):
        super().connectionMade()
        HeadLimitedChannel.open_channels.add(self)

    def checkPersistence(self, request, version):
        # Draining: each response says `Connection: close` and the connection ends after it, so a client's
        # next request opens a new connection, which a process still serving takes.
        if drain_state.draining:
            request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
            return False
        return super().checkPersistence(request, version)

    def close_if_idle(self) -> bool:
        """Draining: end a kept-alive connection no request is using (True), or leave a busy one to end after
        its response (checkPersistence); a connection upgraded to a websocket is its socket's to close."""
        if self._handlingRequest or self.requests or self.transport is None:
            return False
        self.transport.loseConnection()
        return True

    def dataReceived(self, data):
        if self._refused:
            return  # dropped unread (the idle timer is not reset: the linger is bounded)
        super().dataReceived(data)

    def lineLengthExceeded(self, line):
        # Only the head is read in line mode. Nothing of this request counted yet: the line is its first.
        if self._receivedHeaderSize == 0:
            self._refuse(414, "uri_too_long", f"The request line is longer than {MAX_LINE_BYTES:,} bytes: shorten the URL.")
        else:
            self._refuse(431, "headers_too_large", f"A request header is longer than {MAX_LINE_BYTES:,} bytes.")

    def lineReceived(self, line):
        if self._refused:
            return
        # Checked before Twisted counts the line, which would answer a bare 400.
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self._refuse(431, "headers_too_large", f"The request headers are longer than {MAX_HEAD_BYTES:,} bytes in all.")
            return
        super().lineReceived(line)

    def headerReceived(self, line):
        if self._receivedHeaderCount >= self.maxHeaders:
            self._refuse(431, "headers_too_large", f"The request has more than {MAX_HEADERS} headers.")
            return False
        return super().headerReceived(line)

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._refused = True
        self.clearLineBuffer()  # stops LineReceiver's loop over the lines already buffered
        self.transport.write(refusal(status, code, detail))
        self.transport.loseWriteConnection()
        self.setTimeout(LINGER_SECONDS)  # then timeoutConnection() closes it, aborting 15 s later if need be


def _channel(factory) -> http._GenericHTTPChannelProtocol:
    """What twisted.web.http.HTTPFactory.protocol makes (_genericHTTPChannelProtocolFactory), with our channel."""
    return http._GenericHTTPChannelProtocol(HeadLimitedChannel())


def install() -> None:
    """Make daphne's HTTP server use HeadLimitedChannel (daphne builds each connection's protocol from this)."""
    from daphne.http_protocol import HTTPFactory

    HTTPFactory.protocol = _channel

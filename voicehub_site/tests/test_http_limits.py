"""
An oversized request head gets an answer, not a dropped connection: 431 headers_too_large, 414 uri_too_long.

Under the servers that serve Voicehub, both built on daphne: `daphne voicehub_site.asgi:application`
(production) and `manage.py runserver` (what `manage.py up` runs). Raw requests over a socket, so
the test sees exactly what a client gets, including a connection closed without a word.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from voicehub_site.http_limits import MAX_HEAD_BYTES, MAX_HEADERS, MAX_LINE_BYTES
from voicehub_site.testing import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {
    "daphne": lambda port: ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
    "runserver": lambda port: ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
}


@pytest.fixture(scope="module", params=sorted(COMMANDS))
def server(request, tmp_path_factory):
    """The server process on a free port, with the development settings and a database of its own."""
    port = free_port()
    database = tmp_path_factory.mktemp("db") / "db.sqlite3"
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL", "VOICEHUB_ENV")}
    env.update(DATABASE_URL=f"sqlite:///{database}", VOICEHUB_NO_BOOTSTRAP="1")
    process = subprocess.Popen(
        [sys.executable, *COMMANDS[request.param](port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def read_to_end(sock) -> bytes:
    """What the server sends until it closes; a reset (the dropped connection of old) fails the test."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def get(*headers: bytes, target: bytes = b"/healthz", body: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n%s" % (
        target, b"".join(header + b"\r\n" for header in headers), body
    )


def status_and_error(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), response[:300]
    return int(head.split(b" ", 2)[1]), json.loads(body)


def bearer(size: int) -> bytes:
    return b"Authorization: Bearer vh_" + b"a" * size


@pytest.mark.parametrize("size", [16 * 1024, 64 * 1024])
def test_a_huge_authorization_header_is_431(server, size):
    status, error = status_and_error(exchange(server, get(bearer(size))))
    assert status == 431
    assert error["code"] == "headers_too_large" and error["detail"]


def test_headers_that_add_up_past_the_limit_are_431(server):
    each = b"X-Filler-%d: " + b"b" * 1000
    headers = [each % n for n in range(MAX_HEAD_BYTES // 1000 + 1)]
    assert (status_and_error(exchange(server, get(*headers)))[1]["code"]) == "headers_too_large"


def test_too_many_headers_are_431(server):
    headers = [b"X-Tiny-%d: 1" % n for n in range(MAX_HEADERS + 1)]
    status, error = status_and_error(exchange(server, get(*headers)))
    assert (status, error["code"]) == (431, "headers_too_large")


def test_a_huge_url_is_414(server):
    status, error = status_and_error(exchange(server, get(target=b"/healthz?q=" + b"x" * (MAX_LINE_BYTES + 1))))
    assert (status, error["code"]) == (414, "uri_too_long")


def test_a_client_that_goes_on_sending_after_the_answer_is_not_reset(server):
    # Closing a socket with data still coming makes the kernel reset the connection, which can destroy
    # the answer before the client reads it: the server half-closes and drops the rest unread instead.
    body = b"z" * 8 * 1024 * 1024  # more than a send buffer holds (4 MB at most on Linux): the server must read it
    with socket.create_connection(("127.0.0.1", server), timeout=60) as sock:
        sock.sendall(get(bearer(64 * 1024), b"Content-Length: %d" % len(body)))
        answer = read_to_end(sock)
        sock.sendall(body)  # a connection the server closed outright raises BrokenPipeError or ConnectionResetError
    assert status_and_error(answer)[0] == 431


def test_requests_within_the_limits_are_served_and_keep_their_connection(server):
    just_under = bearer(MAX_LINE_BYTES - len(bearer(0)))
    headers = [just_under] + [b"X-Tiny-%d: 1" % n for n in range(MAX_HEADERS - 4)]
    keep_alive = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % b"".join(h + b"\r\n" for h in headers)
    response = exchange(server, keep_alive + get(just_under))
    assert response.count(b"HTTP/1.1 200 OK") == 2, response[:300]

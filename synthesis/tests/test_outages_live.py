"""
Outages under a real server: the database, Redis or storage goes away and comes back.

A real ASGI server (daphne) runs on the test's PostgreSQL and Redis, each reached through a
TCP proxy the test can cut (synthesis.tests.tcpproxy): cut, the backend's port is closed and the
server's open connections drop, as when the backend dies; restored, it listens on the same port.
Storage is the server's MEDIA_ROOT, replaced by a plain file while it is "down".

While a backend is down every synthesis door answers 503 with Retry-After in its own error
shape, never a 500 and never a hang (the clients' generous timeouts would catch one); the ledger,
read straight from the database, charges nothing for audio that was not delivered and leaves no
`reserved` row; and the first request after the backend returns succeeds, without a restart.
"""

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.cache import cache

from accounts.models import UsageRecord
from synthesis.tests.helpers import require_postgres_and_redis
from synthesis.tests.tcpproxy import TcpProxy
from voicehub_site.testing import database_url, free_port, wait_until_up

pytestmark = [pytest.mark.model, pytest.mark.scaleout]

ROOT = Path(__file__).resolve().parents[2]
# Generous: a request that has not answered by then hangs (the promise is "never hang", not a latency).
CLIENT_TIMEOUT = 30
TEXT = "Hello there."


@dataclass
class OutageServer:
    url: str
    process: subprocess.Popen
    database: TcpProxy
    redis: TcpProxy
    media: Path

    def storage_down(self) -> None:
        """Audio storage fails: MEDIA_ROOT is a plain file, so every write under it is an OSError."""
        self.media.rename(self.media.with_name("media-away"))
        self.media.write_text("storage is down")

    def storage_up(self) -> None:
        self.media.unlink()
        self.media.with_name("media-away").rename(self.media)


@pytest.fixture
def outage_server(tmp_path):
    """One daphne process whose PostgreSQL and Redis are behind proxies the test cuts and restores."""
    from django.conf import settings

    require_postgres_and_redis()
    db_url = database_url()
    db = urlparse(db_url)
    redis = urlparse(settings.REDIS_URL)
    database_proxy = TcpProxy((db.hostname, db.port or 5432)).start()
    redis_proxy = TcpProxy((redis.hostname, redis.port or 6379)).start()
    media = tmp_path / "media"
    media.mkdir()
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_proxy.url_for(db_url),
        REDIS_URL=redis_proxy.url_for(settings.REDIS_URL),
        # Persistent connections, as deployed (docker-compose.yml): a broken one must be dropped, not reused.
        DATABASE_CONN_MAX_AGE="60",
        MEDIA_ROOT=str(media),
        VOICEHUB_NO_BOOTSTRAP="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    server = OutageServer(f"http://127.0.0.1:{port}", process, database_proxy, redis_proxy, media)
    try:
        wait_until_up(server.url, process)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)
        database_proxy.close()
        redis_proxy.close()


# -- requests --------------------------------------------------------------------------------------------


def request(server, path, *, secret=None, body=None, headers=None):
    """(status, headers, body bytes); an error status is an answer too. A hang fails here (timeout)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if secret:
        all_headers["Authorization"] = f"Bearer {secret}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, headers=all_headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def native_tts(server, secret, *, store=False):
    return request(server, "/api/v1/tts", secret=secret, body={"text": TEXT, "format": "wav", "store": store})


def openai_speech(server, secret):
    return request(
        server, "/v1/audio/speech", secret=secret,
        body={"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "wav"},
    )


def assert_unavailable(answer):
    """503 with Retry-After and a JSON body; the body, decoded."""
    status, headers, body = answer
    assert status == 503, (status, body[:300])
    assert int(headers["Retry-After"]) > 0
    return json.loads(body)


def assert_native_unavailable(answer):
    body = assert_unavailable(answer)
    assert body["code"] == "service_unavailable" and body["detail"], body


def assert_openai_unavailable(answer):
    error = assert_unavailable(answer)["error"]
    assert error["code"] == "service_unavailable" and error["type"] == "server_error" and error["message"], error


def assert_audio(answer):
    status, headers, body = answer
    assert status == 200, (status, body[:300])
    assert body[:4] == b"RIFF" and len(body) > 1000


def assert_ledger(org, delivered: int):
    """The organization is charged exactly the characters of the audio it got, and nothing is left reserved."""
    org.refresh_from_db()
    records = UsageRecord.objects.filter(organization=org)
    assert not records.filter(status=UsageRecord.Status.RESERVED).exists(), list(records.values("status", "error_code"))
    succeeded = records.filter(status=UsageRecord.Status.SUCCEEDED)
    assert org.characters_used == delivered == sum(record.characters for record in succeeded)


# -- the outages ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_outage_is_503_with_retry_after_then_service_resumes_by_itself(cast, outage_server):
    cache.clear()
    secret = cast.key(cast.alice)
    assert_audio(native_tts(outage_server, secret))  # the server holds a live database connection now

    outage_server.database.cut()
    assert_native_unavailable(native_tts(outage_server, secret))
    assert_openai_unavailable(openai_speech(outage_server, secret))
    assert_native_unavailable(native_tts(outage_server, secret))  # twice: a closed port, not only a dropped connection
    status, headers, page = request(outage_server, "/pricing", headers={"Accept": "text/html"})
    assert status == 503 and int(headers["Retry-After"]) > 0 and b"briefly unavailable" in page, (status, page[:300])
    status, _, body = request(outage_server, "/readyz")
    assert status == 503 and json.loads(body)["checks"]["database"].startswith("error"), body
    # Liveness is not readiness: the process is fine, so an orchestrator must not restart it for an outage.
    assert request(outage_server, "/healthz")[0] == 200

    outage_server.database.restore()
    assert_audio(native_tts(outage_server, secret))
    assert_audio(openai_speech(outage_server, secret))

    # Down and back between two requests (a database restart): the next request does not notice.
    outage_server.database.cut()
    outage_server.database.restore()
    assert_audio(native_tts(outage_server, secret))
    assert_ledger(cast.org_a, delivered=4 * len(TEXT))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_redis_outage_is_503_with_retry_after_then_service_resumes_by_itself(cast, outage_server):
    cache.clear()
    secret = cast.key(cast.alice)
    assert_audio(native_tts(outage_server, secret))

    outage_server.redis.cut()
    assert_native_unavailable(native_tts(outage_server, secret))
    assert_openai_unavailable(openai_speech(outage_server, secret))
    assert_native_unavailable(native_tts(outage_server, secret))
    status, _, body = request(outage_server, "/readyz")
    assert status == 503 and json.loads(body)["checks"]["cache"].startswith("error"), body
    assert request(outage_server, "/healthz")[0] == 200

    outage_server.redis.restore()
    assert_audio(native_tts(outage_server, secret))
    assert_audio(openai_speech(outage_server, secret))
    assert_ledger(cast.org_a, delivered=3 * len(TEXT))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_storage_outage_is_503_with_nothing_charged_then_service_resumes_by_itself(cast, outage_server):
    from synthesis.models import Generation

    cache.clear()
    secret = cast.key(cast.alice)
    assert_audio(native_tts(outage_server, secret, store=True))

    outage_server.storage_down()
    body = assert_unavailable(native_tts(outage_server, secret, store=True))
    assert body["code"] == "service_unavailable" and "nothing was charged" in body["detail"], body
    assert_ledger(cast.org_a, delivered=len(TEXT))
    assert UsageRecord.objects.filter(organization=cast.org_a, status=UsageRecord.Status.REFUNDED).count() == 1

    outage_server.storage_up()
    assert_audio(native_tts(outage_server, secret, store=True))
    assert_ledger(cast.org_a, delivered=2 * len(TEXT))
    assert Generation.objects.filter(organization=cast.org_a).count() == 2


# -- a backend that hangs instead of refusing: only our own timeouts end the wait -------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("backend", ["database", "redis"])
def test_a_backend_that_hangs_is_503_not_a_hang_then_service_resumes(cast, outage_server, backend):
    cache.clear()
    secret = cast.key(cast.alice)
    assert_audio(native_tts(outage_server, secret))

    # Accepted and never answered: without a connect timeout (DATABASE_CONNECT_TIMEOUT) or a socket
    # timeout (REDIS_TIMEOUT) the server would wait for minutes and the client's timeout would fail this.
    getattr(outage_server, backend).stall()
    assert_native_unavailable(native_tts(outage_server, secret))
    assert_openai_unavailable(openai_speech(outage_server, secret))

    getattr(outage_server, backend).restore()
    assert_audio(native_tts(outage_server, secret))
    assert_ledger(cast.org_a, delivered=2 * len(TEXT))


# -- the database dies while a stream is being heard -------------------------------------------------------

LONG_TEXT = " ".join(["The quick brown fox jumps over the lazy dog, and then it rests a while."] * 3)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_that_dies_mid_stream_never_charges_more_than_was_delivered(cast, outage_server):
    from django.core.management import call_command

    cache.clear()
    secret = cast.key(cast.alice)
    req = urllib.request.Request(
        outage_server.url + "/api/v1/tts/stream",
        data=json.dumps({"text": LONG_TEXT, "format": "wav", "store": False}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}, method="POST",
    )
    received = b""
    with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT) as response:
        assert response.status == 200
        received += response.read1(65536)  # audio is being heard
        outage_server.database.cut()
        try:
            while chunk := response.read1(65536):
                received += chunk
        except (OSError, http.client.HTTPException):
            pass  # the server may end the stream early: only what arrived counts
    outage_server.database.restore()
    assert received

    # Whatever the server could not settle while the database was down, the sweep settles from the
    # progress it recorded: never past what was delivered, and nothing stays reserved. (Measured: the
    # whole stream arrives and the sweep refunds it, since no progress could be recorded: an undercharge.)
    call_command("sweep_reservations", older_than=0)
    cast.org_a.refresh_from_db()
    assert not UsageRecord.objects.filter(organization=cast.org_a, status=UsageRecord.Status.RESERVED).exists()
    assert cast.org_a.characters_used <= len(LONG_TEXT)

    assert_audio(native_tts(outage_server, secret))  # and the service is back

"""
Limits hold across server processes sharing PostgreSQL and Redis.

Two real ASGI servers (daphne) run against the test database and Redis; a
burst at twice the plan's requests-per-minute gets only 200s and 429s, never
more successes than the limit, and the character ledger adds up.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.models import Plan, UsageRecord
from accounts.tests.test_quota import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.model, pytest.mark.scaleout]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


@pytest.fixture
def servers():
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        message = "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): runs in the scale-out pass of manage.py test"
        if os.environ.get("CI", "").lower() == "true" and os.environ.get("VOICEHUB_SCALEOUT_PASS"):
            pytest.fail(message)
        pytest.skip(message)
    env = dict(os.environ, DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL, VOICEHUB_NO_BOOTSTRAP="1")
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "voicehub_site.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        processes.append(process)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process in zip(urls, processes):
            wait_until_up(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def post(url, secret, text):
    request = urllib.request.Request(
        url + "/api/v1/tts",
        data=json.dumps({"text": text, "format": "wav", "store": False}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_burst_at_twice_the_rate_across_two_servers_never_overspends(cast, servers):
    cache.clear()
    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=4, concurrent_requests=8)
    secret = cast.key(cast.alice)
    # Two server processes: no fake clock reaches them. None is needed: the window
    # slides, so a burst that straddles a minute boundary is refused all the same.
    results = []
    lock = threading.Lock()

    def fire(index):
        status, body = post(servers[index % 2], secret, "Hi there.")
        with lock:
            results.append((status, body))

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {200, 429}, results
    assert statuses.count(200) == 4
    assert all(json.loads(body)["code"] == "rate_limited" for status, body in results if status == 429)
    cast.org_a.refresh_from_db()
    succeeded = UsageRecord.objects.filter(organization=cast.org_a, status="succeeded")
    assert succeeded.count() == 4
    assert cast.org_a.characters_used == 4 * len("Hi there.") == sum(r.characters for r in succeeded)

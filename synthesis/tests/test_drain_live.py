"""
Graceful drain with real processes: `python -m voicehub_site.serve` (what the Dockerfile runs) gets SIGTERM.

One process on the embedded default (SQLite): a stream in flight finishes while new connections are
refused, then the process exits 0; with no grace period left, the stream is cut and charged exactly what
was delivered. Two processes on PostgreSQL and Redis (the scale-out pass): a rolling restart under a
steady load loses no request and charges nothing undelivered.

The servers run the real model. Nothing here waits on the clock: the tests wait for what a server
writes to its log ("draining", "drained"), for a connection to be refused, and for process exits.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.cache import cache

from accounts.models import UsageRecord
from synthesis.audio import parse_format
from synthesis.tests.helpers import require_postgres_and_redis
from voicehub_site.testing import database_url, free_port, wait_until_up

pytestmark = [pytest.mark.model, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROOT = Path(__file__).resolve().parents[2]
# Bounds on a hung process or socket, not latencies: a busy machine may take seconds per sentence.
PROCESS_TIMEOUT = 300
CLIENT_TIMEOUT = 120
SHORT = "Hello there, friend. The boats came in at dawn."
MEDIUM = " ".join(f"Sentence number {n} of the drain test goes on for a little while." for n in range(4))
LONG = " ".join(f"Sentence number {n} of this longer test text goes on for a while." for n in range(30))


class Server:
    """One `python -m voicehub_site.serve` process; its stderr read by a thread, so the test can wait for a line."""

    def __init__(self, port: int, env: dict):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voicehub_site.serve", "--bind", "127.0.0.1", "--port", str(port),
             "voicehub_site.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<exit>")
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float = PROCESS_TIMEOUT) -> str:
        with self._changed:
            found = self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout=timeout)
        assert found, f"the server never wrote {text!r}:\n{self.log()}"
        return next(line for line in self.lines if text in line)

    def log(self) -> str:
        return "".join(self.lines)[-4000:]

    def wait_up(self):
        # wait_until_up reads stderr on a failed start; ours is read by the thread.
        wait_until_up(self.url, self.process, timeout=PROCESS_TIMEOUT)

    def sigterm(self):
        self.process.send_signal(signal.SIGTERM)
        self.wait_for_line("SIGTERM: draining")

    def exit_code(self) -> int:
        return self.process.wait(timeout=PROCESS_TIMEOUT)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def server_env(**extra) -> dict:
    from django.conf import settings

    env = dict(os.environ, DATABASE_URL=database_url(), VOICEHUB_NO_BOOTSTRAP="1", PYTHONUNBUFFERED="1")
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update({key: str(value) for key, value in extra.items()})
    return env


@pytest.fixture
def start_server():
    started = []

    def start(port=None, **extra) -> Server:
        server = Server(port or free_port(), server_env(**extra))
        started.append(server)
        server.wait_up()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def secret(cast):
    """An API key of Acme, whose plan lets a load test through (long texts, many requests at once)."""
    cache.clear()
    generous(cast.org_a.plan)
    return cast.key(cast.alice)


def generous(plan):
    plan.max_characters_per_request = 5000
    plan.requests_per_minute = 10_000
    plan.concurrent_requests = 16
    plan.save()


def open_stream(server, secret, text):
    """A stream of `text` (wav), its status and headers read; returns (connection, response)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_TIMEOUT)
    connection.request("POST", "/api/v1/tts/stream", body=json.dumps({"text": text, "format": "wav"}),
                       headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200, response.read()[:300]
    return connection, response


def refused(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


def ledger(org) -> list[tuple[str, int]]:
    return sorted((r.status, r.characters) for r in UsageRecord.objects.filter(organization=org))


# -- one process --------------------------------------------------------------------------------------


def test_sigterm_lets_the_stream_in_flight_finish_refuses_new_connections_and_exits_0(cast, secret, start_server):
    server = start_server(VOICEHUB_DRAIN_SECONDS=600)
    connection, response = open_stream(server, secret, MEDIUM)
    first = response.read1(65536)
    assert first[:4] == b"RIFF"

    server.sigterm()
    assert refused(server.port)  # a load balancer (or a retrying client) goes to another process
    rest = response.read()  # to the end: an IncompleteRead here would be a stream cut short
    connection.close()

    assert server.exit_code() == 0, server.log()
    server.wait_for_line("drained in")
    audio = first + rest
    assert len(audio) > 44 + 24000  # over half a second of 16-bit audio after the header
    assert ledger(cast.org_a) == [(UsageRecord.Status.SUCCEEDED, len(MEDIUM))]  # charged whole, once


def test_at_the_grace_periods_end_a_stream_is_cut_and_charged_exactly_what_was_delivered(cast, secret, start_server):
    server = start_server(VOICEHUB_DRAIN_SECONDS=0)
    connection, response = open_stream(server, secret, LONG)
    received = b""
    while len(received) <= 44:  # the wav header comes first, before any audio: wait for some audio
        received += response.read1(65536)

    server.sigterm()
    try:
        while chunk := response.read1(65536):
            received += chunk
        complete = True
    except http.client.IncompleteRead as error:  # the chunked body ends without its last chunk: cut
        received += error.partial
        complete = False
    except (ConnectionError, http.client.HTTPException):
        complete = False
    connection.close()

    assert server.exit_code() == 0, server.log()
    server.wait_for_line("cut 1 sessions")
    assert not complete
    (record,) = UsageRecord.objects.filter(organization=cast.org_a)
    # Settled, not left reserved; what was heard is charged, the rest refunded.
    assert record.status == UsageRecord.Status.SUCCEEDED and 0 < record.characters < len(LONG), ledger(cast.org_a)
    # Never more than was delivered: the audio received covers the seconds charged (a wav's header aside).
    assert len(received) - 44 >= round(record.audio_seconds * 24000) * 2 > 0
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == record.characters


# -- a rolling restart of two processes under load (PostgreSQL + Redis) -------------------------------------


@dataclass
class Load:
    """Clients that keep sending requests to two processes, going to the other one when a connection is refused
    (as a load balancer does): what completed, what failed, and how many times a connection was refused."""

    ports: list[int]
    secret: str
    completed: list[int] = field(default_factory=list)  # characters of each request that completed
    failures: list[str] = field(default_factory=list)
    not_started: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    progress: threading.Condition = field(default_factory=threading.Condition)

    def run(self, number: int):
        turn = number
        while not self.stop.is_set():
            stream = turn % 2 == 0
            for attempt in range(40):
                port = self.ports[(turn + attempt) % len(self.ports)]
                try:
                    outcome = self.request(port, stream)
                except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected) as error:
                    # Refused (or reset before any answer): this request never started there; the other takes it.
                    with self.progress:
                        self.not_started += 1
                        self.progress.notify_all()
                    if attempt == 39:
                        self.record_failure(f"never started: {error!r}")
                    self.stop.wait(0.05)
                    continue
                except Exception as error:  # an answer cut short, a timeout: a lost request
                    self.record_failure(f"port {port}: {error!r}")
                    break
                if outcome is None:
                    with self.progress:
                        self.completed.append(len(SHORT))
                        self.progress.notify_all()
                else:
                    self.record_failure(outcome)
                break
            turn += 1

    def request(self, port, stream) -> str | None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        try:
            connection.request("POST", "/api/v1/tts/stream" if stream else "/api/v1/tts",
                               body=json.dumps({"text": SHORT, "format": "wav"}),
                               headers={"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()  # IncompleteRead if a stream is cut
            if response.status != 200 or body[:4] != b"RIFF":
                return f"port {port}: {response.status} {body[:200]!r}"
            return None
        finally:
            connection.close()

    def record_failure(self, failure: str):
        with self.progress:
            self.failures.append(failure)
            self.progress.notify_all()

    def wait_for_refusal(self):
        with self.progress:
            before = self.not_started
            assert self.progress.wait_for(lambda: self.not_started > before or self.failures, timeout=PROCESS_TIMEOUT)

    def wait_for(self, count: int):
        """Until `count` more requests have completed since the call (or one failed)."""
        with self.progress:
            target = len(self.completed) + count
            assert self.progress.wait_for(lambda: len(self.completed) >= target or self.failures, timeout=PROCESS_TIMEOUT)


@pytest.mark.scaleout
def test_a_rolling_restart_of_two_web_processes_under_load_loses_no_request_and_charges_nothing_undelivered(
    cast, secret, start_server
):
    require_postgres_and_redis()
    settings = {"VOICEHUB_DRAIN_SECONDS": 120}
    a, b = start_server(**settings), start_server(**settings)
    load = Load(ports=[a.port, b.port], secret=secret)
    clients = [threading.Thread(target=load.run, args=(n,)) for n in range(3)]
    for client in clients:
        client.start()
    try:
        load.wait_for(3)
        for old in (a, b):  # one at a time, as a deploy replaces them
            old.sigterm()
            assert old.exit_code() == 0, old.log()
            old.wait_for_line("drained in")
            load.wait_for_refusal()  # a client found the port closed and went to the other process
            start_server(port=old.port, **settings)
            load.wait_for(3)  # the new process serves before the next one goes
    finally:
        load.stop.set()
        for client in clients:
            client.join(PROCESS_TIMEOUT)

    assert load.failures == []
    # Every request was charged once, in full, and nothing else: no reservation left behind.
    assert ledger(cast.org_a) == [(UsageRecord.Status.SUCCEEDED, characters) for characters in sorted(load.completed)]
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == sum(load.completed)


# -- a job worker gets SIGTERM ---------------------------------------------------------------------------------

BOOK = "\n\n".join(
    f"# Part {n}\nThe {word} boat came in at dawn, and nobody on the quay said a word."
    for n, word in enumerate(["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"], start=1)
)


def test_a_job_worker_on_sigterm_commits_its_chunk_hands_the_job_back_and_exits_0(cast, settings, tmp_path, engine):
    import time

    from django.db.models import Sum
    from django_tasks_db.models import DBTaskResult

    from synthesis.jobs import service as jobs
    from synthesis.jobs.documents import chapters_from_text
    from synthesis.models import Job, JobChunk

    settings.MEDIA_ROOT = tmp_path / "media"
    job = jobs.job_create(organization=cast.org_a, chapters=chapters_from_text(BOOK, markdown=True), voice_id="af_heart",
                          fmt=parse_format("wav"), user=cast.alice)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "jobs_worker", "--worker-id", "w-drain", "--interval", "0.2"],
        cwd=ROOT, env=server_env(MEDIA_ROOT=settings.MEDIA_ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # A bounded poll of the shared database: the worker is another process, its rows are all we see of it.
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not JobChunk.objects.filter(job=job, done=True).exists():
            assert worker.poll() is None and time.monotonic() < deadline, worker.stderr.read()[-2000:]
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=PROCESS_TIMEOUT) == 0, worker.stderr.read()[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()

    job.refresh_from_db()
    done = JobChunk.objects.filter(job=job, done=True).count()
    assert job.status == Job.Status.RUNNING and 0 < done < job.chunks_total
    # No chunk was left half-made: every claimed chunk is done (committed and charged) ...
    assert not JobChunk.objects.filter(job=job, done=False).exclude(claimed_by="").exists()
    assert UsageRecord.objects.filter(job_chunk__job=job).count() == done
    # ... and the rest of the job waits in the queue for the next worker, without waiting out the lease.
    assert DBTaskResult.objects.filter(pk__in=job.task_ids, status="READY").count() == 1

    assert jobs.job_work(job_id=str(job.pk), worker="w-next") == Job.Status.SUCCEEDED
    charged = UsageRecord.objects.filter(job_chunk__job=job)
    assert charged.count() == job.chunks_total  # each chunk rendered and charged once, across the two workers
    assert charged.aggregate(total=Sum("characters"))["total"] == job.characters

"""
Long-form jobs across processes sharing PostgreSQL and Redis.

Two real ASGI servers (daphne, the `servers` fixture of synthesis/tests/conftest.py) and
two real job workers (`manage.py jobs_worker`) run against the test database and
Redis. A job is created through one server; a websocket client connected to the
other server receives its progress, sent by whichever worker does the work
(through the channels-redis layer). One worker is SIGKILLed while it holds a
chunk: the other finishes the job (reclaiming that chunk once its lease is over),
and the job completes exactly once, with one whole audio file and every chunk
charged once.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import Sum
from django.test import Client

from accounts.models import Plan, UsageRecord
from synthesis.models import Job, JobChunk
from voicehub_site.testing import database_url

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 8

pytestmark = [pytest.mark.model, pytest.mark.scaleout]

# Short chapters: one chunk each, about a second of model time apiece.
BOOK = "\n".join(
    f"# Part {n}\nThe {word} boat came in at dawn, and nobody on the quay said a word."
    for n, word in enumerate(["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"], start=1)
)


@pytest.fixture
def workers(servers, settings, tmp_path):  # servers: two daphne processes (synthesis/tests/conftest.py)
    """Two job workers, each with one inference thread (two workers on two cores)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    env = dict(
        os.environ, DATABASE_URL=database_url(), REDIS_URL=settings.REDIS_URL, MEDIA_ROOT=str(settings.MEDIA_ROOT),
        VOICEHUB_NO_BOOTSTRAP="1", VOICEHUB_JOB_LEASE_SECONDS=str(LEASE_SECONDS), VOICEHUB_JOB_SWEEP_SECONDS="1",
        VOICEHUB_INFERENCE_WORKERS="1", VOICEHUB_INFERENCE_THREADS="1",
    )
    processes = {}
    for name in ("wa", "wb"):
        processes[name] = subprocess.Popen(
            [sys.executable, "manage.py", "jobs_worker", "--worker-id", name, "--interval", "0.2"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
    try:
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def listen(ws_url, cookie, events, connected):
    from websockets.sync.client import connect

    with connect(ws_url + "/ws/tts/", additional_headers={"Cookie": cookie}, origin=ws_url.replace("ws://", "http://"),
                 open_timeout=20) as socket:
        connected.set()
        try:
            while True:
                message = socket.recv(timeout=300)
                if isinstance(message, str):
                    event = json.loads(message)
                    if event.get("type") == "job":
                        events.append(event["job"])
                        if event["job"]["status"] in ("succeeded", "failed", "cancelled"):
                            return
        except TimeoutError:
            return


def wait_for(condition, timeout, what):
    """Poll the shared database until `condition()` holds.

    A bounded poll on purpose: the workers are other processes (a SIGKILL must be real), so no event
    of theirs reaches this one but their rows; and their lease runs on the real clock, which no
    time-machine in this process can move. The in-process state machine is tested on the fake
    engine with a frozen clock (test_jobs_work.py).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_job_survives_a_sigkilled_worker_and_its_progress_reaches_a_socket_on_another_server(cast, servers, workers):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=100)
    secret = cast.key(cast.alice)
    browser = Client()
    browser.force_login(cast.alice)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    events, connected = [], threading.Event()
    listener = threading.Thread(target=listen, args=(servers[1].replace("http://", "ws://"), cookie, events, connected), daemon=True)
    listener.start()
    assert connected.wait(30), "the websocket did not connect"

    request = urllib.request.Request(
        servers[0] + "/api/v1/jobs", method="POST",
        data=json.dumps({"text": BOOK, "voice": "af_heart", "format": "mp3"}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 202
        job_id = json.loads(response.read())["id"]

    # Kill worker A while it holds a chunk it has not finished, after the job has made progress.
    def a_holds_a_chunk():
        return (
            JobChunk.objects.filter(job_id=job_id, done=True).exists()
            and JobChunk.objects.filter(job_id=job_id, done=False, claimed_by__startswith="wa:").exists()
        )

    wait_for(a_holds_a_chunk, 240, "worker A to hold a chunk mid-job")
    os.kill(workers["wa"].pid, signal.SIGKILL)
    workers["wa"].wait(timeout=10)
    held = list(JobChunk.objects.filter(job_id=job_id, done=False, claimed_by__startswith="wa:").values_list("index", flat=True))
    assert Job.objects.get(pk=job_id).status == "running"

    wait_for(lambda: Job.objects.filter(pk=job_id).exclude(status__in=["queued", "running"]).exists(), 300, "the job to finish")
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", (job.error_code, job.error_detail)

    chunks = JobChunk.objects.filter(job=job)
    assert chunks.count() == job.chunks_total == job.chunks_done == 8
    assert all(chunk.done for chunk in chunks)
    # The chunk worker A died holding was finished by worker B.
    assert all(chunks.get(index=i).claimed_by.startswith("wb:") for i in held)
    # Charged exactly once per chunk: the ledger adds up to the job's characters.
    records = UsageRecord.objects.filter(job_chunk__job=job)
    assert records.count() == 8
    assert records.aggregate(total=Sum("characters"))["total"] == job.characters
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters
    # One audio result for the whole job (and one per chapter).
    folder = Path(settings.MEDIA_ROOT) / "jobs" / str(cast.org_a.id) / job.id.hex
    wholes = [p for p in folder.iterdir() if p.name.startswith(job.id.hex[:8])]
    assert [p.name for p in wholes] == [Path(job.audio.name).name]
    assert wholes[0].stat().st_size > 10_000
    assert len([p for p in folder.iterdir() if p.name.startswith("chapter-")]) == 8

    listener.join(timeout=30)
    assert events, "no progress reached the websocket"
    assert events[-1]["id"] == job_id and events[-1]["status"] == "succeeded"
    # Two workers publish as they commit, so two events may arrive out of order; all of them arrive.
    done = sorted(e["chunks_done"] for e in events if e["status"] == "running")
    assert done[-1] == 8 and len(done) >= 4
    assert all(e["chunks_total"] == 8 for e in events)

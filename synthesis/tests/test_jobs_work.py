"""
Long-form jobs on the real engine: chunks charged once as produced, resumed after a crash
without redoing or re-charging anything, cancelled mid-way, assembled into chapter files,
a whole file and a timing file, with progress on the channel layer.

The crash is simulated in-process (an exception out of the work loop right after a
commit, a claim left by a worker that never comes back); the real SIGKILL of a worker
process is in test_scaleout_jobs.py.
"""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import soundfile as sf
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UsageRecord
from voicehub_site.testing import database_url
from synthesis.jobs import service as jobs
from synthesis.audio import parse_format
from synthesis.studio.consumers import job_group
from synthesis.jobs.documents import Chapter
from synthesis.models import Job, JobChunk

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.model]

# Three short chapters: one chunk each, a second of model time apiece.
BOOK = [
    Chapter("One", "One.\nThe boats came in at dawn."),
    Chapter("Two", "Two.\nBy noon they were gone."),
    Chapter("Three", "Three.\nNobody saw them again."),
]


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


def start(cast, chapters=BOOK, fmt="wav"):
    return jobs.job_create(organization=cast.org_a, chapters=chapters, voice_id="af_heart", fmt=parse_format(fmt),
                           user=cast.alice)


def charges(job):
    return UsageRecord.objects.filter(job_chunk__job=job)


class Crash(Exception):
    pass


@pytest.mark.django_db
def test_a_job_is_charged_per_chunk_and_assembled_into_chapters_a_whole_and_a_timing_file(cast, engine):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_group(cast.org_a.id), channel)
    job = start(cast)

    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"

    job.refresh_from_db()
    assert job.chunks_total == job.chunks_done == 3
    records = charges(job)
    assert records.count() == 3 and all(r.status == "succeeded" for r in records)
    assert records.aggregate(total=Sum("characters"))["total"] == job.characters == sum(len(c.text) for c in BOOK)
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters

    with job.audio.open("rb") as handle:
        whole, rate = sf.read(io.BytesIO(handle.read()))
    chapters = list(job.chapters.order_by("index"))
    lengths = []
    for chapter in chapters:
        with chapter.audio.open("rb") as handle:
            audio, _ = sf.read(io.BytesIO(handle.read()))
        lengths.append(len(audio))
        assert abs(chapter.audio_seconds - len(audio) / rate) < 0.01
    # The whole is the chapters with a second of silence between them.
    assert len(whole) == sum(lengths) + 2 * int(jobs.CHAPTER_GAP * rate)
    assert abs(job.audio_seconds - len(whole) / rate) < 0.01

    with job.timing.open("rb") as handle:
        timeline = json.loads(handle.read())
    assert [c["title"] for c in timeline["chapters"]] == ["One", "Two", "Three"]
    assert timeline["chapters"][1]["start"] == pytest.approx(lengths[0] / rate + jobs.CHAPTER_GAP, abs=0.01)
    words = timeline["words"]
    assert [w[0] for w in words][:3] == ["One.", "The", "boats"]
    assert all(a[1] <= b[1] for a, b in zip(words, words[1:]))
    assert words[-1][2] <= timeline["chapters"][-1]["end"] + 0.01
    # Chunk audio is removed once the results exist.
    assert not JobChunk.objects.filter(job=job).exclude(audio="").exists()

    events = []
    while True:
        try:
            events.append(async_to_sync(layer.receive)(channel))
        except Exception:
            break
        if events[-1]["job"]["status"] == "succeeded":
            break
    assert events[0]["type"] == "job.progress"
    assert [e["job"]["chunks_done"] for e in events] == [1, 2, 3, 3]
    assert set(events[0]["job"]) >= {"id", "status", "chunks_done", "chunks_total", "eta_seconds"}
    assert events[0]["job"]["eta_seconds"] > 0 and events[2]["job"]["eta_seconds"] == 0

    # The results through the API, for the organization's keys only.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.bob)}")
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["status"], body["progress"], body["chunks_done"]) == ("succeeded", 1.0, 3)
    for url in [body["audio_url"], body["timing_url"], *(c["audio_url"] for c in body["chapters"])]:
        response = client.get(url)
        assert response.status_code == 200, url
    assert client.get(body["audio_url"])["Content-Type"] == "audio/wav"
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.charlie)}")
    assert outsider.get(body["audio_url"]).status_code == 404


@pytest.mark.django_db
def test_a_crashed_worker_is_resumed_without_redoing_or_recharging_a_chunk(cast, engine, settings, monkeypatch):
    job = start(cast)

    # Worker 1 commits chunk 0, then dies (the exception stands for the process vanishing).
    def crash(_job):
        raise Crash

    monkeypatch.setattr(jobs, "publish_progress", crash)
    with pytest.raises(Crash):
        jobs.job_work(job_id=str(job.pk), worker="w1")
    monkeypatch.undo()
    first = JobChunk.objects.get(job=job, index=0)
    assert first.done and first.usage_record_id
    # It had also claimed chunk 1 when it died.
    JobChunk.objects.filter(job=job, index=1).update(claimed_by="w1:dead", claimed_at=timezone.now())

    # Another worker right away: does chunk 2, leaves chunk 1 (claimed, lease not over), can't finish.
    assert jobs.job_work(job_id=str(job.pk), worker="w2") == "running"
    assert list(JobChunk.objects.filter(job=job, done=True).values_list("index", flat=True)) == [0, 2]
    assert jobs.jobs_recover().job_ids == []  # heartbeat is fresh: nothing is stuck yet

    # The lease runs out with nobody working on the job: the sweep re-enqueues it once.
    stale = timezone.now() - timedelta(seconds=settings.VOICEHUB_JOB_LEASE_SECONDS + 1)
    JobChunk.objects.filter(job=job, index=1).update(claimed_at=stale)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=stale, task_ids=[])
    assert jobs.jobs_recover().job_ids == [str(job.pk)]
    assert jobs.jobs_recover().job_ids == []
    assert jobs.job_work(job_id=str(job.pk), worker="w3") == "succeeded"
    # Running the task again after success does nothing.
    assert jobs.job_work(job_id=str(job.pk), worker="w4") == "succeeded"

    job.refresh_from_db()
    assert job.attempts == 1
    assert charges(job).count() == 3
    assert JobChunk.objects.get(pk=first.pk).usage_record_id == first.usage_record_id
    assert charges(job).aggregate(total=Sum("characters"))["total"] == job.characters
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters


@pytest.mark.django_db
def test_a_commit_by_a_worker_that_lost_its_claim_charges_nothing(cast, engine):
    job = start(cast)
    Job.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())
    jobs._plan(job)
    chunk = jobs._claim(job, "w1:a")
    audio, words = jobs._render(engine, job, chunk)
    JobChunk.objects.filter(pk=chunk.pk).update(claimed_by="w2:b")  # taken over as stale meanwhile
    assert jobs._commit(job, chunk, "w1:a", audio, words, 1.0) is False
    assert not UsageRecord.objects.filter(organization=cast.org_a).exists()
    assert not JobChunk.objects.filter(pk=chunk.pk, done=True).exists()


@pytest.mark.django_db
def test_cancelling_mid_job_charges_only_the_chunks_produced(cast, engine, monkeypatch):
    job = start(cast)
    real = jobs.publish_progress

    def cancel_after_first(current):
        real(current)
        if current.chunks_done == 1 and current.status == "running":
            jobs.job_cancel(job=current)

    monkeypatch.setattr(jobs, "publish_progress", cancel_after_first)
    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "cancelled"
    job.refresh_from_db()
    assert job.chunks_done == 1 and not job.audio
    assert charges(job).count() == 1
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == JobChunk.objects.get(job=job, index=0).characters < job.characters
    assert not JobChunk.objects.filter(job=job).exclude(audio="").exists()


@pytest.mark.django_db
def test_a_job_that_runs_out_of_quota_fails_keeping_what_was_charged(cast, engine):
    job = start(cast)
    first_share = len("One.\nThe boats came in at dawn.")
    limit = cast.org_a.plan.monthly_characters
    # Someone else spends all but the first chunk's share meanwhile.
    type(cast.org_a).objects.filter(pk=cast.org_a.pk).update(characters_used=limit - first_share)
    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "failed"
    job.refresh_from_db()
    assert job.error_code == "quota_exceeded" and job.chunks_done == 1
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == limit


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_jobs_worker_command_runs_a_queued_job_through_the_tasks_backend(cast, engine, settings, tmp_path):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the embedded default (SQLite) path; PostgreSQL workers are in test_scaleout_jobs.py")
    job = start(cast, chapters=BOOK[:1])
    job.refresh_from_db()
    assert len(job.task_ids) == settings.VOICEHUB_JOB_PARALLELISM
    env = dict(os.environ, DATABASE_URL=database_url(), MEDIA_ROOT=str(settings.MEDIA_ROOT), VOICEHUB_NO_BOOTSTRAP="1")
    subprocess.run([sys.executable, "manage.py", "jobs_worker", "--batch", "--worker-id", "batch-1"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert JobChunk.objects.get(job=job).claimed_by.startswith("batch-1:")
    assert charges(job).count() == 1

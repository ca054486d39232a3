"""
Long-form jobs: the state machine on the fake engine (chunks charged once as produced,
claims and their lease, a crash resumed without redoing or re-charging anything, the
recovery sweep, cancel mid-chunk, assembly exactly once), and one job on the real engine
(the chapter files, whole file and timing file users download).

The crash is simulated in-process (an exception out of the work loop right after a
commit, a claim left by a worker that never comes back). Leases age on the frozen clock:
claims, heartbeats and the sweep read django.utils.timezone.now(), which time-machine
moves. The real SIGKILL of a worker process, on the real clock, is in test_scaleout_jobs.py.
"""

import io
import json
import threading
from pathlib import Path

import pytest
import soundfile as sf
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import RequestLog, UsageRecord
from synthesis.audio import parse_format
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter
from synthesis.models import Job, JobChunk
from synthesis.studio.consumers import job_group
from synthesis.tests.helpers import api

# Three short chapters: one chunk (one model call) each.
BOOK = [
    Chapter("One", "One.\nThe boats came in at dawn."),
    Chapter("Two", "Two.\nBy noon they were gone."),
    Chapter("Three", "Three.\nNobody saw them again."),
]


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


@pytest.fixture
def lease(settings):
    """Seconds after which a claim (of a chunk, or of the assembly) may be taken over."""
    return settings.VOICEHUB_JOB_LEASE_SECONDS


def start(cast, chapters=BOOK, fmt="wav"):
    return jobs.job_create(organization=cast.org_a, chapters=chapters, voice_id="af_heart", fmt=parse_format(fmt),
                           user=cast.alice)


def charges(job):
    return UsageRecord.objects.filter(job_chunk__job=job)


def done_chunks(job):
    return list(JobChunk.objects.filter(job=job, done=True).order_by("index").values_list("index", flat=True))


def files(settings, job, folder=""):
    """The names of the job's files in storage (`folder`: "chunks" for the chunk audio)."""
    path = Path(settings.MEDIA_ROOT) / "jobs" / str(job.organization_id) / job.id.hex / folder
    return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []


class Crash(Exception):
    pass


def received(channel) -> list[dict]:
    """The progress events on `channel`, up to the one that says the job is over."""
    layer, events = get_channel_layer(), []
    while not events or events[-1]["job"]["status"] in ("queued", "running"):
        events.append(async_to_sync(layer.receive)(channel))
    return events


# -- what users hear: one job on the real model ------------------------------------------------


@pytest.mark.model
@pytest.mark.django_db
def test_a_job_on_the_real_model_becomes_chapter_files_a_whole_file_and_a_timing_file(cast, engine):
    job = start(cast)

    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"

    job.refresh_from_db()
    assert job.chunks_total == job.chunks_done == 3
    records = charges(job)
    assert records.count() == 3 and all(r.status == "succeeded" for r in records)
    assert records.aggregate(total=Sum("characters"))["total"] == job.characters == sum(len(c.text) for c in BOOK)

    with job.audio.open("rb") as handle:
        whole, rate = sf.read(io.BytesIO(handle.read()))
    chapters = list(job.chapters.order_by("index"))
    lengths = []
    for chapter in chapters:
        with chapter.audio.open("rb") as handle:
            audio, _ = sf.read(io.BytesIO(handle.read()))
        lengths.append(len(audio))
        assert len(audio) / rate > 0.5  # speech, not an empty file
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


# -- the state machine, on the fake engine -------------------------------------------------------


@pytest.mark.django_db
def test_each_chunk_is_charged_and_published_as_it_is_produced_and_the_results_are_the_organizations(
    cast, fake_engine, frozen_clock, settings, monkeypatch
):
    # In memory, also in the scale-out pass: channels_redis' pools belong to the event loop that made
    # them, and every async_to_sync call here runs its own (delivery across processes over Redis is
    # test_scaleout_jobs' websocket test).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_group(cast.org_a.id), channel)
    render = jobs._render

    def two_seconds_each(engine, job, chunk):  # each chunk takes two seconds of (frozen) wall clock
        frozen_clock.shift(2)
        return render(engine, job, chunk)

    monkeypatch.setattr(jobs, "_render", two_seconds_each)
    job = start(cast)

    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"

    job.refresh_from_db()
    assert fake_engine.calls == job.chunks_total == job.chunks_done == 3
    records = charges(job)
    assert [r.status for r in records] == ["succeeded"] * 3
    assert records.aggregate(total=Sum("characters"))["total"] == job.characters == sum(len(c.text) for c in BOOK)
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters
    # Chunk audio is removed once the results exist.
    assert files(settings, job, "chunks") == []
    assert not JobChunk.objects.filter(job=job).exclude(audio="").exists()

    events = received(channel)
    assert [e["type"] for e in events] == ["job.progress"] * 4
    assert [(e["job"]["status"], e["job"]["chunks_done"]) for e in events] == [
        ("running", 1), ("running", 2), ("running", 3), ("succeeded", 3)]
    assert set(events[0]["job"]) >= {"id", "status", "chunks_done", "chunks_total", "eta_seconds"}
    # The time left follows the pace so far: 2 s for the first chunk's share of the spoken text.
    first = JobChunk.objects.get(job=job, index=0)
    assert events[0]["job"]["eta_seconds"] == pytest.approx(2 * (job.spoken_total - len(first.text)) / len(first.text), abs=0.1)
    assert events[2]["job"]["eta_seconds"] == 0 and events[3]["job"]["eta_seconds"] is None

    # The results through the API, for the organization's keys only.
    bob = api(cast.key(cast.bob))
    body = bob.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["status"], body["progress"], body["chunks_done"]) == ("succeeded", 1.0, 3)
    for url in [body["audio_url"], body["timing_url"], *(c["audio_url"] for c in body["chapters"])]:
        assert bob.get(url).status_code == 200, url
    assert bob.get(body["audio_url"])["Content-Type"] == "audio/wav"
    assert api(cast.key(cast.charlie)).get(body["audio_url"]).status_code == 404


def test_a_channel_layer_that_fails_while_a_job_publishes_does_not_fail_the_job(
    cast, fake_engine, settings, caplog, monkeypatch
):
    """Progress is a courtesy to open pages (they poll when their socket closes): the job and its charges go on."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    sent = []

    async def unreachable(group, message):
        sent.append(message["job"]["chunks_done"])
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(layer, "group_send", unreachable)
    job = start(cast)

    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"

    job.refresh_from_db()
    assert sent == [1, 2, 3, 3]  # every publish was tried, none was retried or waited for
    assert [r.status for r in charges(job)] == ["succeeded"] * 3
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters == sum(len(c.text) for c in BOOK)
    assert caplog.text.count("could not publish progress of job") == 4


@pytest.mark.django_db
def test_a_crashed_worker_is_resumed_without_redoing_or_recharging_a_chunk(cast, fake_engine, frozen_clock, lease, monkeypatch):
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
    assert done_chunks(job) == [0, 2]
    assert jobs.jobs_recover().job_ids == []  # the heartbeat is fresh: nothing is stuck yet

    # The lease runs out with nobody working on the job: the sweep re-enqueues it, once.
    frozen_clock.shift(lease + 1)
    assert jobs.jobs_recover().job_ids == [str(job.pk)]
    assert jobs.jobs_recover().job_ids == []
    assert jobs.job_work(job_id=str(job.pk), worker="w3") == "succeeded"
    # Running the task again after success does nothing.
    assert jobs.job_work(job_id=str(job.pk), worker="w4") == "succeeded"

    job.refresh_from_db()
    assert job.attempts == 1
    assert fake_engine.calls == 3  # one model call per chunk: nothing was rendered twice
    assert charges(job).count() == 3
    assert JobChunk.objects.get(pk=first.pk).usage_record_id == first.usage_record_id
    assert JobChunk.objects.get(job=job, index=1).claimed_by.startswith("w3:")
    assert charges(job).aggregate(total=Sum("characters"))["total"] == job.characters
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == job.characters


@pytest.mark.django_db
def test_a_claim_is_taken_over_once_its_lease_is_over_and_the_late_commit_charges_nothing(
    cast, fake_engine, frozen_clock, lease, settings
):
    job = start(cast)
    Job.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())
    jobs._plan(job)
    slow = jobs._claim(job, "w1:slow")
    assert slow.index == 0
    # While w1's lease runs, nobody else gets its chunk.
    assert jobs._claim(job, "w2:b").index == 1
    audio, words = jobs._render(fake_engine, job, slow)

    frozen_clock.shift(lease + 1)  # w1 took too long: its claim (and w2's) may be taken over
    taken = jobs._claim(job, "w3:c")
    assert taken.pk == slow.pk

    assert jobs._commit(job, slow, "w1:slow", audio, words, 1.0) is False
    assert not charges(job).exists() and done_chunks(job) == []
    assert files(settings, job, "chunks") == []  # the late audio is not kept either
    assert jobs._commit(job, taken, "w3:c", *jobs._render(fake_engine, job, taken), 1.0) is True
    assert done_chunks(job) == [0]
    assert charges(job).get().characters == taken.characters
    assert files(settings, job, "chunks") == [Path(JobChunk.objects.get(pk=taken.pk).audio.name).name]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_cancel_while_a_chunk_is_rendered_throws_that_chunk_away_uncharged(cast, fake_engine):
    job = start(cast)
    fake_engine.hold(passed=1)  # chunk 0's model call goes through; chunk 1's waits until released
    outcome = []

    def worker():
        try:
            outcome.append(jobs.job_work(job_id=str(job.pk), worker="w1"))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert fake_engine.wait_for_held_call()
        jobs.job_cancel(job=Job.objects.get(pk=job.pk))
    finally:
        fake_engine.release()
        thread.join()

    assert outcome == ["cancelled"]
    job.refresh_from_db()
    assert job.status == "cancelled" and job.chunks_done == 1 and not job.audio
    assert charges(job).count() == 1
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == JobChunk.objects.get(job=job, index=0).characters < job.characters
    assert not JobChunk.objects.filter(job=job).exclude(audio="").exists()
    assert RequestLog.objects.get(method="JOB").error_code == "cancelled"


@pytest.mark.django_db
def test_the_sweep_re_enqueues_a_job_whose_worker_died_and_leaves_one_whose_task_still_waits(
    cast, fake_engine, frozen_clock, lease, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dead, waiting = start(cast), start(cast)
    dead.refresh_from_db()
    for task in DBTaskResult.objects.filter(pk__in=dead.task_ids):
        task.claim("worker-that-died")  # taken from the queue, never finished

    assert jobs.jobs_recover().job_ids == []  # within the lease: maybe only slow
    frozen_clock.shift(lease + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_recover().job_ids == [str(dead.pk)]  # `waiting` still has a task in the queue
        assert jobs.jobs_recover().job_ids == []  # the first sweep reset the heartbeat: no second task

    dead.refresh_from_db()
    assert dead.attempts == 1
    (task,) = DBTaskResult.objects.filter(pk__in=dead.task_ids)
    assert task.status == "READY" and task.args_kwargs["args"] == [str(dead.pk)]
    waiting.refresh_from_db()
    assert waiting.attempts == 0 and waiting.status == "queued"


@pytest.mark.django_db
def test_a_job_that_keeps_losing_its_worker_fails_instead_of_looping(cast, fake_engine, frozen_clock, lease):
    job = start(cast)
    Job.objects.filter(pk=job.pk).update(status="running", attempts=jobs.MAX_RECOVERIES)

    frozen_clock.shift(lease + 1)

    assert jobs.jobs_recover().job_ids == []
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "worker_lost")
    assert not charges(job).exists()


def all_chunks_done_unassembled(job, monkeypatch):
    """Every chunk produced; the worker that would assemble them stops right there."""
    with monkeypatch.context() as patch:
        patch.setattr(jobs, "_assemble", lambda job, token: None)
        assert jobs.job_work(job_id=str(job.pk), worker="w1") == "running"
    assert done_chunks(job) == [0, 1, 2]


def taken_over_at(first_file, frozen_clock, lease, job, monkeypatch):
    """When w1, assembling, is about to save `first_file(name)`, its lease runs out and w2 assembles the job first.

    Returns the names w1 was saving when it was overtaken.
    """
    save, interrupted = jobs._Output.save, []

    def overtaken(output, field, name):
        if first_file(name) and not interrupted:
            interrupted.append(name)
            frozen_clock.shift(lease + 1)
            jobs._assemble(Job.objects.get(pk=job.pk), "w2:b")
        return save(output, field, name)

    monkeypatch.setattr(jobs._Output, "save", overtaken)
    return interrupted


@pytest.mark.django_db
def test_an_assembly_taken_over_after_its_lease_completes_the_job_once_and_the_late_one_keeps_nothing(
    cast, fake_engine, frozen_clock, lease, settings, monkeypatch
):
    job = start(cast)
    all_chunks_done_unassembled(job, monkeypatch)
    # w1 has written the chapter files and is saving the whole one when w2 takes over.
    interrupted = taken_over_at(lambda name: not name.startswith("chapter-"), frozen_clock, lease, job, monkeypatch)

    jobs._assemble(Job.objects.get(pk=job.pk), "w1:a")

    assert interrupted
    job.refresh_from_db()
    assert (job.status, job.assembler) == ("succeeded", "w2:b")
    kept = files(settings, job)
    # One whole file, one per chapter, one timing file: w2's. w1 removed what it wrote.
    assert len(kept) == 5 and Path(job.audio.name).name in kept and Path(job.timing.name).name in kept
    assert sorted(Path(c.audio.name).name for c in job.chapters.all()) == [n for n in kept if n.startswith("chapter-")]
    assert interrupted[0] not in kept
    assert RequestLog.objects.filter(method="JOB").count() == 1  # completed once
    assert charges(job).count() == 3  # assembling charges nothing
    # A worker that gets to the job afterwards finds it complete.
    assert jobs.job_work(job_id=str(job.pk), worker="w3") == "succeeded"
    assert files(settings, job) == kept


@pytest.mark.django_db
def test_an_assembly_overtaken_between_two_chapters_stops_and_keeps_nothing(
    cast, fake_engine, frozen_clock, lease, settings, monkeypatch
):
    job = start(cast)
    all_chunks_done_unassembled(job, monkeypatch)
    # w2 takes over while w1 is saving its first chapter file, with two chapters still to read.
    taken_over_at(lambda name: name.startswith("chapter-"), frozen_clock, lease, job, monkeypatch)

    jobs._assemble(Job.objects.get(pk=job.pk), "w1:a")

    job.refresh_from_db()
    assert (job.status, job.assembler) == ("succeeded", "w2:b")
    assert len(files(settings, job)) == 5


@pytest.mark.django_db
def test_a_job_that_runs_out_of_quota_fails_keeping_what_was_charged(cast, fake_engine):
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
def test_a_queued_job_runs_through_the_tasks_backend_under_the_workers_id(cast, fake_engine, settings):
    # The worker `manage.py jobs_worker` runs (django-tasks-db's), in this process so it uses the fake
    # engine; the command itself, in processes of its own, is in test_scaleout_jobs.py.
    from django_tasks_db.management.commands.db_worker import Worker

    job = start(cast, chapters=BOOK[:1])
    job.refresh_from_db()
    assert len(job.task_ids) == settings.VOICEHUB_JOB_PARALLELISM

    Worker(queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False, max_tasks=None,
           worker_id="batch-1", excluded_queue_names=[]).run()

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert JobChunk.objects.get(job=job).claimed_by.startswith("batch-1:")
    assert charges(job).count() == 1
    assert set(DBTaskResult.objects.filter(pk__in=job.task_ids).values_list("status", flat=True)) == {"SUCCESSFUL"}

"""
Graceful drain, in one process (voicehub_site.drain): what each part does once SIGTERM has come.

The server side (stop listening, wait, cut at the grace period's end, exit) runs in real daphne
processes in test_drain_live.py; here the application's side is driven directly: /readyz, the
studio socket, the sessions a draining process cuts, and a job worker that is told to stop.
"""

import pytest
from django.db.models import Sum
from django_tasks_db.models import DBTaskResult

from accounts.models import UsageRecord
from synthesis.audio import parse_format
from synthesis.engine.core import ShuttingDown
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter
from synthesis.models import Job, JobChunk
from synthesis.services.session import cancel_live_sessions, live_sessions
from synthesis.tests.helpers import api, events, frames_until, generate, opened, run, socket, until_first_audio
from voicehub_site.drain import SHUTDOWN, STATE

TEXT = "The boats came in at dawn. By noon they were gone. Nobody saw them again. The harbour slept."
# Over one chunk even for a whole file (the stream's first chunk is a short clause; a file's are long).
LONG = " ".join(f"Sentence number {n} of this longer test text goes on for a while." for n in range(12))


@pytest.fixture(autouse=True)
def _serving(fresh_cache, isolated_media, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    STATE.reset()
    yield
    STATE.reset()


# -- what a load balancer sees ------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_answers_503_draining_once_the_drain_begins(client, fake_engine):
    assert client.get("/readyz").status_code == 200
    STATE.begin(30)
    response = client.get("/readyz")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["code"] == "draining" and response.json()["detail"]
    # Liveness is another matter: the process is alive and finishing its work.
    assert client.get("/healthz").status_code == 200


# -- the studio socket --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_idle_studio_socket_is_closed_with_1012_when_the_drain_begins(cast, fake_engine):
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        STATE.begin(30)
        return await communicator.receive_output(30)

    closed = run(scenario)
    assert closed["type"] == "websocket.close" and closed["code"] == 1012, closed


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_studio_socket_finishes_its_generation_then_closes_with_1012(cast, fake_engine):
    fake_engine.hold(passed=1)  # the first chunk is made, the rest waits: the generation is in flight
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate(TEXT))
        frames = await until_first_audio(communicator)
        STATE.begin(30)
        # A second generation on a draining socket is refused, and nothing is opened or charged for it.
        await communicator.send_json_to(generate("Another one."))
        frames += await frames_until(communicator, last=("error",))
        fake_engine.release()
        frames += await frames_until(communicator)
        closed = await communicator.receive_output(30)
        return frames, closed

    frames, closed = run(scenario)
    (refused,) = events(frames, "error")
    assert refused["code"] == "shutting_down" and refused["detail"]
    done = events(frames, "done")[0]
    assert closed["type"] == "websocket.close" and closed["code"] == 1012, closed
    # The generation in flight went on to its end and was charged whole, once.
    assert done["character_cost"] == len(TEXT)
    settled = UsageRecord.objects.filter(organization=cast.org_a)
    assert [(r.status, r.characters) for r in settled] == [(UsageRecord.Status.SUCCEEDED, len(TEXT))]


# -- the sessions a draining process cuts at the end of its grace period ----------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_whole_file_cut_at_the_grace_periods_end_is_503_shutting_down_and_charges_nothing(cast, fake_engine):
    import threading

    fake_engine.hold(passed=1)
    secret = cast.key(cast.alice)
    answers = []

    def request():
        answers.append(api(secret).post("/api/v1/tts", {"text": LONG, "format": "wav"}, format="json"))

    thread = threading.Thread(target=request)
    thread.start()
    assert fake_engine.wait_for_held_call(60)  # the second chunk's call is waiting: the request is in flight
    assert len(live_sessions()) == 1
    assert cancel_live_sessions(SHUTDOWN) == 1
    thread.join(60)

    (response,) = answers
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["code"] == "shutting_down" and "nothing was charged" in response.json()["detail"]
    assert live_sessions() == []
    records = UsageRecord.objects.filter(organization=cast.org_a)
    assert [r.status for r in records] == [UsageRecord.Status.REFUNDED]
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_stream_cut_at_the_grace_periods_end_charges_what_was_delivered(cast, fake_engine):
    import threading

    fake_engine.hold(passed=1)
    secret = cast.key(cast.alice)
    received = []

    def request():
        response = api(secret).post("/api/v1/tts/stream", {"text": LONG, "format": "wav"}, format="json")
        assert response.status_code == 200, response.content
        pieces = []
        with pytest.raises(ShuttingDown):  # the body ends short: over HTTP, a chunked body that never completes
            for piece in response.streaming_content:
                pieces.append(piece)
        received.append(b"".join(pieces))

    thread = threading.Thread(target=request)
    thread.start()
    assert fake_engine.wait_for_held_call(60)
    assert cancel_live_sessions(SHUTDOWN) == 1
    thread.join(60)

    (audio,) = received
    record = UsageRecord.objects.get(organization=cast.org_a)
    # One chunk of the text was heard: its characters are charged, the rest refunded; nothing stays reserved.
    assert record.status == UsageRecord.Status.SUCCEEDED and 0 < record.characters < len(TEXT)
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == record.characters
    # The audio received holds at least the seconds charged for (a wav's 44-byte header aside).
    assert len(audio) - 44 >= round(record.audio_seconds * 24000) * 2 > 0
    assert live_sessions() == []


# -- a job worker told to stop ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stopping_worker_commits_its_chunk_and_hands_the_rest_of_the_job_back(
    cast, fake_engine, monkeypatch, django_capture_on_commit_callbacks
):
    book = [Chapter("One", "The boats came in at dawn."), Chapter("Two", "By noon they were gone."),
            Chapter("Three", "Nobody saw them again.")]
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.job_create(organization=cast.org_a, chapters=book, voice_id="af_heart", fmt=parse_format("wav"),
                              user=cast.alice)
    job.refresh_from_db()
    DBTaskResult.objects.filter(pk__in=job.task_ids).update(status="RUNNING")  # this worker took the task
    render = jobs._render

    def render_then_sigterm(*args):
        rendered = render(*args)
        STATE.stopping.set()  # SIGTERM while the first chunk is being rendered
        return rendered

    monkeypatch.setattr(jobs, "_render", render_then_sigterm)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.job_work(job_id=str(job.pk), worker="w1") == Job.Status.RUNNING
    # The chunk in hand was finished, committed and charged; nothing else was started.
    assert list(JobChunk.objects.filter(job=job, done=True).values_list("index", flat=True)) == [0]
    assert not JobChunk.objects.filter(job=job, done=False).exclude(claimed_by="").exists()
    # The rest is back in the queue at once (not after the lease): a task waits for the next worker.
    job.refresh_from_db()
    (task,) = DBTaskResult.objects.filter(pk__in=job.task_ids)
    assert task.status == "READY" and task.args_kwargs["args"] == [str(job.pk)]

    # The next worker (the restarted one) finishes the job; every chunk was rendered and charged once.
    STATE.reset()
    monkeypatch.undo()
    assert jobs.job_work(job_id=str(job.pk), worker="w2") == Job.Status.SUCCEEDED
    assert fake_engine.calls == 3
    charged = UsageRecord.objects.filter(job_chunk__job=job)
    assert charged.count() == 3 and charged.aggregate(total=Sum("characters"))["total"] == job.characters

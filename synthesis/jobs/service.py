"""
Long-form jobs: a book in the background, checkpointed per chunk, on the django.tasks API.

The queue is django.tasks (synthesis.jobs.tasks; the backend is the TASKS setting).
What makes a job survive crashes is ours and lives in the job's own rows:

- Planning. The first worker to run a job splits each chapter into model-sized
  chunks (engine.prepare) and writes one JobChunk row per chunk; a conditional
  UPDATE on `chunks_total = 0` lets exactly one planner win.
- Claims. A worker takes the next chunk that is not done and not claimed (or
  whose claim is older than the lease, VOICEHUB_JOB_LEASE_SECONDS) with one
  conditional UPDATE, so two workers never render the same chunk while both
  are alive. Several workers may work on one job at once (each enqueued task
  for it is one more pair of hands; VOICEHUB_JOB_PARALLELISM).
- Commits. A chunk's audio is saved to storage, then ONE transaction flips
  the chunk to done (only if this worker still holds its claim), counts it on
  the job (only while the job is running: a cancel in between wins) and
  charges its characters with accounts.quota. Either all of it happens or
  none: a chunk is charged exactly once, when it is produced, and a chunk
  never produced (cancel, crash) is never charged.
- Heartbeat. Every claim and commit moves `heartbeat_at`. A worker that dies
  (SIGKILL, OOM, a lost machine) leaves a RUNNING job whose heartbeat goes
  stale. The database backend of django-tasks does not re-deliver a task
  whose worker died (its row stays RUNNING), so every jobs_worker runs
  jobs_recover() every VOICEHUB_JOB_SWEEP_SECONDS: a job whose heartbeat is
  older than the lease and that has no task still waiting in the queue gets a
  fresh task (one conditional UPDATE per job, so only one sweeper enqueues).
  The new task resumes from the chunks already done.
- Assembly. When every chunk is done, one worker (a claim on `assembler`,
  stealable once stale) joins the chunk files into one file per chapter and
  one for the whole, writes the timing file, and flips the job to succeeded
  with a conditional UPDATE: a job completes exactly once.

Progress goes to the websocket group of the organization after each chunk, and
a webhook delivery is enqueued when a job succeeds, fails or is cancelled.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import soundfile as sf
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import ApiKey, Organization, UsageRecord, User
from accounts.quota import QuotaExceeded, quota_reserve, quota_settle
from synthesis.audio import OutputFormat, StreamEncoder, encode_wav, parse_format
from synthesis.engine import timing
from synthesis.engine.core import EngineError, NothingToSay, check_speed
from synthesis.engine.lexicon import Lexicon
from synthesis.jobs import webhooks
from synthesis.jobs.documents import Chapter
from synthesis.jobs.tasks import run_job
from synthesis.models import Job, JobChapter, JobChunk, JobWorker
from synthesis.services.engine import get_engine
from synthesis.services.pronunciation import locators_resolve, pinned_lexicon
from synthesis.services.request_log import request_log_write
from synthesis.services.session import Caller, Refused, job_admit
from voicehub_site.drain import STATE as drain_state

log = logging.getLogger(__name__)

# Silence between chapters in the whole-book file, in seconds.
CHAPTER_GAP = 1.0
# A job re-enqueued this many times after losing its worker fails instead: a
# text that kills every worker that touches it must not loop forever.
MAX_RECOVERIES = 5


class JobNotCancellable(Exception):
    code = "job_not_cancellable"


def long_form_limit(organization: Organization) -> int:
    """The most characters one job may have: the plan's monthly characters.

    A job can never spend more than a month's quota anyway, and the seeded
    plans' monthly figures (10k Free ... 500k Pro, 5M Enterprise) are exactly
    the long-form sizes each tier is sold for, so no second number to keep.
    """
    return organization.plan.monthly_characters


def _lease() -> timedelta:
    return timedelta(seconds=settings.VOICEHUB_JOB_LEASE_SECONDS)


# -- create, cancel ---------------------------------------------------------------


def job_create(
    *,
    organization: Organization,
    chapters: list[Chapter],
    voice_id: str,
    fmt: OutputFormat,
    speed: float = 1.0,
    normalize: bool = True,
    title: str = "",
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = UsageRecord.Source.API,
    pronunciation_dictionary_locators: object = None,
) -> Job:
    """Validate, admit (the session's guard: voice, speed, format, rate), check the quota can cover it,
    record the job and its chapters, enqueue it.

    Nothing is charged here: characters are charged chunk by chunk as the
    audio is produced. The quota is checked now so a job that cannot finish
    is refused before it starts (402) rather than failing half-way.
    Raises Refused (synthesis.services.session) for all of these; the job
    carries the rate-limit state as `job.rate` for the door's headers.
    """
    caller = Caller(organization=organization, user=user, api_key=api_key, source=source)
    chapters = [c for c in chapters if c.text.strip()]
    if not chapters:
        raise Refused("empty_text", 400, "The text is empty: there is nothing to read.")
    characters = sum(len(c.text) for c in chapters)
    limit = long_form_limit(organization)
    if characters > limit:
        raise Refused(
            "max_character_limit_exceeded", 400,
            f"The text is {characters:,} characters; your plan's limit for a long-form job is {limit:,}.",
        )
    try:
        speed = check_speed(speed)  # the model's own 0.5-2.0: a job's chunks are never time-stretched
    except EngineError as error:
        raise Refused(error.code, 400, str(error)) from None
    voice, shown, rate = job_admit(caller=caller, voice_id=voice_id, speed=speed, fmt=fmt)
    # Pinned now: the versions the locators name at the start are the ones the whole book is read with.
    versions = [
        located.version.pk
        for located in locators_resolve(organization=organization, locators=pronunciation_dictionary_locators)
    ]
    organization.refresh_from_db(fields=["characters_used", "bonus_characters", "period_start", "period_end"])
    if organization.period_end > timezone.now() and organization.characters_used + characters > organization.character_limit:
        error = QuotaExceeded(
            limit=organization.character_limit, used=organization.characters_used, resets_at=organization.period_end
        )
        refused = Refused(error.code, 402, str(error), resets_at=error.resets_at)
        refused.headers.update(rate.headers())
        raise refused
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            user=user,
            api_key=api_key,
            source=source,
            title=(title or chapters[0].title or chapters[0].text.split("\n")[0])[:200],
            voice=shown,
            voice_spec=voice.id if shown != voice.id else "",
            speed=speed,
            normalize=normalize,
            output_format=fmt.name,
            content_type=fmt.media_type,
            characters=characters,
            heartbeat_at=timezone.now(),
            pronunciation_versions=versions,
        )
        JobChapter.objects.bulk_create(
            JobChapter(job=job, index=i, title=c.title[:200], text=c.text) for i, c in enumerate(chapters)
        )
        _enqueue(job, settings.VOICEHUB_JOB_PARALLELISM)
    job.rate = rate  # not a field: what the request that created it counted, for its RateLimit headers
    return job


def _enqueue(job: Job, count: int = 1) -> None:
    """Enqueue `count` tasks for the job once the current transaction commits."""

    def send():
        ids = [run_job.enqueue(str(job.pk)).id for _ in range(max(1, count))]
        Job.objects.filter(pk=job.pk).update(task_ids=ids)

    transaction.on_commit(send)


def _hand_back(job: Job) -> None:
    """Leave the job to the queue: a task for it, unless one is already waiting (another worker will come)."""
    if not _waiting(job.task_ids):
        _enqueue(job, 1)
    log.info("job %s: this worker is stopping; the rest of the job is back in the queue", job.pk)


def job_cancel(*, job: Job) -> Job:
    """Stop a queued or running job. Chunks already produced stay charged; nothing else is.

    The worker notices at its next commit (the job is no longer running), so
    the chunk it is rendering is thrown away uncharged.
    """
    now = timezone.now()
    if not Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, finished_at=now, heartbeat_at=now
    ):
        job.refresh_from_db()
        raise JobNotCancellable(f"This job has already {job.status}; only queued or running jobs can be cancelled.")
    job.refresh_from_db()
    _discard_chunk_audio(job)
    publish_progress(job)
    webhooks.webhook_enqueue(job=job, event="job.cancelled", payload=job_payload(job))
    _log_request(job)
    return job


def _discard_chunk_audio(job: Job) -> None:
    for chunk in job.chunks.exclude(audio=""):
        chunk.audio.delete(save=False)
    job.chunks.exclude(audio="").update(audio="")


def _log_request(job: Job) -> None:
    """The job's one RequestLog row, written once when it ends: its chunks' characters summed.

    So the dashboard counts a job as one request (not one per chunk), with the
    characters actually charged and the time from creation to the end.
    """
    charged = UsageRecord.objects.filter(job_chunk__job=job).aggregate(total=Sum("characters"))["total"] or 0
    first = job.chunks.filter(done=True).order_by("finished_at").values_list("finished_at", flat=True).first()
    status = {Job.Status.SUCCEEDED: 200, Job.Status.CANCELLED: 499}.get(job.status, 500)
    request_log_write(
        caller=Caller(organization=job.organization, user=job.user, api_key=job.api_key, source=job.source),
        route="api_v1:jobs" if job.source == UsageRecord.Source.API else "studio:jobs",
        voice=job.voice, characters=charged, status_code=status,
        error_code=job.error_code or ("cancelled" if job.status == Job.Status.CANCELLED else ""),
        ttfb_ms=round((first - job.created_at).total_seconds() * 1000) if first else None,
        total_ms=round(((job.finished_at or timezone.now()) - job.created_at).total_seconds() * 1000),
        method="JOB", created_at=job.created_at,
    )


# -- progress ------------------------------------------------------------------------


def eta_seconds(job: Job) -> float | None:
    """Time left, from the wall-clock pace so far (so it counts every worker on the job)."""
    if job.status != Job.Status.RUNNING or not job.started_at or not job.spoken_done or not job.spoken_total:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    done = job.spoken_done / job.spoken_total
    return round(elapsed * (1 - done) / done, 1)


def job_payload(job: Job) -> dict:
    """What a client is told about a job's progress (websocket, webhooks)."""
    return {
        "id": str(job.id),
        "status": job.status,
        "title": job.title,
        "chunks_done": job.chunks_done,
        "chunks_total": job.chunks_total,
        "eta_seconds": eta_seconds(job),
        "characters": job.characters,
        "error": {"code": job.error_code, "detail": job.error_detail} if job.error_code else None,
    }


# -- is anyone working? ------------------------------------------------------------------


NO_WORKER_CODE = "no_worker"
NO_WORKER_DETAIL = (
    "No job worker is running, so this job is waiting. Start one with `python manage.py jobs_worker` "
    "(or run Voicehub with `python manage.py up`, which runs one), or ask your operator."
)


def worker_stale_after() -> timedelta:
    """How long a worker may go unseen before it is taken for gone.

    Workers beat once per sweep (VOICEHUB_JOB_SWEEP_SECONDS, 15 s by default),
    so four missed beats, and never under a minute: a worker busy on a chunk
    still beats (the sweep is a thread of its own), and one slow database
    write must not flash "no worker" on every page.
    """
    return timedelta(seconds=max(60, 4 * settings.VOICEHUB_JOB_SWEEP_SECONDS))


def worker_heartbeat(*, worker_id: str) -> None:
    """Record that this worker is alive now (its sweep thread calls this every round)."""
    now = timezone.now()
    JobWorker.objects.update_or_create(worker_id=worker_id[:120], defaults={"last_seen_at": now})
    # Workers come and go (a new id per start): forget those gone for a day.
    JobWorker.objects.filter(last_seen_at__lt=now - timedelta(days=1)).delete()


def worker_last_seen() -> datetime | None:
    return JobWorker.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()


def workers_alive() -> bool:
    """Whether some job worker has said it is alive lately (so queued jobs will be picked up)."""
    seen = worker_last_seen()
    return seen is not None and seen >= timezone.now() - worker_stale_after()


def job_notice(job: Job, *, alive: bool | None = None) -> dict | None:
    """Why an unfinished job is not moving, when we know: no worker is running. None otherwise.

    `alive`: workers_alive(), when the caller already asked (a list of jobs asks once).
    """
    if job.is_final:
        return None
    if alive is None:
        alive = workers_alive()
    return None if alive else {"code": NO_WORKER_CODE, "detail": NO_WORKER_DETAIL}


def publish_progress(job: Job) -> None:
    """Tell the organization's open studio sockets (synthesis.studio.consumers) how the job is doing."""
    from channels.layers import get_channel_layer

    from synthesis.services.jobs_channel import job_group

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(job_group(job.organization_id), {"type": "job.progress", "job": job_payload(job)})
    except Exception:  # a channel layer hiccup must never fail the job itself
        log.warning("could not publish progress of job %s", job.pk, exc_info=True)


# -- the work ---------------------------------------------------------------------------


def job_work(*, job_id: str, worker: str = "") -> str:
    """Do what is left of a job: plan it, render and commit chunks, assemble. Safe to run any number of times.

    Returns the job's status as this run leaves it.
    """
    token = f"{worker or 'worker'}:{uuid.uuid4().hex[:8]}"[:120]
    job = Job.objects.filter(pk=job_id).select_related("organization__plan").first()
    if job is None or job.is_final:
        return job.status if job else "missing"
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(status=Job.Status.RUNNING, started_at=now, heartbeat_at=now)
    job.refresh_from_db()
    if job.status != Job.Status.RUNNING:
        return job.status
    try:
        if job.chunks_total == 0:
            _plan(job)
            job.refresh_from_db()
        engine = get_engine()
        while True:
            if drain_state.stopping.is_set():
                # This worker is stopping (SIGTERM): what it rendered is committed; the rest goes back to the
                # queue now, for another worker or this one restarted, instead of waiting out the lease.
                _hand_back(job)
                return Job.Status.RUNNING
            chunk = _claim(job, token)
            if chunk is None:
                break
            started = time.perf_counter()
            audio, words = _render(engine, job, chunk)
            if not _commit(job, chunk, token, audio, words, time.perf_counter() - started):
                job.refresh_from_db()
                if job.status != Job.Status.RUNNING:
                    return job.status
                continue
            job.refresh_from_db()
            publish_progress(job)
        job.refresh_from_db()
        if job.status == Job.Status.RUNNING and job.chunks_done == job.chunks_total:
            _assemble(job, token)
    except QuotaExceeded as error:
        _fail(job, code=error.code, detail=str(error))
    except EngineError as error:
        _fail(job, code=error.code, detail=str(error))
    job.refresh_from_db()
    return job.status


def _plan(job: Job) -> None:
    """Write the job's chunk rows (once, whichever worker gets here first)."""
    engine = get_engine()
    lexicon = pinned_lexicon(organization=job.organization, version_ids=job.pronunciation_versions)
    planned = []  # (chapter index, chunk text, pause)
    for chapter in job.chapters.order_by("index"):
        try:
            _, chunks = engine.prepare(chapter.text, job.voice_spec or job.voice, normalize=job.normalize, lexicon=lexicon)
        except NothingToSay:
            continue  # a chapter of only symbols: nothing to read, nothing to charge
        planned += [(chapter.index, c.text, c.pause if i < len(chunks) - 1 else 0.0) for i, c in enumerate(chunks)]
    if not planned:
        raise NothingToSay("the text contains nothing that can be spoken")
    # Each chunk is charged its share of the job's characters, in proportion to
    # its spoken text; cumulative rounding makes the shares add up exactly.
    spoken_total = sum(len(text) for _, text, _ in planned)
    rows, spoken, charged = [], 0, 0
    for index, (chapter, text, pause) in enumerate(planned):
        spoken += len(text)
        upto = job.characters * spoken // spoken_total
        rows.append(JobChunk(job=job, index=index, chapter=chapter, text=text, characters=upto - charged, pause=pause))
        charged = upto
    try:
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, chunks_total=0).update(
                chunks_total=len(rows), spoken_total=spoken_total, heartbeat_at=timezone.now()
            ):
                JobChunk.objects.bulk_create(rows)
    except IntegrityError:
        pass  # another worker planned it at the same moment: theirs stands


def _claim(job: Job, token: str) -> JobChunk | None:
    """The next chunk nobody (alive) is working on, now claimed by `token`; None when none is left."""
    while True:
        now = timezone.now()
        free = Q(claimed_by="") | Q(claimed_at__lt=now - _lease())
        candidate = job.chunks.filter(free, done=False).order_by("index").values_list("pk", flat=True).first()
        if candidate is None:
            return None
        if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists():
            return None
        # Conditional: on PostgreSQL the UPDATE re-checks the WHERE on the row it
        # locks, on SQLite writers are serialized; either way one claimer wins.
        if JobChunk.objects.filter(free, pk=candidate, done=False).update(claimed_by=token, claimed_at=now):
            Job.objects.filter(pk=job.pk).update(heartbeat_at=now)
            return JobChunk.objects.get(pk=candidate)


def _render(engine, job: Job, chunk: JobChunk) -> tuple[np.ndarray, list]:
    """The chunk's audio (with its pause after) and its words' times, from the real model."""
    # The chunk text is already in spoken form (normalized, aliases said, when the job was planned); the words the
    # job's dictionaries give phonemes for keep their written form in it, so they are pinned again here.
    voice = job.voice_spec or job.voice  # a saved voice's blend as the job was created
    planned = None
    lexicon = pinned_lexicon(organization=job.organization, version_ids=job.pronunciation_versions)
    sounds = Lexicon([rule for rule in lexicon.rules if not rule.is_alias]) if lexicon else None
    if sounds:
        _, planned = engine.prepare(chunk.text, voice, normalize=False, quick_start=False, speed=job.speed, lexicon=sounds)
    parts = list(
        engine.stream(
            chunk.text, voice, job.speed, normalize=False, quick_start=False, background=True, chunks=planned,
            tenant=str(job.organization_id), weight=job.organization.plan.scheduling_weight,
        )
    )
    rate = engine.sample_rate
    _, words = timing.timeline([(p.text, p.words, len(p.audio) / rate) for p in parts])
    audio = np.concatenate([p.audio for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    if chunk.pause:
        audio = np.concatenate([audio, np.zeros(int(chunk.pause / job.speed * rate), dtype=np.float32)])
    return audio, [[w.text, round(w.start, 3), round(w.end, 3)] for w in words]


def _commit(job: Job, chunk: JobChunk, token: str, audio: np.ndarray, words: list, render_seconds: float) -> bool:
    """Record and charge the chunk in one transaction; False if the claim or the job was lost meanwhile."""
    engine_rate = get_engine().sample_rate
    seconds = len(audio) / engine_rate
    name = default_storage.save(
        f"jobs/{job.organization_id}/{job.id.hex}/chunks/{chunk.index:06d}-{uuid.uuid4().hex[:8]}.wav",
        ContentFile(encode_wav(audio, engine_rate)),
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            if not JobChunk.objects.filter(pk=chunk.pk, done=False, claimed_by=token).update(
                done=True, audio=name, audio_seconds=seconds, words=words, finished_at=now
            ):
                raise _Lost
            if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
                chunks_done=F("chunks_done") + 1, spoken_done=F("spoken_done") + len(chunk.text), heartbeat_at=now
            ):
                raise _Lost  # cancelled (or failed) meanwhile: this chunk is not charged
            record = quota_reserve(
                organization=job.organization, characters=chunk.characters, voice=job.voice, user=job.user,
                api_key=job.api_key, source=job.source,
            )
            quota_settle(record=record, audio_seconds=seconds)
            JobChunk.objects.filter(pk=chunk.pk).update(usage_record=record)
    except _Lost:
        default_storage.delete(name)
        return False
    except BaseException:
        default_storage.delete(name)
        raise
    return True


class _Lost(Exception):
    """The chunk's claim or the job's running state went away before the commit."""


def _fail(job: Job, *, code: str, detail: str) -> None:
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.FAILED, error_code=code, error_detail=detail[:2000], finished_at=now, heartbeat_at=now
    ):
        job.refresh_from_db()
        _discard_chunk_audio(job)
        publish_progress(job)
        webhooks.webhook_enqueue(job=job, event="job.failed", payload=job_payload(job))
        _log_request(job)


# -- assembly -------------------------------------------------------------------------------


def _fix_wav_sizes(handle) -> None:
    """Write the real RIFF and data sizes into a WAV whose header said "unknown" (the streaming header)."""
    size = handle.seek(0, io.SEEK_END)
    handle.seek(4)
    handle.write((size - 8).to_bytes(4, "little"))
    handle.seek(40)
    handle.write((size - 44).to_bytes(4, "little"))


class _Output:
    """An encoder writing to a temporary file, so a ten-hour book never sits in memory as bytes."""

    def __init__(self, fmt: OutputFormat, rate: int):
        self.fmt = fmt
        self.encoder = StreamEncoder(fmt, source_rate=rate)
        self.file = tempfile.TemporaryFile()
        self.samples = 0
        self.rate = rate

    def feed(self, audio: np.ndarray) -> None:
        self.samples += len(audio)
        self.file.write(self.encoder.feed(audio))

    def save(self, field, name: str) -> None:
        self.file.write(self.encoder.finish())
        if self.fmt.container == "wav":
            _fix_wav_sizes(self.file)
        self.file.seek(0)
        field.save(name, File(self.file), save=False)
        self.file.close()

    @property
    def seconds(self) -> float:
        return self.samples / self.rate


def _assemble(job: Job, token: str) -> None:
    """Join the chunks into the chapter files, the whole file and the timing file; complete the job once."""
    now = timezone.now()
    if not Job.objects.filter(Q(assembler="") | Q(heartbeat_at__lt=now - _lease()), pk=job.pk, status=Job.Status.RUNNING).update(
        assembler=token, heartbeat_at=now
    ):
        return  # another worker is assembling it
    job.refresh_from_db()
    rate = get_engine().sample_rate
    fmt = parse_format(job.output_format)
    extension = fmt.extension
    whole = _Output(fmt, rate)
    gap = np.zeros(int(CHAPTER_GAP * rate), dtype=np.float32)
    timeline = {"job": str(job.id), "title": job.title, "format": fmt.name, "chapters": [], "chunks": [], "words": []}
    chapters = {c.index: c for c in job.chapters.all()}
    saved = []
    chunks = job.chunks.order_by("index")
    for chapter_index in sorted(set(chunks.values_list("chapter", flat=True))):
        chapter = chapters[chapter_index]
        if whole.samples:
            whole.feed(gap)
        output = _Output(fmt, rate)
        chapter_start = whole.seconds
        for chunk in chunks.filter(chapter=chapter_index):
            with default_storage.open(chunk.audio.name, "rb") as handle:
                audio, _ = sf.read(handle, dtype="float32")
            start = whole.seconds
            timeline["chunks"].append(
                {"index": chunk.index, "chapter": chapter_index, "text": chunk.text, "start": round(start, 3),
                 "end": round(start + len(audio) / rate, 3)}
            )
            timeline["words"] += [[text, round(start + a, 3), round(start + b, 3)] for text, a, b in chunk.words]
            output.feed(audio)
            whole.feed(audio)
        output.save(chapter.audio, f"chapter-{chapter_index + 1:03d}-{uuid.uuid4().hex[:8]}.{extension}")
        chapter.audio_seconds = output.seconds
        saved.append(chapter)
        timeline["chapters"].append(
            {"index": chapter_index, "title": chapter.title, "start": round(chapter_start, 3),
             "end": round(whole.seconds, 3), "audio_seconds": round(output.seconds, 3)}
        )
        if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, assembler=token).update(heartbeat_at=timezone.now()):
            # Taken over (our lease went stale) or cancelled meanwhile: the chunk files may already be
            # gone, so stop reading them and keep nothing of ours.
            whole.file.close()
            for chapter in saved:
                default_storage.delete(chapter.audio.name)
            return
    whole.save(job.audio, f"{job.id.hex[:8]}-{uuid.uuid4().hex[:8]}.{extension}")
    job.timing.save(f"timing-{uuid.uuid4().hex[:8]}.json", ContentFile(json.dumps(timeline).encode()), save=False)
    with transaction.atomic():
        completed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, assembler=token).update(
            status=Job.Status.SUCCEEDED, audio=job.audio.name, timing=job.timing.name, audio_seconds=whole.seconds,
            finished_at=timezone.now(), heartbeat_at=timezone.now(),
        )
        if completed:
            for chapter in saved:
                JobChapter.objects.filter(pk=chapter.pk).update(audio=chapter.audio.name, audio_seconds=chapter.audio_seconds)
    if not completed:  # cancelled while assembling, or taken over as stale: keep nothing of ours
        for name in [job.audio.name, job.timing.name, *(c.audio.name for c in saved)]:
            default_storage.delete(name)
        return
    job.refresh_from_db()
    _discard_chunk_audio(job)
    publish_progress(job)
    webhooks.webhook_enqueue(job=job, event="job.succeeded", payload=job_payload(job))
    _log_request(job)


# -- recovery ------------------------------------------------------------------------------


def _waiting(task_ids: list[str]) -> bool:
    """Whether one of these tasks is still waiting in the queue (so a worker will get to the job)."""
    from django_tasks import TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist


    for task_id in task_ids:
        try:
            if run_job.get_result(task_id).status == TaskResultStatus.READY:
                return True
        except (TaskResultDoesNotExist, NotImplementedError):
            continue
    return False


@dataclass
class Recovered:
    job_ids: list[str]


def jobs_recover() -> Recovered:
    """Re-enqueue the jobs whose worker died: queued or running, heartbeat older than the lease, no task waiting.

    Run by every jobs_worker every VOICEHUB_JOB_SWEEP_SECONDS; safe to run
    anywhere at any time (one conditional UPDATE per job decides who enqueues).
    """
    now = timezone.now()
    recovered = []
    for job in Job.objects.active().filter(heartbeat_at__lt=now - _lease()).only("pk", "organization", "heartbeat_at", "task_ids", "attempts"):
        if _waiting(job.task_ids):
            continue
        if job.attempts >= MAX_RECOVERIES:
            _fail(job, code="worker_lost", detail=f"The job lost its worker {job.attempts + 1} times; it was stopped.")
            continue
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, heartbeat_at=job.heartbeat_at).update(
                heartbeat_at=now, attempts=F("attempts") + 1
            ):
                log.warning("job %s: no heartbeat for %s s, re-enqueued", job.pk, settings.VOICEHUB_JOB_LEASE_SECONDS)
                _enqueue(job, 1)
                recovered.append(str(job.pk))
    return Recovered(job_ids=recovered)

import secrets
import string
import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import ApiKey, Organization, UsageRecord, User


def generation_upload_to(generation: "Generation", filename: str) -> str:
    # A random name under the organization: never guessable, never listed.
    return f"generations/{generation.organization_id}/{generation.id.hex}{filename[filename.rfind('.'):]}"


class GenerationQuerySet(models.QuerySet):
    def expired(self, now):
        return self.filter(expires_at__lte=now)


class Generation(models.Model):
    """One synthesis kept in an organization's history, with its audio file."""

    class Source(models.TextChoices):
        API = "api", "API"
        STUDIO = "studio", "Studio"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        # Cut short: only the audio that reached the listener is kept (and charged).
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="generations")
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    usage_record = models.OneToOneField(UsageRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="generation")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    text = models.TextField()
    voice = models.CharField(max_length=200)
    speed = models.FloatField(default=1.0)
    output_format = models.CharField(max_length=32)
    characters = models.PositiveIntegerField()
    audio = models.FileField(upload_to=generation_upload_to, max_length=255)
    content_type = models.CharField(max_length=64)
    audio_seconds = models.FloatField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(db_index=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.voice}: {self.text[:40]}"


# -- long-form jobs -------------------------------------------------------------


def job_file_upload_to(instance, filename: str) -> str:
    # Random names under the organization and job: never guessable, never listed.
    job = instance if isinstance(instance, Job) else instance.job
    return f"jobs/{job.organization_id}/{job.id.hex}/{filename}"


class JobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])


class Job(models.Model):
    """A long text (a chapter, a book) synthesized in the background, chunk by chunk.

    Progress is the count of committed JobChunk rows; `heartbeat_at` moves
    whenever a worker claims or commits a chunk, so a job whose worker died is
    recognisable (synthesis.jobs.service.jobs_recover) and resumed from its last chunk.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="jobs")
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=10, choices=UsageRecord.Source.choices, default=UsageRecord.Source.API)
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    voice = models.CharField(max_length=200)
    # What the engine speaks when `voice` is a saved voice (its blend as the job was created: deleting
    # or editing the saved voice later does not change a job under way); blank: `voice` itself.
    voice_spec = models.CharField(max_length=200, blank=True)
    speed = models.FloatField(default=1.0)
    normalize = models.BooleanField(default=True)
    output_format = models.CharField(max_length=32)
    content_type = models.CharField(max_length=64)
    characters = models.PositiveIntegerField(help_text="What the whole job costs; charged chunk by chunk.")
    chunks_total = models.PositiveIntegerField(default=0, help_text="0 until a worker has planned the chunks.")
    chunks_done = models.PositiveIntegerField(default=0)
    # Characters of the spoken (normalized) chunk texts: what progress and the ETA are measured in.
    spoken_total = models.PositiveIntegerField(default=0)
    spoken_done = models.PositiveIntegerField(default=0)
    task_ids = models.JSONField(default=list, blank=True, help_text="django.tasks results enqueued for this job.")
    attempts = models.PositiveIntegerField(default=0, help_text="Times the job was re-enqueued after its worker died.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    assembler = models.CharField(max_length=120, blank=True, help_text="The worker writing the result files.")
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.TextField(blank=True)
    audio = models.FileField(upload_to=job_file_upload_to, max_length=255, blank=True)
    audio_seconds = models.FloatField(default=0.0)
    timing = models.FileField(upload_to=job_file_upload_to, max_length=255, blank=True)
    # The pronunciation dictionary versions the job was started with, in order of preference: pinned, so a
    # dictionary edited while the job runs does not change how the rest of the book is said.
    pronunciation_versions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.title or self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class JobChapter(models.Model):
    """A chapter of a job's text (from its headings), with its own audio file once done."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chapters")
    index = models.PositiveIntegerField()
    title = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    audio = models.FileField(upload_to=job_file_upload_to, max_length=255, blank=True)
    audio_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="job_chapter_unique_index")]


class JobChunk(models.Model):
    """One model-sized piece of a job: the checkpoint.

    `done` flips, the audio is recorded and its characters are charged in one
    transaction, and only by the worker that holds the claim, so a chunk is
    produced and paid for once however many workers die or race.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    chapter = models.PositiveIntegerField()
    text = models.TextField(help_text="The spoken (normalized) text of the chunk.")
    characters = models.PositiveIntegerField(help_text="Its share of the job's characters: what it is charged.")
    pause = models.FloatField(default=0.0, help_text="Seconds of silence after it (at speed 1), within its chapter.")
    claimed_by = models.CharField(max_length=120, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)
    audio = models.FileField(upload_to=job_file_upload_to, max_length=255, blank=True)
    audio_seconds = models.FloatField(default=0.0)
    words = models.JSONField(default=list, blank=True, help_text="[[word, start, end], ...] in seconds from its start.")
    usage_record = models.OneToOneField(UsageRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="job_chunk")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="job_chunk_unique_index")]


class JobWorker(models.Model):
    """A job worker process, as it last said it was alive (synthesis.jobs.service.worker_heartbeat).

    Every worker (`manage.py jobs_worker`, or the thread `manage.py up` starts)
    writes its row from its sweep thread every VOICEHUB_JOB_SWEEP_SECONDS. A
    queued job with no worker seen lately waits forever, so the job list, the
    API and /readyz say so plainly (code `no_worker`) instead of "waiting".
    In the database, not the cache: the default cache is per process, and
    workers and web processes are different processes.
    """

    worker_id = models.CharField(max_length=120, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return self.worker_id


class WebhookEndpoint(models.Model):
    """Where an organization wants job events POSTed, and the secret that signs them."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    # Kept readable (not hashed): the server needs it to sign, as Stripe and GitHub do.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, and how its delivery went (the log the studio shows)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_deliveries")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries")
    url = models.URLField(max_length=500)
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]


# -- idempotent retries -----------------------------------------------------------


def idempotency_upload_to(record: "IdempotencyRecord", filename: str) -> str:
    # A random name under the organization, like generations: never guessable, never listed.
    return f"idempotency/{record.organization_id}/{uuid.uuid4().hex}.bin"


class IdempotencyRecord(models.Model):
    """A POST sent with an Idempotency-Key: in progress, or its response, kept 24 h to replay (Stripe's semantics).

    The unique (organization, key) is what decides between two requests racing on one key:
    whichever INSERT wins runs, the other is told the key is in use. See synthesis.services.idempotency.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETE = "complete", "Complete"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the request's method, path, query and body.")
    attempt = models.UUIDField(default=uuid.uuid4, help_text="The request that holds the key; a takeover changes it.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    headers = models.JSONField(default=list, blank=True, help_text="[[name, value], ...] of the response kept.")
    body = models.FileField(upload_to=idempotency_upload_to, max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="idempotency_unique_key")]

    def __str__(self):
        return f"{self.key} ({self.status})"


# -- saved voices -----------------------------------------------------------------


def saved_voice_upload_to(voice: "SavedVoice", filename: str) -> str:
    # Under the organization, named by the voice's own random id (as generations are).
    return f"saved-voices/{voice.organization_id}/{voice.public_id}{filename[filename.rfind('.'):]}"


def new_saved_voice_id() -> str:
    """`sv_` + 12 random base-32 characters: the underscore after two letters matches no catalog voice
    (their prefixes name a language: af_, bm_, ...), no ElevenLabs premade id (20 alphanumerics), and a
    mix spec has a `+`."""
    import secrets

    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "sv_" + "".join(secrets.choice(alphabet) for _ in range(12))


class SavedVoice(models.Model):
    """An organization's named blend of catalog voices (one language), a voice id on every door.

    `spec` is the blend as VoiceLibrary canonicalizes it ("af_bella(2)+af_sky(1)"); the voice is
    resolved to it in one place, synthesis.services.voices.resolve_voice, for the organization
    of the credentials only.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="saved_voices")
    public_id = models.CharField(max_length=20, unique=True, default=new_saved_voice_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=1000)
    spec = models.CharField(max_length=200, help_text="The blend, canonical: af_bella(2)+af_sky(1).")
    language = models.CharField(max_length=12, help_text="eSpeak NG code of the blend's voices, e.g. en-us.")
    preview_text = models.CharField(max_length=200)
    preview = models.FileField(upload_to=saved_voice_upload_to, max_length=255, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), "organization", name="saved_voice_unique_name_per_organization"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.public_id})"

    @property
    def weights(self) -> dict[str, float]:
        """{voice id: weight} of the blend, from its canonical spec."""
        parts = (part.rstrip(")").split("(") for part in self.spec.split("+"))
        return {voice: float(weight) for voice, weight in parts}


# -- pronunciation dictionaries ----------------------------------------------------


def pronunciation_id() -> str:
    """A 20-character id like ElevenLabs' dictionary and version ids (e.g. "5xM3yVvZQKV0EfqQpLrJ")."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


class PronunciationDictionary(models.Model):
    """An organization's pronunciation rules (ElevenLabs' pronunciation dictionary), versioned.

    The rules live in immutable versions: adding or removing rules makes a new
    one, so a request or a job that named a version keeps its pronunciation.
    Archiving hides nothing and breaks nothing; it is a label, as ElevenLabs has it.
    """

    id = models.CharField(primary_key=True, max_length=20, default=pronunciation_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="pronunciation_dictionaries")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    latest_version = models.ForeignKey(
        "PronunciationDictionaryVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return self.name


class PronunciationDictionaryVersion(models.Model):
    """One immutable snapshot of a dictionary's rules, in ElevenLabs' rule shape (synthesis.services.pronunciation)."""

    id = models.CharField(primary_key=True, max_length=20, default=pronunciation_id, editable=False)
    dictionary = models.ForeignKey(PronunciationDictionary, on_delete=models.CASCADE, related_name="versions")
    rules = models.JSONField(default=list)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dictionary", "created_at", "id"]

    def __str__(self):
        return f"{self.dictionary_id}@{self.id}"


# -- projects (long-form documents, paragraph by paragraph) ---------------------------


class Project(models.Model):
    """A long document (a book, a script) kept as chapters of paragraphs, each rendered on its own.

    A paragraph's audio is a chapter of a long-form job (synthesis.services.projects renders a
    batch of paragraphs as one job whose chapters are the paragraphs), so rendering, charging
    and crash recovery are the jobs engine's; editing one paragraph re-renders (and charges) only it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    voice = models.CharField(max_length=200, help_text="The voice of every paragraph that names none.")
    speed = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["organization", "-updated_at"])]

    def __str__(self):
        return self.title


class ProjectChapter(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="chapters")
    index = models.PositiveIntegerField()
    title = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["project", "index"]
        constraints = [models.UniqueConstraint(fields=["project", "index"], name="project_chapter_unique_index")]

    def __str__(self):
        return self.title or f"Chapter {self.index + 1}"


class ProjectParagraph(models.Model):
    """One paragraph: its text, its voice, and the job chapter whose audio is its rendering.

    `rendered_key` is the fingerprint (text, voice, speed) the rendering was made from: when it
    differs from the paragraph's own, the audio is stale. `pending` is a rendering under way.
    """

    chapter = models.ForeignKey(ProjectChapter, on_delete=models.CASCADE, related_name="paragraphs")
    index = models.PositiveIntegerField()
    text = models.TextField()
    voice = models.CharField(max_length=200, blank=True, help_text="Blank: the project's voice.")
    rendering = models.ForeignKey(JobChapter, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    rendered_key = models.CharField(max_length=64, blank=True)
    audio_seconds = models.FloatField(default=0.0)
    words = models.JSONField(default=list, blank=True, help_text="[[word, start, end], ...] in seconds from its start.")
    pending = models.ForeignKey(JobChapter, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    pending_key = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["chapter", "index"]
        constraints = [models.UniqueConstraint(fields=["chapter", "index"], name="project_paragraph_unique_index")]

    def __str__(self):
        return self.text[:40]

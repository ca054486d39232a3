import math

from django.contrib.auth.models import AbstractUser, UserManager as DjangoUserManager
from django.db import models
from django.utils import timezone


class UserManager(DjangoUserManager):
    """Users log in with their email; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """The account of a person. Email is the login, unique case-insensitively."""

    username = None
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(models.functions.Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email


class Plan(models.Model):
    """A subscription plan: the limits an organization gets. Rows, editable in the admin."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    sort_order = models.PositiveSmallIntegerField(default=0)
    price_monthly_cents = models.PositiveIntegerField(default=0)
    monthly_characters = models.PositiveBigIntegerField()
    max_characters_per_request = models.PositiveIntegerField()
    # Characters alone do not bound the audio: speed 0.5 doubles it, and numbers
    # and symbols are spoken as words ("$1,250,000" is six words from ten
    # characters). The synthesis session stops a request at this ceiling.
    max_audio_seconds_per_request = models.PositiveIntegerField(
        default=600,
        help_text="The most audio one request may produce, in seconds. A text that would speak longer ends with "
        "output_too_long, and its unspoken part is refunded.",
    )
    requests_per_minute = models.PositiveIntegerField()
    concurrent_requests = models.PositiveIntegerField()
    history_retention_days = models.PositiveIntegerField()
    allowed_formats = models.JSONField(default=list, help_text='Output formats, e.g. ["wav", "mp3"].')
    api_access = models.BooleanField(default=False)
    is_public = models.BooleanField(default=True, help_text="Shown on the pricing page.")

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.name


class Organization(models.Model):
    """A tenant. Every generation, key, file and usage figure belongs to one."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    is_personal = models.BooleanField(default=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    # The billing period; characters_used counts reserved + settled characters
    # in it and is only ever changed by conditional UPDATEs (accounts.quota).
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    characters_used = models.PositiveBigIntegerField(default=0)
    # Extra characters an operator granted for the current period (admin
    # action, audited); the period roll-over resets them with characters_used.
    bonus_characters = models.PositiveBigIntegerField(default=0, help_text="Extra characters granted for the current billing period.")
    # A suspended organization's keys and sessions are refused synthesis (403 organization_suspended).
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(period_end__gt=models.F("period_start")), name="org_period_ordered")]

    def __str__(self):
        return self.name

    @property
    def characters_left(self) -> int:
        return max(0, self.character_limit - self.characters_used)

    @property
    def character_limit(self) -> int:
        """The plan's monthly characters plus what an operator granted for this period."""
        return self.plan.monthly_characters + self.bonus_characters


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        from django.utils import timezone

        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiKey(models.Model):
    """An API key. Only a hash of the secret is stored; `prefix` is public and finds the row."""

    class Scope(models.TextChoices):
        TTS = "tts", "Synthesize speech"
        HISTORY_READ = "history:read", "Read history"
        HISTORY_WRITE = "history:write", "Delete history"
        VOICES_READ = "voices:read", "List voices"
        USAGE_READ = "usage:read", "Read usage"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    monthly_character_cap = models.PositiveBigIntegerField(null=True, blank=True)
    # Characters charged through this key in its organization's current
    # period; period_start says which period the count belongs to.
    characters_used = models.PositiveBigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self):
        return f"{self.name} (vh_{self.prefix}_…)"

    @property
    def masked(self) -> str:
        return f"vh_{self.prefix}_…"


class UsageRecord(models.Model):
    """One synthesis request in the character ledger: reserved, then settled or refunded."""

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUNDED = "refunded", "Refunded"

    class Source(models.TextChoices):
        API = "api", "API"
        STUDIO = "studio", "Studio"
        DEMO = "demo", "Demo"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_records")
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage_records")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    voice = models.CharField(max_length=64)
    characters = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    error_code = models.CharField(max_length=64, blank=True)
    audio_seconds = models.FloatField(default=0)
    period_start = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    # While reserved: how far the request got, written by quota_progress after
    # each chunk. If the process dies, the sweep (quota_sweep_stale) charges
    # characters_delivered and refunds the rest.
    characters_delivered = models.PositiveIntegerField(
        default=0, help_text="Characters whose audio reached the client so far (while reserved)."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last progress of a reserved request.")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_at"]),
            # The analytics dashboard reads today's (not yet rolled-up) rows of every organization.
            models.Index(fields=["created_at"], name="usage_created_idx"),
            # The reservation sweep reads reserved rows only: the few requests in
            # flight, out of millions of finished rows.
            models.Index(
                fields=["heartbeat_at", "created_at"], name="usage_reserved_idx", condition=models.Q(status="reserved")
            ),
        ]

    def __str__(self):
        return f"{self.characters} chars, {self.status}"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        """Neither accepted nor revoked; an expired one is still pending until replaced."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(models.Model):
    """An email invited into an organization with a role; accepted through a signed link."""

    # Owners are made by promoting a member, never by an emailed link.
    ROLES = (Membership.Role.ADMIN, Membership.Role.MEMBER)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(
        max_length=10,
        choices=[(role.value, role.label) for role in ROLES],
        default=Membership.Role.MEMBER,
    )
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Re-inviting revokes the previous invitation: one open link per address.
            models.UniqueConstraint(
                "organization",
                models.functions.Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            ),
            models.CheckConstraint(condition=models.Q(role__in=["admin", "member"]), name="invitation_role_not_owner"),
        ]

    def __str__(self):
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.expires_at <= timezone.now()


# -- analytics and the operator's audit trail ---------------------------------------------


class RequestLog(models.Model):
    """One HTTP synthesis request as the client saw it: outcome, error code, time to first byte, total time.

    Written by synthesis.middleware.RequestLogMiddleware after the response is sent
    (one INSERT). Unlike UsageRecord it also has the requests that never reached
    synthesis (401, 403, 429, validation errors) and the demo's.
    """

    Source = UsageRecord.Source

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False)
    plan = models.ForeignKey(Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False)
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    route = models.CharField(max_length=64)
    path = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    voice = models.CharField(max_length=64, blank=True)
    characters = models.PositiveIntegerField(default=0)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    # Latency histogram buckets (see bucket_of), stored so the database can count them.
    ttfb_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    total_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Today (never rolled up) is read from raw rows on every dashboard page: ~10k rows a day at
            # bench volume, each counted by several queries; with every column they read in the index,
            # no query visits the table (-25% of the page's SQL time, bench/analytics_bench.py).
            models.Index(
                fields=["created_at", "status_code", "total_ms", "ttfb_ms", "ttfb_bucket", "total_bucket",
                        "organization", "voice", "source", "plan", "error_code"],
                name="reqlog_created_covering_idx",
            ),
            # An organization's raw rows (today, hourly buckets, an organization with a voice or a source,
            # which no roll-up holds as a pair) read from this index alone, without visiting the table:
            # every column the dashboard filters on or counts. 30 days of the biggest organization with
            # one voice: 13 ms instead of 20-30 ms per query (bench/analytics_bench.py data).
            models.Index(
                fields=["organization", "created_at", "voice", "source", "status_code", "error_code",
                        "ttfb_ms", "total_ms", "ttfb_bucket", "total_bucket", "api_key"],
                name="reqlog_org_covering_idx",
            ),
            models.Index(fields=["api_key", "created_at"], name="reqlog_key_created_idx"),
            models.Index(fields=["voice", "created_at"], name="reqlog_voice_created_idx"),
            # Errors are a few percent of requests: top error codes read only these.
            models.Index(fields=["created_at"], name="reqlog_errors_idx", condition=models.Q(status_code__gte=400)),
        ]

    def __str__(self):
        return f"{self.method} {self.path} {self.status_code}"

    # Log-spaced latency buckets, 8 per doubling: bucket b >= 1 holds [2^((b-1)/8), 2^(b/8)) ms,
    # i.e. each is 9% wide; bucket 0 holds 0 ms.
    BUCKETS_PER_DOUBLING = 8

    @classmethod
    def bucket_of(cls, ms: int | None) -> int | None:
        if ms is None:
            return None
        if ms < 1:
            return 0
        return min(1 + math.floor(cls.BUCKETS_PER_DOUBLING * math.log2(ms)), 32767)

    @classmethod
    def bucket_bounds(cls, bucket: int) -> tuple[float, float]:
        if bucket == 0:
            return 0.0, 1.0
        return 2 ** ((bucket - 1) / cls.BUCKETS_PER_DOUBLING), 2 ** (bucket / cls.BUCKETS_PER_DOUBLING)


class Dimension(models.TextChoices):
    """What one roll-up row is about: everything, or one plan / source / voice / organization / key."""

    ALL = "all", "All"
    PLAN = "plan", "Plan"
    SOURCE = "source", "Source"
    VOICE = "voice", "Voice"
    ORGANIZATION = "organization", "Organization"
    API_KEY = "api_key", "API key"


class UsageMeasures(models.Model):
    """The additive measures of a roll-up row (and its peak), shared by the daily and hourly roll-ups."""

    requests = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0)
    client_errors = models.PositiveIntegerField(default=0, help_text="4xx other than 429")
    rate_limited = models.PositiveIntegerField(default=0, help_text="429")
    server_errors = models.PositiveIntegerField(default=0, help_text="5xx")
    characters = models.PositiveBigIntegerField(default=0, help_text="Characters charged (UsageRecord, succeeded)")
    audio_seconds = models.FloatField(default=0)
    # Latency sums over successful requests; busy_ms over all (for average concurrency).
    latency_count = models.PositiveIntegerField(default=0)
    ttfb_sum = models.PositiveBigIntegerField(default=0)
    total_sum = models.PositiveBigIntegerField(default=0)
    busy_ms = models.PositiveBigIntegerField(default=0)
    peak_concurrency = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class UsageDaily(UsageMeasures):
    """One day of usage for one value of one dimension (a "one filter at a time" cube).

    The dashboard without filters reads the ("all", "") rows; with one filter it
    reads that dimension's rows: tens to thousands of rows for 90 days instead of
    a million. Maintained by `manage.py rollup_usage` (recomputes whole days).
    """

    day = models.DateField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    value = models.CharField(max_length=64, blank=True)
    # For organization rows: the organization's plan when the day was rolled up
    # (lets "top organizations" be filtered by plan).
    plan_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dimension", "value", "day"], name="usage_daily_unique")]
        indexes = [
            models.Index(fields=["dimension", "day"], name="usage_daily_dim_day_idx"),
            # Covers the rankings (top organizations, top voices): read in value order, no table lookups.
            models.Index(
                fields=["dimension", "value", "day", "requests", "ok", "characters", "audio_seconds", "plan_id"],
                name="usage_daily_rank_idx",
            ),
        ]

    def __str__(self):
        return f"{self.day} {self.dimension}={self.value}"


class UsageHourly(UsageMeasures):
    """One hour of usage for everything or one plan / source / voice (the values with few rows per hour).

    Lets hourly buckets span rolled-up days without reading raw rows. Organizations
    and keys are left out: thousands of values times 24 hours, while one
    organization's (or key's) raw rows for a few days are few. The peak is per
    hour: a request counts in the hour it started, as it counts in the day it started.
    """

    hour = models.DateTimeField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    value = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dimension", "value", "hour"], name="usage_hourly_unique")]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}h {self.dimension}={self.value}"


class OrganizationDaily(models.Model):
    """One organization's totals of one day, narrow, for ranking organizations over a range.

    The same numbers as the organization rows of UsageDaily, with integer keys and
    an index holding every column the ranking reads: "top organizations over 90
    days" sums ~90k index entries without touching the table (≈5× faster than
    the text-keyed UsageDaily rows on SQLite, measured with bench/analytics_bench.py).
    """

    day = models.DateField()
    organization_id = models.BigIntegerField()  # no foreign key: the ranking keeps a deleted organization's history
    plan_id = models.BigIntegerField(null=True, blank=True)  # as of the roll-up (ranking within one plan)
    requests = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0)
    characters = models.PositiveBigIntegerField(default=0)
    audio_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "organization_id"], name="organization_daily_unique")]
        indexes = [
            models.Index(
                fields=["organization_id", "day", "characters", "requests", "ok", "audio_seconds", "plan_id"],
                name="organization_daily_rank_idx",
            ),
        ]

    def __str__(self):
        return f"{self.day} organization {self.organization_id}"


class LatencyDaily(models.Model):
    """How many successful requests of a day fell in each latency bucket (RequestLog.bucket_of), per dimension value."""

    class Metric(models.TextChoices):
        TTFB = "ttfb", "Time to first byte"
        TOTAL = "total", "Total time"

    day = models.DateField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    value = models.CharField(max_length=64, blank=True)
    metric = models.CharField(max_length=5, choices=Metric.choices)
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dimension", "value", "metric", "day", "bucket"], name="latency_daily_unique")
        ]
        # The roll-up deletes a day's rows before writing them again: ~25k of 2M rows at bench volume.
        indexes = [models.Index(fields=["day"], name="latency_daily_day_idx")]


class ErrorDaily(models.Model):
    """How many requests of a day failed with each status and code, per dimension value (as UsageDaily)."""

    day = models.DateField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    value = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dimension", "value", "day", "status_code", "error_code"], name="error_daily_unique")
        ]
        indexes = [models.Index(fields=["day"], name="error_daily_day_idx")]  # as LatencyDaily's


class FunnelDaily(models.Model):
    """One day of the marketing funnel: each step's count (cta ""), and clicks / sign-ups started per CTA."""

    day = models.DateField()
    step = models.CharField(max_length=20)
    cta = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "step", "cta"], name="funnel_daily_unique")]


class UsageRollupDay(models.Model):
    """A day whose roll-up rows exist; the dashboard reads raw rows for the days not listed."""

    # Which roll-up tables the day has (ROLLUP_VERSION in accounts.analytics): a day rolled up by an
    # older version is read from raw rows until it is rolled up again, never from a table it lacks.
    CURRENT_VERSION = 2

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()
    version = models.PositiveSmallIntegerField(default=1)

    def __str__(self):
        return str(self.day)


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditLog(models.Model):
    """Who did what to which organization, when, with the values before and after. Append-only.

    The foreign keys have no database constraint and are never cascaded: the
    trail outlives the user or organization it names.
    """

    class Action(models.TextChoices):
        CHANGE_PLAN = "change_plan", "Change plan"
        GRANT_CHARACTERS = "grant_characters", "Grant characters"
        SUSPEND = "suspend", "Suspend organization"
        REACTIVATE = "reactivate", "Reactivate organization"
        REVOKE_KEY = "revoke_key", "Revoke API key"

    actor = models.ForeignKey(User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    target = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="auditlog_org_created_idx")]
        # Defined here because the Generation model belongs to synthesis: who may play stored audio in the admin.
        permissions = [("listen_audio", "Can listen to stored generation audio in the admin")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")

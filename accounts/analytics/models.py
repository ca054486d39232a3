"""RequestLog and the roll-up tables the usage dashboard reads.

Models of the accounts app (app label, tables and migrations are accounts'):
accounts/models.py imports them at its end, so Django registers them there and
`from accounts.models import RequestLog` keeps working.
"""

import math

from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Organization, Plan, UsageRecord, User


class RequestLog(models.Model):
    """One HTTP synthesis request as the client saw it: outcome, error code, time to first byte, total time.

    Written by accounts.analytics.middleware.RequestLogMiddleware after the response is sent
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

    # Which roll-up tables the day has (rollup.py writes CURRENT_VERSION): a day rolled up by an
    # older version is read from raw rows until it is rolled up again, never from a table it lacks.
    CURRENT_VERSION = 2

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()
    version = models.PositiveSmallIntegerField(default=1)

    def __str__(self):
        return str(self.day)

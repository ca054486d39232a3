"""
The numbers of the admin's usage dashboard, computed by the database.

Two sources:
- RequestLog (one row per synthesis request, written by the request-log
  middleware): requests by outcome, error codes, latency, concurrency;
- UsageRecord (the character ledger): characters and audio actually charged,
  including syntheses that did not come over HTTP (the studio's websocket, jobs).

Fast at volume through a roll-up (`manage.py rollup_usage`): for every whole
past day, UsageDaily keeps the day's totals for everything and for each single
plan / source / voice / organization / API key ("one filter at a time"), with
LatencyDaily (latency histograms) and ErrorDaily (failures by status and code)
at the same grain, and FunnelDaily for the marketing funnel. A dashboard with at
most one filter reads those rows for the days that are rolled up (never today)
and the raw rows for the rest. Two filters are accepted only with an
organization or a key among them (their raw rows are few); rankings (top
organizations, top voices) are shown unfiltered, and top organizations also for
one plan (organization rows carry their plan); hourly buckets read raw rows
(up to HOUR_BUCKET_MAX_DAYS).

Percentiles come from histograms with 8 log-spaced buckets per doubling (each
bucket 9% wide; RequestLog.bucket_of). From raw rows they are exact: the
histogram says which bucket holds the k-th value, and one query sorts only
that bucket's rows. From roll-ups (any whole past day) they are interpolated
inside the bucket, so within 9% of the exact value (the page marks them "≈").

Concurrency: a request occupies [created_at, created_at + total_ms). The peak
is a sweep line in SQL (+1 at each start, −1 at each end, ends first at equal
times, running SUM() OVER the ordered events, then MAX); roll-ups keep each
day's peak, per dimension value (a request counts in the day it started).
The average is busy time over elapsed time (Little's law): Σ total_ms / range.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import CharField, Count, F, Func, Q, Sum
from django.utils import timezone

from .models import Dimension, ErrorDaily, FunnelDaily, LatencyDaily, Organization, RequestLog, UsageDaily, UsageRecord, UsageRollupDay

BUCKETS = ("hour", "day", "week", "month")
HOUR_BUCKET_MAX_DAYS = 2  # hourly buckets read raw rows: at 1M rows/90 days, 2 days stay fast
PERCENTILES = (50, 95, 99)
LATENCY_DIMENSIONS = tuple(Dimension.values)

# Which column holds each dimension's value, in each source table.
_REQUEST_COLUMN = {
    Dimension.PLAN: "plan_id",
    Dimension.SOURCE: "source",
    Dimension.VOICE: "voice",
    Dimension.ORGANIZATION: "organization_id",
    Dimension.API_KEY: "api_key_id",
}
_USAGE_COLUMN = {**_REQUEST_COLUMN, Dimension.PLAN: "organization__plan_id"}

# Latency is measured on requests that succeeded: a 401 answered in 2 ms says nothing about synthesis.
_TIMED = Q(status_code__lt=400, ttfb_ms__isnull=False, total_ms__isnull=False)
_REQUEST_MEASURES = dict(
    requests=Count("id"),
    ok=Count("id", filter=Q(status_code__lt=400)),
    client_errors=Count("id", filter=Q(status_code__gte=400, status_code__lt=500) & ~Q(status_code=429)),
    rate_limited=Count("id", filter=Q(status_code=429)),
    server_errors=Count("id", filter=Q(status_code__gte=500)),
    latency_count=Count("id", filter=_TIMED),
    ttfb_sum=Sum("ttfb_ms", filter=_TIMED),
    total_sum=Sum("total_ms", filter=_TIMED),
    busy_ms=Sum("total_ms"),
)
_USAGE_MEASURES = dict(characters=Sum("characters"), audio_seconds=Sum("audio_seconds"))
ADDITIVE = tuple(_REQUEST_MEASURES) + tuple(_USAGE_MEASURES)
MEASURES = ADDITIVE + ("peak_concurrency",)


# -- time ---------------------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _ranges(days: list[date]) -> list[tuple[datetime, datetime]]:
    """Contiguous days as [start, end) datetime ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for day in sorted(days):
        begin, finish = day_start(day), day_start(day + timedelta(days=1))
        if ranges and ranges[-1][1] == begin:
            ranges[-1] = (ranges[-1][0], finish)
        else:
            ranges.append((begin, finish))
    return ranges


def _days_q(rolled: set[date]) -> dict:
    """The rolled-up days as a range: roll-up rows exist only for rolled-up days, and a range reads an index better than IN."""
    return {"day__gte": min(rolled), "day__lte": max(rolled)}


def _in_ranges(ranges, column="created_at") -> Q:
    q = Q(pk__in=[])
    for begin, finish in ranges:
        q |= Q(**{f"{column}__gte": begin, f"{column}__lt": finish})
    return q


class _TimeKey(Func):
    """'YYYY-MM-DD' (day) or 'YYYY-MM-DD HH' (hour) of a UTC datetime, natively (no per-row Python on SQLite)."""

    output_field = CharField()

    def __init__(self, expression, *, hour: bool):
        super().__init__(expression)
        self.hour = hour

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"substr({sql}, 1, {13 if self.hour else 10})", params

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        sql, params = compiler.compile(self.source_expressions[0])
        pattern = "YYYY-MM-DD HH24" if self.hour else "YYYY-MM-DD"
        return f"to_char({sql} AT TIME ZONE 'UTC', '{pattern}')", params


def _epoch_ms_sql(column: str) -> str:
    if connection.vendor == "sqlite":
        return f"CAST((julianday({column}) - 2440587.5) * 86400000.0 AS INTEGER)"
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000 AS BIGINT)"


def _time_key_sql(column: str, hour: bool) -> str:
    if connection.vendor == "sqlite":
        return f"substr({column}, 1, {13 if hour else 10})"
    return f"to_char({column} AT TIME ZONE 'UTC', '{'YYYY-MM-DD HH24' if hour else 'YYYY-MM-DD'}')"


def bucket_of_key(key: str, bucket: str) -> str:
    """Fold a day key ('YYYY-MM-DD') into its week (its Monday) or month ('YYYY-MM-01')."""
    if bucket in ("hour", "day"):
        return key
    day = date.fromisoformat(key[:10])
    if bucket == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.replace(day=1).isoformat()


def bucket_keys(start: date, end: date, bucket: str) -> list[str]:
    """Every bucket of the range, in order, so that empty ones show as zeros."""
    if bucket == "hour":
        return [f"{day.isoformat()} {h:02d}" for day in _days(start, end) for h in range(24)]
    keys = []
    for day in _days(start, end):
        key = bucket_of_key(day.isoformat(), bucket)
        if not keys or keys[-1] != key:
            keys.append(key)
    return keys


# -- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    organization: int | None = None
    plan: int | None = None
    api_key: int | None = None
    voice: str = ""
    source: str = ""

    def items(self) -> list[tuple[str, str]]:
        pairs = [
            (Dimension.ORGANIZATION, self.organization),
            (Dimension.PLAN, self.plan),
            (Dimension.API_KEY, self.api_key),
            (Dimension.VOICE, self.voice),
            (Dimension.SOURCE, self.source),
        ]
        return [(dim, str(value)) for dim, value in pairs if value not in (None, "")]

    def single(self) -> tuple[str, str] | None:
        """The roll-up slice that answers these filters, or None when only raw rows can."""
        items = self.items()
        if not items:
            return Dimension.ALL, ""
        return items[0] if len(items) == 1 else None

    def requests_q(self) -> Q:
        return Q(**{_REQUEST_COLUMN[dim]: value for dim, value in self.items()})

    def usage_q(self) -> Q:
        return Q(**{_USAGE_COLUMN[dim]: value for dim, value in self.items()})


def _value(value) -> str:
    return "" if value is None else str(value)


# -- the sweep line -----------------------------------------------------------------------------


def peak_concurrency(*, ranges, filters: Filters = Filters(), group_sql: str | None = None) -> dict[str, int]:
    """The most requests in flight at once, per value of `group_sql` (a column or time key), in SQL."""
    if not ranges:
        return {}
    table = RequestLog._meta.db_table
    where, params = [], []
    spans = []
    for begin, finish in ranges:
        spans.append("(created_at >= %s AND created_at < %s)")
        params += [connection.ops.adapt_datetimefield_value(begin), connection.ops.adapt_datetimefield_value(finish)]
    where.append("(" + " OR ".join(spans) + ")")
    for dim, value in filters.items():
        where.append(f"{_REQUEST_COLUMN[dim]} = %s")
        params.append(value)
    condition = " AND ".join(where)
    group = group_sql or "''"
    start = _epoch_ms_sql("created_at")
    sql = f"""
        SELECT g, MAX(c) FROM (
            SELECT g, SUM(d) OVER (PARTITION BY g ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c FROM (
                SELECT COALESCE(CAST({group} AS TEXT), '') AS g, {start} AS t, 1 AS d FROM {table} WHERE {condition}
                UNION ALL
                SELECT COALESCE(CAST({group} AS TEXT), '') AS g, {start} + COALESCE(total_ms, 0) AS t, -1 AS d
                FROM {table} WHERE {condition}
            ) events
        ) running GROUP BY g
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        return {key: int(peak or 0) for key, peak in cursor.fetchall()}


# -- percentiles ----------------------------------------------------------------------------------


def _rank_in_histogram(histogram: dict[int, int], percentile: int) -> tuple[int, int, int] | None:
    """(bucket, 1-based rank inside it, bucket count) of the nearest-rank percentile."""
    total = sum(histogram.values())
    if not total:
        return None
    k = max(1, math.ceil(percentile / 100 * total))
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if seen + count >= k:
            return bucket, k - seen, count
        seen += count
    return None


def percentile_from_histogram(histogram: dict[int, int], percentile: int) -> float | None:
    """Linear interpolation inside the bucket that holds the k-th value (within the bucket's 9%)."""
    found = _rank_in_histogram(histogram, percentile)
    if found is None:
        return None
    bucket, rank, count = found
    low, high = RequestLog.bucket_bounds(bucket)
    return low + (high - low) * (rank - 0.5) / count


def exact_percentile(rows, metric: str, histogram: dict[int, int], percentile: int) -> int | None:
    """The exact nearest-rank percentile: sorts only the rows of the bucket that holds it."""
    found = _rank_in_histogram(histogram, percentile)
    if found is None:
        return None
    bucket, rank, _ = found
    column = f"{metric}_ms"
    ordered = rows.filter(**{f"{metric}_bucket": bucket}).order_by(column).values_list(column, flat=True)
    return ordered[rank - 1]


# -- the roll-up ----------------------------------------------------------------------------------


def _request_measures(rows, dimension):
    if dimension == Dimension.ALL:
        return [{"value": "", **rows.aggregate(**_REQUEST_MEASURES)}]
    return rows.values(value=F(_REQUEST_COLUMN[dimension])).annotate(**_REQUEST_MEASURES).order_by()


def _usage_measures(rows, dimension):
    if dimension == Dimension.ALL:
        return [{"value": "", **rows.aggregate(**_USAGE_MEASURES)}]
    return rows.values(value=F(_USAGE_COLUMN[dimension])).annotate(**_USAGE_MEASURES).order_by()


def _histograms(rows, column: str | None):
    """{(value, metric): {bucket: count}} of the timed rows, counted by the database."""
    result: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    timed = rows.filter(_TIMED)
    for metric in LatencyDaily.Metric.values:
        bucket = f"{metric}_bucket"
        if column is None:
            counted = timed.values(bucket).annotate(n=Count("id")).order_by()
        else:
            counted = timed.values(bucket, value=F(column)).annotate(n=Count("id")).order_by()
        for row in counted:
            result[(_value(row.get("value")), metric)][row[bucket]] = row["n"]
    return result


def rollup_day(day: date) -> int:
    """Recompute the roll-up rows of one day from the raw rows (idempotent); returns how many were written."""
    begin, finish = day_start(day), day_start(day + timedelta(days=1))
    requests = RequestLog.objects.filter(created_at__gte=begin, created_at__lt=finish)
    usage = UsageRecord.objects.filter(created_at__gte=begin, created_at__lt=finish, status=UsageRecord.Status.SUCCEEDED)
    rows: dict[tuple[str, str], UsageDaily] = {}

    def row(dimension, value) -> UsageDaily:
        key = (dimension, _value(value))
        if key not in rows:
            rows[key] = UsageDaily(day=day, dimension=dimension, value=key[1])
        return rows[key]

    latency: list[LatencyDaily] = []
    errors: list[ErrorDaily] = []
    failed = requests.filter(status_code__gte=400)
    for dimension in Dimension.values:
        for measures in _request_measures(requests, dimension):
            if not measures["requests"]:
                continue
            target = row(dimension, measures.pop("value"))
            for name, amount in measures.items():
                setattr(target, name, amount or 0)
        for measures in _usage_measures(usage, dimension):
            if measures["characters"] is None:
                continue
            target = row(dimension, measures.pop("value"))
            target.characters, target.audio_seconds = measures["characters"] or 0, measures["audio_seconds"] or 0
        column = None if dimension == Dimension.ALL else _REQUEST_COLUMN[dimension]
        grouped = failed.values("status_code", "error_code") if column is None else failed.values("status_code", "error_code", value=F(column))
        errors += [
            ErrorDaily(day=day, dimension=dimension, value=_value(e.get("value")), status_code=e["status_code"],
                       error_code=e["error_code"], count=e["n"])
            for e in grouped.annotate(n=Count("id")).order_by()
        ]
        for value, peak in peak_concurrency(ranges=[(begin, finish)], group_sql=column).items():
            row(dimension, value).peak_concurrency = peak
        if dimension in LATENCY_DIMENSIONS:
            for (value, metric), histogram in _histograms(requests, column).items():
                latency += [
                    LatencyDaily(day=day, dimension=dimension, value=value, metric=metric, bucket=b, count=n)
                    for b, n in histogram.items()
                ]
    organizations = [int(v) for (d, v) in rows if d == Dimension.ORGANIZATION and v]
    plans = dict(Organization.objects.filter(pk__in=organizations).values_list("pk", "plan_id"))
    for (dimension, value), target in rows.items():
        if dimension == Dimension.ORGANIZATION and value:
            target.plan_id = plans.get(int(value))
    with transaction.atomic():
        # Delete then insert, in one transaction: a value gone from the raw rows leaves no stale row behind.
        UsageDaily.objects.filter(day=day).delete()
        LatencyDaily.objects.filter(day=day).delete()
        ErrorDaily.objects.filter(day=day).delete()
        UsageDaily.objects.bulk_create(rows.values(), batch_size=1000)
        LatencyDaily.objects.bulk_create(latency, batch_size=1000)
        ErrorDaily.objects.bulk_create(errors, batch_size=1000)
        funnel_rows = rollup_funnel_day(day)
        UsageRollupDay.objects.update_or_create(day=day, defaults={"computed_at": timezone.now()})
    return len(rows) + len(latency) + len(errors) + funnel_rows


# -- the dashboard --------------------------------------------------------------------------------


@dataclass
class Dashboard:
    start: date
    end: date
    bucket: str
    filters: Filters
    from_rollup: bool
    series: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    percentiles: dict = field(default_factory=dict)  # {"ttfb": {50: ms, ...}, "total": {...}}
    percentiles_exact: bool = True
    peak_concurrency: int = 0
    average_concurrency: float = 0.0
    top_organizations: list[dict] | None = field(default_factory=list)  # None: not available with this filter
    top_voices: list[dict] | None = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def _empty() -> dict:
    return {name: 0 for name in MEASURES}


def _add(target: dict, measures: dict) -> None:
    for name in ADDITIVE:
        target[name] += measures.get(name) or 0
    target["peak_concurrency"] = max(target["peak_concurrency"], measures.get("peak_concurrency") or 0)


def _raw_series(ranges, filters: Filters, hour: bool) -> dict[str, dict]:
    """Per day (or hour) key: every measure, from raw rows (three grouped queries)."""
    series: dict[str, dict] = defaultdict(_empty)
    if not ranges:
        return series
    requests = RequestLog.objects.filter(_in_ranges(ranges), filters.requests_q())
    for row in requests.values(key=_TimeKey("created_at", hour=hour)).annotate(**_REQUEST_MEASURES).order_by():
        _add(series[row.pop("key")], row)
    usage = UsageRecord.objects.filter(_in_ranges(ranges), filters.usage_q(), status=UsageRecord.Status.SUCCEEDED)
    for row in usage.values(key=_TimeKey("created_at", hour=hour)).annotate(**_USAGE_MEASURES).order_by():
        _add(series[row.pop("key")], row)
    peaks = peak_concurrency(ranges=ranges, filters=filters, group_sql=_time_key_sql("created_at", hour))
    for key, peak in peaks.items():
        series[key]["peak_concurrency"] = max(series[key]["peak_concurrency"], peak)
    return series


def dashboard(*, start: date, end: date, bucket: str = "day", filters: Filters = Filters(), top: int = 10) -> Dashboard:
    """Everything the usage page shows for days start..end (inclusive, UTC)."""
    today = timezone.now().date()
    if bucket == "hour" and (end - start).days + 1 > HOUR_BUCKET_MAX_DAYS:
        raise ValueError(f"Hourly buckets are for ranges of up to {HOUR_BUCKET_MAX_DAYS} days.")
    days = _days(start, end)
    single = filters.single()
    if single is None and filters.organization is None and filters.api_key is None:
        # Two of plan / source / voice would scan a large share of the raw rows.
        raise ValueError("Filter by plan, source or voice one at a time, or together with an organization or API key.")
    rolled: set[date] = set()
    if single is not None and bucket != "hour":
        # Today is still being written: never from a roll-up, even if someone rolled it up.
        rolled = set(UsageRollupDay.objects.filter(day__gte=start, day__lte=min(end, today - timedelta(days=1))).values_list("day", flat=True))
    raw_ranges = _ranges([d for d in days if d not in rolled])
    all_ranges = _ranges(days)
    result = Dashboard(start=start, end=end, bucket=bucket, filters=filters, from_rollup=bool(rolled))

    # Series: per day (or hour) from both sources, folded into the bucket.
    per_key: dict[str, dict] = defaultdict(_empty)
    if rolled:
        dimension, value = single
        daily = UsageDaily.objects.filter(dimension=dimension, value=value, **_days_q(rolled)).values("day", *MEASURES)
        for row in daily:
            _add(per_key[row.pop("day").isoformat()], row)
    for key, measures in _raw_series(raw_ranges, filters, hour=bucket == "hour").items():
        _add(per_key[key], measures)
    folded: dict[str, dict] = {key: _empty() for key in bucket_keys(start, end, bucket)}
    for key, measures in per_key.items():
        _add(folded.setdefault(bucket_of_key(key, bucket), _empty()), measures)
    totals = _empty()
    for key, measures in folded.items():
        _add(totals, measures)
        result.series.append({"bucket": key, **measures, **_averages(measures)})
    result.totals = {**totals, **_averages(totals)}
    result.peak_concurrency = totals["peak_concurrency"]
    elapsed = (min(day_start(end + timedelta(days=1)), timezone.now()) - day_start(start)).total_seconds() * 1000
    result.average_concurrency = totals["busy_ms"] / elapsed if elapsed > 0 else 0.0

    # Percentiles: roll-up histograms where they exist for this filter; otherwise
    # (an organization or key filter, hourly buckets) the raw rows, exactly.
    histograms_rolled = bool(rolled) and single[0] in LATENCY_DIMENSIONS
    result.percentiles_exact = not histograms_rolled
    timed_raw = RequestLog.objects.filter(
        _in_ranges(raw_ranges if histograms_rolled else all_ranges), filters.requests_q(), _TIMED
    )
    for metric in LatencyDaily.Metric.values:
        histogram: dict[int, int] = defaultdict(int)
        column = f"{metric}_bucket"
        if histograms_rolled:
            counted = (
                LatencyDaily.objects.filter(dimension=single[0], value=single[1], metric=metric, **_days_q(rolled))
                .values("bucket").annotate(n=Sum("count")).order_by()
            )
            for row in counted:
                histogram[row["bucket"]] += row["n"]
        for row in timed_raw.values(column).annotate(n=Count("id")).order_by():
            histogram[row[column]] += row["n"]
        if result.percentiles_exact:
            result.percentiles[metric] = {p: exact_percentile(timed_raw, metric, histogram, p) for p in PERCENTILES}
        else:
            result.percentiles[metric] = {p: _round(percentile_from_histogram(histogram, p)) for p in PERCENTILES}

    result.top_organizations = _top_organizations(filters, rolled, raw_ranges, all_ranges, top)
    result.top_voices = _top_voices(filters, rolled, raw_ranges, all_ranges, top)
    counted: dict[tuple[int, str], int] = defaultdict(int)
    if rolled:
        rolled_errors = ErrorDaily.objects.filter(dimension=single[0], value=single[1], **_days_q(rolled))
        for e in rolled_errors.values("status_code", "error_code").annotate(n=Sum("count")).order_by():
            counted[(e["status_code"], e["error_code"])] += e["n"]
    raw_errors = RequestLog.objects.filter(_in_ranges(raw_ranges), filters.requests_q(), status_code__gte=400)
    for e in raw_errors.values("status_code", "error_code").annotate(n=Count("id")).order_by():
        counted[(e["status_code"], e["error_code"])] += e["n"]
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[: top * 2]
    result.errors = [{"status_code": status, "error_code": code, "requests": n} for (status, code), n in ranked]
    return result


def _round(value):
    return None if value is None else round(value)


def _averages(measures: dict) -> dict:
    count = measures["latency_count"]
    return {
        "ttfb_avg": round(measures["ttfb_sum"] / count) if count else None,
        "total_avg": round(measures["total_sum"] / count) if count else None,
        "audio_minutes": round(measures["audio_seconds"] / 60, 2),
    }


def _ranked(dimension, filters: Filters, rolled, raw_ranges, all_ranges, top: int) -> list[tuple[str, dict]]:
    """Requests and characters per value of `dimension`, biggest first (roll-ups where they can answer)."""
    merged: dict[str, dict] = defaultdict(lambda: {"requests": 0, "ok": 0, "errors": 0, "characters": 0, "audio_seconds": 0.0})
    others = [(dim, value) for dim, value in filters.items() if dim != Dimension.PLAN or dimension != Dimension.ORGANIZATION]
    # Organization rows carry their plan, so "top organizations on plan X" is still a roll-up read.
    use_rollup = bool(rolled) and not others
    if rolled and others:
        # A ranking within a filter would need that pair of dimensions rolled up,
        # or a scan of the filter's raw rows over the whole range: not shown.
        return None
    ranges = raw_ranges if use_rollup else all_ranges
    if use_rollup:
        rows = UsageDaily.objects.filter(dimension=dimension, **_days_q(rolled))
        if filters.plan is not None:
            rows = rows.filter(plan_id=filters.plan)
        for row in rows.values("value").annotate(
            r=Sum("requests"), o=Sum("ok"), c=Sum("characters"), a=Sum("audio_seconds")
        ).order_by():
            entry = merged[row["value"]]
            entry["requests"] += row["r"]
            entry["ok"] += row["o"]
            entry["characters"] += row["c"]
            entry["audio_seconds"] += row["a"]
    if ranges:
        column = _REQUEST_COLUMN[dimension]
        requests = RequestLog.objects.filter(_in_ranges(ranges), filters.requests_q())
        for row in requests.values(value=F(column)).annotate(r=Count("id"), o=Count("id", filter=Q(status_code__lt=400))).order_by():
            entry = merged[_value(row["value"])]
            entry["requests"] += row["r"]
            entry["ok"] += row["o"]
        usage = UsageRecord.objects.filter(_in_ranges(ranges), filters.usage_q(), status=UsageRecord.Status.SUCCEEDED)
        for row in usage.values(value=F(_USAGE_COLUMN[dimension])).annotate(c=Sum("characters"), a=Sum("audio_seconds")).order_by():
            entry = merged[_value(row["value"])]
            entry["characters"] += row["c"] or 0
            entry["audio_seconds"] += row["a"] or 0
    for entry in merged.values():
        entry["errors"] = entry["requests"] - entry["ok"]
        entry["audio_minutes"] = round(entry["audio_seconds"] / 60, 2)
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["characters"], -item[1]["requests"], item[0]))
    return ranked[:top]


def _top_organizations(filters, rolled, raw_ranges, all_ranges, top) -> list[dict]:
    ranked = _ranked(Dimension.ORGANIZATION, filters, rolled, raw_ranges, all_ranges, top + 1)
    if ranked is None:
        return None
    ranked = [(value, entry) for value, entry in ranked if value]
    names = dict(Organization.objects.filter(pk__in=[int(v) for v, _ in ranked]).values_list("pk", "name"))
    return [{"organization_id": int(v), "name": names.get(int(v), f"#{v} (deleted)"), **entry} for v, entry in ranked[:top]]


def _top_voices(filters, rolled, raw_ranges, all_ranges, top) -> list[dict]:
    ranked = _ranked(Dimension.VOICE, filters, rolled, raw_ranges, all_ranges, top)
    if ranked is None:
        return None
    return [{"voice": value or "—", **entry} for value, entry in ranked]


def organization_series(organization: Organization, *, days: int = 30) -> Dashboard:
    """The per-organization page's chart: the dashboard filtered to one organization."""
    end = timezone.now().date()
    return dashboard(start=end - timedelta(days=days - 1), end=end, filters=Filters(organization=organization.pk), top=5)


# -- the marketing funnel -------------------------------------------------------------------------

FUNNEL_STEPS = (
    ("visitors", "Visitors"),
    ("demo_played", "Demo plays"),
    ("signup_started", "Sign-ups started"),
    ("signup_completed", "Sign-ups completed"),
    ("email_verified", "Emails verified"),
    ("first_generation", "First generation"),
    ("paid", "On a paid plan"),
)


@dataclass
class Funnel:
    steps: list[dict]  # {"key", "label", "count", "conversion" (from the step before, %)}
    days: list[dict]  # {"day", <step key>: count, ...}
    ctas: list[dict]  # {"cta", "clicks", "signups_started", "conversion"}


def _percent(part, whole):
    return round(100 * part / whole, 1) if whole else None


def _funnel_raw(ranges) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, dict[str, int]]]]:
    """Per day key: each step's count; and per day key, per CTA: clicks and sign-ups started."""
    from marketing.models import FunnelEvent

    Kind = FunnelEvent.Kind
    per_day: dict[str, dict[str, int]] = defaultdict(dict)
    per_cta: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if not ranges:
        return per_day, per_cta
    events = FunnelEvent.objects.filter(_in_ranges(ranges))
    day = _TimeKey("created_at", hour=False)
    anonymous = events.exclude(visitor="")
    queries = {
        # Every anonymous event comes from a page, so the page views hold every visitor.
        "visitors": (anonymous.filter(kind=Kind.PAGE_VIEW), "visitor"),
        "demo_played": (anonymous.filter(kind=Kind.DEMO_PLAYED), "visitor"),
        "signup_started": (anonymous.filter(kind=Kind.SIGNUP_STARTED), "visitor"),
        # Recorded once per user (organization) by marketing.funnel.event_record_once.
        "signup_completed": (events.filter(kind=Kind.SIGNUP_COMPLETED), "user"),
        "email_verified": (events.filter(kind=Kind.EMAIL_VERIFIED), "user"),
        "first_generation": (events.filter(kind=Kind.FIRST_GENERATION), "organization"),
        "paid": (
            events.filter(kind=Kind.SIGNUP_COMPLETED, user__memberships__organization__plan__price_monthly_cents__gt=0),
            "user",
        ),
    }
    for step, (rows, counted) in queries.items():
        for row in rows.values(key=day).annotate(n=Count(counted, distinct=True)).order_by():
            per_day[row["key"]][step] = row["n"]
    for step, kind in (("clicks", Kind.CTA_CLICKED), ("signups_started", Kind.SIGNUP_STARTED)):
        for row in anonymous.filter(kind=kind).values("cta", key=day).annotate(n=Count("visitor", distinct=True)).order_by():
            per_cta[row["key"]][row["cta"]][step] = row["n"]
    return per_day, per_cta


def rollup_funnel_day(day: date) -> int:
    per_day, per_cta = _funnel_raw(_ranges([day]))
    key = day.isoformat()
    rows = [FunnelDaily(day=day, step=step, cta="", count=n) for step, n in per_day.get(key, {}).items()]
    rows += [
        FunnelDaily(day=day, step=step, cta=cta, count=n)
        for cta, counts in per_cta.get(key, {}).items()
        for step, n in counts.items()
    ]
    with transaction.atomic():
        FunnelDaily.objects.filter(day=day).delete()
        FunnelDaily.objects.bulk_create(rows)
    return len(rows)


def funnel(*, start: date, end: date) -> Funnel:
    """Visitors → demo plays → sign-ups started → completed → verified → first generation → paid.

    Anonymous steps count distinct visitors per day (the visitor id rotates
    daily, so that is the most a visitor can be counted); account steps count
    users (organizations for the first generation), each recorded once;
    "paid" counts the users who completed sign-up and now belong to an
    organization whose plan costs money (as of the day's roll-up for past days).
    Whole past days come from FunnelDaily, today from the events.
    """
    today = timezone.now().date()
    days = _days(start, end)
    rolled = set(UsageRollupDay.objects.filter(day__gte=start, day__lte=min(end, today - timedelta(days=1))).values_list("day", flat=True))
    per_day, per_cta = _funnel_raw(_ranges([d for d in days if d not in rolled]))
    for row in FunnelDaily.objects.filter(**_days_q(rolled)).values("day", "step", "cta", "count") if rolled else []:
        key = row["day"].isoformat()
        if row["cta"] or row["step"] in ("clicks", "signups_started"):
            per_cta[key][row["cta"]][row["step"]] = row["count"]
        else:
            per_day[key][row["step"]] = row["count"]
    table = [{"day": key, **{step: per_day.get(key, {}).get(step, 0) for step, _ in FUNNEL_STEPS}} for key in bucket_keys(start, end, "day")]
    totals = {step: sum(entry[step] for entry in table) for step, _ in FUNNEL_STEPS}
    steps, previous = [], None
    for key, label in FUNNEL_STEPS:
        conversion = _percent(totals[key], previous) if previous is not None else None
        steps.append({"key": key, "label": label, "count": totals[key], "conversion": conversion})
        previous = totals[key]
    clicks: dict[str, int] = defaultdict(int)
    started: dict[str, int] = defaultdict(int)
    for by_cta in per_cta.values():
        for cta, counts in by_cta.items():
            clicks[cta] += counts.get("clicks", 0)
            started[cta] += counts.get("signups_started", 0)
    ctas = [
        {"cta": cta or "—", "clicks": clicks[cta], "signups_started": started[cta], "conversion": _percent(started[cta], clicks[cta])}
        for cta in sorted(set(clicks) | set(started), key=lambda c: (-clicks[c], c))
    ]
    return Funnel(steps=steps, days=table, ctas=ctas)

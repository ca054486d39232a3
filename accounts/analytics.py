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
at the same grain, and FunnelDaily for the marketing funnel; UsageHourly keeps
each hour for everything and each plan / source / voice, and OrganizationDaily
each organization's day in a narrow table whose covering index ranks 90 days of
organizations in ~25 ms. A dashboard with at most one filter reads those rows
for the days that are rolled up (never today, nor a day rolled up by an older
UsageRollupDay.version) and the raw rows for the rest. Two filters are accepted
only with an organization or a key among them (their raw rows are few, and
RequestLog's covering index on the organization holds every column they need);
rankings (top organizations, top voices) are shown unfiltered, and top
organizations also for one plan (organization rows carry their plan); hourly
buckets span up to HOUR_BUCKET_MAX_DAYS (an organization's or key's from raw rows).

Percentiles come from histograms with 8 log-spaced buckets per doubling (each
bucket 9% wide; RequestLog.bucket_of). From raw rows they are exact: the
histogram says which bucket holds the k-th value, and one query per metric
numbers only the rows of those buckets. From roll-ups (any whole past day) they are interpolated
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
from django.db.models import CharField, Count, F, Func, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from .models import (
    ApiKey,
    Dimension,
    ErrorDaily,
    FunnelDaily,
    LatencyDaily,
    Organization,
    OrganizationDaily,
    RequestLog,
    UsageDaily,
    UsageHourly,
    UsageRecord,
    UsageRollupDay,
)

BUCKETS = ("hour", "day", "week", "month")
# Rolled-up days come from UsageHourly (everything, one plan / source / voice); an organization or a key,
# and today, from raw rows: at 1M rows/90 days the biggest organization has ~10k rows in 7 days.
HOUR_BUCKET_MAX_DAYS = 7
HOURLY_DIMENSIONS = (Dimension.ALL, Dimension.PLAN, Dimension.SOURCE, Dimension.VOICE)
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


def _days_q(rolled: set[date], column: str = "day") -> Q:
    """The rolled-up days as ranges of contiguous days (a range reads an index better than IN).

    Not simply min..max: a day in between may hold rows of an older roll-up
    version (UsageRollupDay.version) that is read from raw rows instead.
    """
    q = Q(pk__in=[])
    for begin, finish in _ranges(list(rolled)):
        if column == "day":
            q |= Q(day__gte=begin.date(), day__lt=finish.date())
        else:
            q |= Q(**{f"{column}__gte": begin, f"{column}__lt": finish})
    return q


def rolled_days(start: date, end: date) -> set[date]:
    """The days of start..end whose roll-up rows are complete and current; never today (still being written)."""
    last = min(end, timezone.now().date() - timedelta(days=1))
    days = UsageRollupDay.objects.filter(day__gte=start, day__lte=last, version__gte=UsageRollupDay.CURRENT_VERSION)
    return set(days.values_list("day", flat=True))


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


def _hour_sql(column: str) -> str:
    """The start of the hour of a datetime column, as the database stores a DateTimeField."""
    if connection.vendor == "sqlite":
        return f"substr({column}, 1, 13) || ':00:00'"
    return f"date_trunc('hour', {column})"


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
        q = Q(**{_USAGE_COLUMN[dim]: value for dim, value in self.items()})
        if self.api_key is not None and self.organization is None:
            # A key's usage rows are its organization's: saying so lets the ledger's (organization,
            # created_at) index find today's rows of the key, where the key's own index would read all of its
            # days (the ledger has no (api_key, created_at) index; 100 ms -> 2 ms for the bench's biggest key).
            q &= Q(organization_id=Subquery(ApiKey.objects.filter(pk=self.api_key).values("organization_id")[:1]))
        return q


def _value(value) -> str:
    return "" if value is None else str(value)


# -- the sweep line -----------------------------------------------------------------------------


def _peak_sql(*, ranges, filters: Filters = Filters(), group_sql: str | None = None, table: str | None = None,
              start_sql: str | None = None) -> tuple[str, list]:
    """The sweep line as a query of (g, peak) rows, one per value of `group_sql`.

    `table`/`start_sql`: another source of RequestLog's columns and its start in epoch ms
    (the roll-up's copy of one day's rows, with the start computed once).
    """
    table = table or RequestLog._meta.db_table
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
    start = start_sql or _epoch_ms_sql("created_at")
    sql = f"""
        SELECT g, MAX(c) AS peak FROM (
            SELECT g, SUM(d) OVER (PARTITION BY g ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c FROM (
                SELECT COALESCE(CAST({group} AS TEXT), '') AS g, {start} AS t, 1 AS d FROM {table} WHERE {condition}
                UNION ALL
                SELECT COALESCE(CAST({group} AS TEXT), '') AS g, {start} + COALESCE(total_ms, 0) AS t, -1 AS d
                FROM {table} WHERE {condition}
            ) events
        ) running GROUP BY g
    """
    return sql, params + params


def peak_concurrency(*, ranges, filters: Filters = Filters(), group_sql: str | None = None) -> dict[str, int]:
    """The most requests in flight at once, per value of `group_sql` (a column or time key), in SQL."""
    if not ranges:
        return {}
    sql, params = _peak_sql(ranges=ranges, filters=filters, group_sql=group_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
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


def exact_percentiles(rows, metric: str, histogram: dict[int, int], percentiles=PERCENTILES) -> dict[int, int | None]:
    """Exact nearest-rank percentiles in one query: numbers the rows of only the buckets that hold them."""
    found = {p: _rank_in_histogram(histogram, p) for p in percentiles}
    wanted = {f[:2] for f in found.values() if f}
    if not wanted:
        return {p: None for p in percentiles}
    bucket, column = f"{metric}_bucket", f"{metric}_ms"
    numbered = (
        rows.filter(**{f"{bucket}__in": {b for b, _ in wanted}})
        .annotate(rank=Window(RowNumber(), partition_by=[F(bucket)], order_by=[F(column).asc()]))
        .filter(rank__in={r for _, r in wanted})
        .values_list(bucket, "rank", column)
    )
    values = {(b, r): ms for b, r, ms in numbered}
    return {p: values[f[:2]] if f else None for p, f in found.items()}


# -- the roll-up ----------------------------------------------------------------------------------
#
# INSERT ... SELECT ... GROUP BY statements, a few per dimension and day: the
# database groups the raw rows and writes the roll-up rows itself, nothing passes
# through Python objects.

_TIMED_SQL = "status_code < 400 AND ttfb_ms IS NOT NULL AND total_ms IS NOT NULL"
_REQUEST_MEASURES_SQL = {  # _REQUEST_MEASURES in portable SQL (no FILTER clause)
    "requests": "COUNT(*)",
    "ok": "SUM(CASE WHEN status_code < 400 THEN 1 ELSE 0 END)",
    "client_errors": "SUM(CASE WHEN status_code >= 400 AND status_code < 500 AND status_code <> 429 THEN 1 ELSE 0 END)",
    "rate_limited": "SUM(CASE WHEN status_code = 429 THEN 1 ELSE 0 END)",
    "server_errors": "SUM(CASE WHEN status_code >= 500 THEN 1 ELSE 0 END)",
    "latency_count": f"SUM(CASE WHEN {_TIMED_SQL} THEN 1 ELSE 0 END)",
    "ttfb_sum": f"COALESCE(SUM(CASE WHEN {_TIMED_SQL} THEN ttfb_ms END), 0)",
    "total_sum": f"COALESCE(SUM(CASE WHEN {_TIMED_SQL} THEN total_ms END), 0)",
    "busy_ms": "COALESCE(SUM(total_ms), 0)",
}


def _value_sql(dimension: str, column: str | None = None) -> str:
    """A dimension's value as roll-up rows store it: text, '' for none (and for "all")."""
    if dimension == Dimension.ALL:
        return "''"
    return f"COALESCE(CAST({column or _REQUEST_COLUMN[dimension]} AS TEXT), '')"


def _group_by(*expressions: str) -> str:
    """GROUP BY the non-constant expressions; with none, one row only if there are rows.

    (PostgreSQL refuses GROUP BY '', and an aggregate without GROUP BY returns a row of zeros
    even when nothing matched: an empty day writes no "all" row, as a value without rows writes none.)
    """
    grouped = [e for e in expressions if e and e != "''"]
    return f"GROUP BY {', '.join(grouped)}" if grouped else "HAVING COUNT(*) > 0"


def _rollup_measures(cursor, model, dimension: str, *, day: date, hourly: bool, source: str) -> int:
    """Write one dimension's UsageDaily (or UsageHourly) rows of a day: request measures, characters, peaks."""
    begin, finish = day_start(day), day_start(day + timedelta(days=1))
    span = [connection.ops.adapt_datetimefield_value(begin), connection.ops.adapt_datetimefield_value(finish)]
    table = model._meta.db_table
    zeros = {name: "0" for name in MEASURES}
    when_column = "hour" if hourly else "day"
    when_params = [] if hourly else [connection.ops.adapt_datefield_value(day)]

    def when_sql(column):  # each row's hour, or the day as a parameter
        return _hour_sql(column) if hourly else "%s"

    def time_key(column):  # grouped by the same expression it selects (PostgreSQL insists)
        return _hour_sql(column) if hourly else ""

    value = _value_sql(dimension)
    columns = {when_column: when_sql("created_at"), "dimension": "%s", "value": value, **zeros, **_REQUEST_MEASURES_SQL}
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns.values())} FROM {source} "
        f"WHERE created_at >= %s AND created_at < %s {_group_by(value, time_key('created_at'))}",
        [*when_params, dimension, *span],
    )
    written = cursor.rowcount
    # Characters and audio come from the ledger, which also has syntheses that never came over
    # HTTP (the studio's websocket, jobs): a value may have usage and no request, hence the upsert.
    u_column = "o.plan_id" if dimension == Dimension.PLAN else f"u.{_REQUEST_COLUMN.get(dimension, 'id')}"
    u_value = _value_sql(dimension, u_column)
    u_columns = {when_column: when_sql("u.created_at"), "dimension": "%s", "value": u_value, **zeros,
                 "characters": "SUM(u.characters)", "audio_seconds": "SUM(u.audio_seconds)"}
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(u_columns)}) SELECT {', '.join(u_columns.values())} "
        f"FROM {UsageRecord._meta.db_table} u LEFT JOIN {Organization._meta.db_table} o ON o.id = u.organization_id "
        f"WHERE u.created_at >= %s AND u.created_at < %s AND u.status = %s "
        f"{_group_by(u_value, time_key('u.created_at'))} ON CONFLICT (dimension, value, {when_column}) "
        f"DO UPDATE SET characters = excluded.characters, audio_seconds = excluded.audio_seconds",
        [*when_params, dimension, *span, UsageRecord.Status.SUCCEEDED],
    )
    written += cursor.rowcount
    # Peaks: the sweep line per value (and hour), written by one UPDATE ... FROM.
    group = value if not hourly else f"{value} || '|' || {_time_key_sql('created_at', True)}"
    target = f"{table}.value" if not hourly else f"{table}.value || '|' || {_time_key_sql(f'{table}.hour', True)}"
    peak_sql, peak_params = _peak_sql(ranges=[(begin, finish)], group_sql=group, table=source, start_sql="t")
    if hourly:
        where, where_params = f"{table}.hour >= %s AND {table}.hour < %s", span
    else:
        where, where_params = f"{table}.day = %s", when_params
    cursor.execute(
        f"UPDATE {table} SET peak_concurrency = p.peak FROM ({peak_sql}) AS p "
        f"WHERE {where} AND {table}.dimension = %s AND {target} = p.g",
        [*peak_params, *where_params, dimension],
    )
    return written


def rollup_day(day: date) -> int:
    """Recompute the roll-up rows of one day from the raw rows (idempotent); returns how many were written."""
    begin, finish = day_start(day), day_start(day + timedelta(days=1))
    span = [connection.ops.adapt_datetimefield_value(begin), connection.ops.adapt_datetimefield_value(finish)]
    day_param = connection.ops.adapt_datefield_value(day)
    written = 0
    # The day's rows, copied once with their start in epoch ms: the ~30 statements below (ten of them
    # sweep lines) read this small table instead of looking each row up through the big one's index.
    requests = "rollup_requests"
    columns = ("created_at, plan_id, source, voice, organization_id, api_key_id, status_code, error_code, "
               "ttfb_ms, total_ms, ttfb_bucket, total_bucket")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {requests}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {requests} AS SELECT {columns}, {_epoch_ms_sql('created_at')} AS t "
            f"FROM {RequestLog._meta.db_table} WHERE created_at >= %s AND created_at < %s",
            span,
        )
        # Delete then insert, in one transaction: a value gone from the raw rows leaves no stale row behind.
        for model in (LatencyDaily, ErrorDaily, OrganizationDaily):
            model.objects.filter(day=day).delete()
        # Every dimension named, so that the deletes seek their (dimension, ...) indexes.
        UsageDaily.objects.filter(dimension__in=Dimension.values, day=day).delete()
        UsageHourly.objects.filter(dimension__in=Dimension.values, hour__gte=begin, hour__lt=finish).delete()
        for dimension in Dimension.values:
            written += _rollup_measures(cursor, UsageDaily, dimension, day=day, hourly=False, source=requests)
            if dimension in HOURLY_DIMENSIONS:
                written += _rollup_measures(cursor, UsageHourly, dimension, day=day, hourly=True, source=requests)
            value = _value_sql(dimension)
            cursor.execute(
                f"INSERT INTO {ErrorDaily._meta.db_table} (day, dimension, value, status_code, error_code, count) "
                f"SELECT %s, %s, {value}, status_code, error_code, COUNT(*) FROM {requests} "
                f"WHERE created_at >= %s AND created_at < %s AND status_code >= 400 "
                f"{_group_by(value, 'status_code', 'error_code')}",
                [day_param, dimension, *span],
            )
            written += cursor.rowcount
            if dimension in LATENCY_DIMENSIONS:
                for metric in LatencyDaily.Metric.values:
                    cursor.execute(
                        f"INSERT INTO {LatencyDaily._meta.db_table} (day, dimension, value, metric, bucket, count) "
                        f"SELECT %s, %s, {value}, %s, {metric}_bucket, COUNT(*) FROM {requests} "
                        f"WHERE created_at >= %s AND created_at < %s AND {_TIMED_SQL} AND {metric}_bucket IS NOT NULL "
                        f"{_group_by(value, f'{metric}_bucket')}",
                        [day_param, dimension, metric, *span],
                    )
                    written += cursor.rowcount
        usage_daily = UsageDaily._meta.db_table
        organization_rows = f"{usage_daily}.day = %s AND {usage_daily}.dimension = %s AND {usage_daily}.value <> ''"
        # Organization rows carry the organization's plan as of the roll-up ("top organizations on plan X").
        cursor.execute(
            f"UPDATE {usage_daily} SET plan_id = (SELECT o.plan_id FROM {Organization._meta.db_table} o "
            f"WHERE o.id = CAST({usage_daily}.value AS BIGINT)) WHERE {organization_rows}",
            [day_param, Dimension.ORGANIZATION],
        )
        cursor.execute(
            f"INSERT INTO {OrganizationDaily._meta.db_table} "
            f"(day, organization_id, plan_id, requests, ok, characters, audio_seconds) "
            f"SELECT day, CAST(value AS BIGINT), plan_id, requests, ok, characters, audio_seconds FROM {usage_daily} "
            f"WHERE {organization_rows}",
            [day_param, Dimension.ORGANIZATION],
        )
        written += cursor.rowcount
        cursor.execute(f"DROP TABLE {requests}")
        written += rollup_funnel_day(day)
        UsageRollupDay.objects.update_or_create(
            day=day, defaults={"computed_at": timezone.now(), "version": UsageRollupDay.CURRENT_VERSION}
        )
    return written


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
    if bucket == "hour" and (end - start).days + 1 > HOUR_BUCKET_MAX_DAYS:
        raise ValueError(f"Hourly buckets are for ranges of up to {HOUR_BUCKET_MAX_DAYS} days.")
    days = _days(start, end)
    single = filters.single()
    if single is None and filters.organization is None and filters.api_key is None:
        # Two of plan / source / voice would scan a large share of the raw rows.
        raise ValueError("Filter by plan, source or voice one at a time, or together with an organization or API key.")
    rolled: set[date] = set()
    if single is not None and (bucket != "hour" or single[0] in HOURLY_DIMENSIONS):
        rolled = rolled_days(start, end)
    raw_ranges = _ranges([d for d in days if d not in rolled])
    all_ranges = _ranges(days)
    result = Dashboard(start=start, end=end, bucket=bucket, filters=filters, from_rollup=bool(rolled))

    # Series: per day (or hour) from both sources, folded into the bucket.
    per_key: dict[str, dict] = defaultdict(_empty)
    if rolled:
        dimension, value = single
        if bucket == "hour":
            hourly = UsageHourly.objects.filter(_days_q(rolled, "hour"), dimension=dimension, value=value)
            for row in hourly.values("hour", *MEASURES):
                _add(per_key[row.pop("hour").astimezone(UTC).strftime("%Y-%m-%d %H")], row)
        else:
            daily = UsageDaily.objects.filter(_days_q(rolled), dimension=dimension, value=value)
            for row in daily.values("day", *MEASURES):
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
                LatencyDaily.objects.filter(_days_q(rolled), dimension=single[0], value=single[1], metric=metric)
                .values("bucket").annotate(n=Sum("count")).order_by()
            )
            for row in counted:
                histogram[row["bucket"]] += row["n"]
        for row in timed_raw.values(column).annotate(n=Count("id")).order_by():
            histogram[row[column]] += row["n"]
        if result.percentiles_exact:
            result.percentiles[metric] = exact_percentiles(timed_raw, metric, histogram)
        else:
            result.percentiles[metric] = {p: _round(percentile_from_histogram(histogram, p)) for p in PERCENTILES}

    result.top_organizations = _top_organizations(filters, rolled, raw_ranges, all_ranges, top, totals)
    result.top_voices = _top_voices(filters, rolled, raw_ranges, all_ranges, top, totals)
    counted: dict[tuple[int, str], int] = defaultdict(int)
    if rolled:
        rolled_errors = ErrorDaily.objects.filter(_days_q(rolled), dimension=single[0], value=single[1])
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


def _ranked(
    dimension, filters: Filters, rolled, raw_ranges, all_ranges, top: int, totals: dict
) -> list[tuple[str, dict]] | None:
    """Requests and characters per value of `dimension`, biggest first (roll-ups where they can answer)."""
    merged: dict[str, dict] = defaultdict(lambda: {"requests": 0, "ok": 0, "errors": 0, "characters": 0, "audio_seconds": 0.0})
    others = [(dim, value) for dim, value in filters.items() if dim != Dimension.PLAN or dimension != Dimension.ORGANIZATION]
    # Organization rows carry their plan, so "top organizations on plan X" is still a roll-up read.
    use_rollup = bool(rolled) and not others
    if rolled and others:
        # A ranking within a filter would need that pair of dimensions rolled up,
        # or a scan of the filter's raw rows over the whole range: not shown.
        return None
    pinned = dict(filters.items()).get(dimension)
    if pinned is not None and (totals["requests"] or totals["characters"]):
        # The filter names the one value this ranking can hold: its numbers are the totals.
        merged[pinned] = {name: totals[name] for name in ("requests", "ok", "characters", "audio_seconds")}
        all_ranges = raw_ranges = []
    ranges = raw_ranges if use_rollup else all_ranges
    if use_rollup:
        if dimension == Dimension.ORGANIZATION:
            # The narrow integer-keyed table, summed from its covering index (see OrganizationDaily).
            rows = OrganizationDaily.objects.filter(_days_q(rolled)).values_list("organization_id")
        else:
            rows = UsageDaily.objects.filter(_days_q(rolled), dimension=dimension).values_list("value")
        if filters.plan is not None:
            rows = rows.filter(plan_id=filters.plan)
        summed = rows.annotate(r=Sum("requests"), o=Sum("ok"), c=Sum("characters"), a=Sum("audio_seconds")).order_by()
        for value, requests, ok, characters, audio_seconds in summed:
            entry = merged[str(value)]
            entry["requests"] += requests
            entry["ok"] += ok
            entry["characters"] += characters
            entry["audio_seconds"] += audio_seconds
    if ranges:
        column = _REQUEST_COLUMN[dimension]
        requests = RequestLog.objects.filter(_in_ranges(ranges), filters.requests_q())
        counted = requests.values_list(column).annotate(r=Count("id"), o=Count("id", filter=Q(status_code__lt=400)))
        counted = counted.order_by()
        for value, requests_n, ok in counted:
            entry = merged[_value(value)]
            entry["requests"] += requests_n
            entry["ok"] += ok
        usage = UsageRecord.objects.filter(_in_ranges(ranges), filters.usage_q(), status=UsageRecord.Status.SUCCEEDED)
        charged = usage.values_list(_USAGE_COLUMN[dimension]).annotate(c=Sum("characters"), a=Sum("audio_seconds"))
        charged = charged.order_by()
        for value, characters, audio_seconds in charged:
            entry = merged[_value(value)]
            entry["characters"] += characters or 0
            entry["audio_seconds"] += audio_seconds or 0
    for entry in merged.values():
        entry["errors"] = entry["requests"] - entry["ok"]
        entry["audio_minutes"] = round(entry["audio_seconds"] / 60, 2)
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["characters"], -item[1]["requests"], item[0]))
    return ranked[:top]


def _top_organizations(filters, rolled, raw_ranges, all_ranges, top, totals) -> list[dict]:
    ranked = _ranked(Dimension.ORGANIZATION, filters, rolled, raw_ranges, all_ranges, top + 1, totals)
    if ranked is None:
        return None
    ranked = [(value, entry) for value, entry in ranked if value]
    names = dict(Organization.objects.filter(pk__in=[int(v) for v, _ in ranked]).values_list("pk", "name"))
    return [{"organization_id": int(v), "name": names.get(int(v), f"#{v} (deleted)"), **entry} for v, entry in ranked[:top]]


def _top_voices(filters, rolled, raw_ranges, all_ranges, top, totals) -> list[dict]:
    ranked = _ranked(Dimension.VOICE, filters, rolled, raw_ranges, all_ranges, top, totals)
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
    # FunnelDaily is the same in every roll-up version: any rolled-up day will do.
    rolled = set(UsageRollupDay.objects.filter(day__gte=start, day__lte=min(end, today - timedelta(days=1))).values_list("day", flat=True))
    per_day, per_cta = _funnel_raw(_ranges([d for d in days if d not in rolled]))
    for row in FunnelDaily.objects.filter(_days_q(rolled)).values("day", "step", "cta", "count") if rolled else []:
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

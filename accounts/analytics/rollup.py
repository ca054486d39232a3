"""The roll-up (`manage.py rollup_usage`): a whole past day's raw rows into the tables the dashboard reads.

For every whole past day, UsageDaily keeps the day's totals for everything and
for each single plan / source / voice / organization / API key ("one filter at
a time"), with LatencyDaily (latency histograms) and ErrorDaily (failures by
status and code) at the same grain, and FunnelDaily for the marketing funnel;
UsageHourly keeps each hour for everything and each plan / source / voice, and
OrganizationDaily each organization's day in a narrow table whose covering index
ranks 90 days of organizations in ~25 ms. UsageRollupDay records which days are
done, and by which version of this code.

INSERT ... SELECT ... GROUP BY statements, a few per dimension and day: the
database groups the raw rows and writes the roll-up rows itself, nothing passes
through Python objects.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization, UsageRecord

from .concurrency import peak_sql
from .funnel import rollup_funnel_day
from .measures import HOURLY_DIMENSIONS, LATENCY_DIMENSIONS, MEASURES, REQUEST_COLUMN
from .models import (
    Dimension,
    ErrorDaily,
    LatencyDaily,
    OrganizationDaily,
    RequestLog,
    UsageDaily,
    UsageHourly,
    UsageRollupDay,
)
from .periods import day_start
from .sql import epoch_ms_sql, hour_sql, time_key_sql

_TIMED_SQL = "status_code < 400 AND ttfb_ms IS NOT NULL AND total_ms IS NOT NULL"
_REQUEST_MEASURES_SQL = {  # REQUEST_MEASURES in portable SQL (no FILTER clause)
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
    return f"COALESCE(CAST({column or REQUEST_COLUMN[dimension]} AS TEXT), '')"


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
        return hour_sql(column) if hourly else "%s"

    def time_key(column):  # grouped by the same expression it selects (PostgreSQL insists)
        return hour_sql(column) if hourly else ""

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
    u_column = "o.plan_id" if dimension == Dimension.PLAN else f"u.{REQUEST_COLUMN.get(dimension, 'id')}"
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
    group = value if not hourly else f"{value} || '|' || {time_key_sql('created_at', True)}"
    target = f"{table}.value" if not hourly else f"{table}.value || '|' || {time_key_sql(f'{table}.hour', True)}"
    sweep_sql, sweep_params = peak_sql(ranges=[(begin, finish)], group_sql=group, table=source, start_sql="t")
    if hourly:
        where, where_params = f"{table}.hour >= %s AND {table}.hour < %s", span
    else:
        where, where_params = f"{table}.day = %s", when_params
    cursor.execute(
        f"UPDATE {table} SET peak_concurrency = p.peak FROM ({sweep_sql}) AS p "
        f"WHERE {where} AND {table}.dimension = %s AND {target} = p.g",
        [*sweep_params, *where_params, dimension],
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
            f"CREATE TEMPORARY TABLE {requests} AS SELECT {columns}, {epoch_ms_sql('created_at')} AS t "
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


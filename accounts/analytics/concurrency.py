"""Peak concurrency: the most requests in flight at once, computed by the database.

A request occupies [created_at, created_at + total_ms). The peak is a sweep line
in SQL (+1 at each start, −1 at each end, ends first at equal times, running
SUM() OVER the ordered events, then MAX); roll-ups keep each day's peak, per
dimension value (a request counts in the day it started). The average is busy
time over elapsed time (Little's law): Σ total_ms / range (see dashboard.py).
"""

from __future__ import annotations

from django.db import connection

from .measures import NO_FILTERS, REQUEST_COLUMN, Filters
from .models import RequestLog
from .sql import epoch_ms_sql


def peak_sql(*, ranges, filters: Filters = NO_FILTERS, group_sql: str | None = None, table: str | None = None,
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
        where.append(f"{REQUEST_COLUMN[dim]} = %s")
        params.append(value)
    condition = " AND ".join(where)
    group = group_sql or "''"
    start = start_sql or epoch_ms_sql("created_at")
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


def peak_concurrency(*, ranges, filters: Filters = NO_FILTERS, group_sql: str | None = None) -> dict[str, int]:
    """The most requests in flight at once, per value of `group_sql` (a column or time key), in SQL."""
    if not ranges:
        return {}
    sql, params = peak_sql(ranges=ranges, filters=filters, group_sql=group_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key: int(peak or 0) for key, peak in cursor.fetchall()}


"""The SQL that differs between SQLite and PostgreSQL: time keys, epoch milliseconds, hours.

The dashboard groups and the roll-up writes in the database; these are the few
expressions each vendor spells its own way.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import CharField, Func


class TimeKey(Func):
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


def epoch_ms_sql(column: str) -> str:
    if connection.vendor == "sqlite":
        return f"CAST((julianday({column}) - 2440587.5) * 86400000.0 AS INTEGER)"
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000 AS BIGINT)"


def time_key_sql(column: str, hour: bool) -> str:
    if connection.vendor == "sqlite":
        return f"substr({column}, 1, {13 if hour else 10})"
    return f"to_char({column} AT TIME ZONE 'UTC', '{'YYYY-MM-DD HH24' if hour else 'YYYY-MM-DD'}')"


def hour_sql(column: str) -> str:
    """The start of the hour of a datetime column, as the database stores a DateTimeField."""
    if connection.vendor == "sqlite":
        return f"substr({column}, 1, 13) || ':00:00'"
    return f"date_trunc('hour', {column})"


"""Where one synthesis request's time went: the model, the encoder, the database and the rest.

A door measures a request (`measured()`); the session marks its phases (`span("engine")`,
`span("encode")`, `span("db")`) and every SQL statement is counted and timed. Outside a
measured request `span()` does nothing, so the session runs the same for every door (the
websocket, jobs, the demo). The HTTP doors send the result as a Server-Timing header
(synthesis.api.common), which bench/api_bench.py reads to print the API's overhead split.

A `db` span covers a whole transaction (its BEGIN and COMMIT too, which no statement
wrapper sees); statements outside a span (authentication's lookups, the autocommit ones)
are timed one by one, and connecting is timed too: each ASGI request runs in its own
thread, so with CONN_MAX_AGE=0 it opens its own connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

# In the order the header lists them: what a reader compares with the engine alone.
PHASES = ("engine", "encode", "db", "store")


@dataclass
class RequestTimings:
    """Seconds per phase and SQL statements of one request, as measured()."""

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)
    queries: int = 0
    total: float | None = None  # set when measured() ends
    _db_depth: int = 0

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def app(self) -> float:
        """What no phase accounts for: parsing, validation, limits, building the response."""
        end = self.total if self.total is not None else time.perf_counter() - self.started
        return max(0.0, end - sum(self.seconds.values()))

    def server_timing(self) -> str:
        """The Server-Timing header value (durations in ms): `engine;dur=…, …, db;dur=…;desc="6 queries", app;dur=…`."""
        parts = []
        for phase in PHASES:
            if phase in self.seconds or phase == "db":
                part = f"{phase};dur={self.seconds.get(phase, 0.0) * 1000:.1f}"
                if phase == "db":
                    part += f';desc="{self.queries} queries"'
                parts.append(part)
        parts.append(f"app;dur={self.app() * 1000:.1f}")
        return ", ".join(parts)

    def _statement(self, execute, sql, params, many, context):
        self.queries += 1
        if self._db_depth:  # inside a db span, which times the whole transaction
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add("db", time.perf_counter() - started)


_current: ContextVar[RequestTimings | None] = ContextVar("voicehub_request_timings", default=None)


@contextmanager
def measured() -> Iterator[RequestTimings]:
    """Measure what runs inside (in this thread's context): phases marked by span() and every SQL statement."""
    timings = RequestTimings()
    token = _current.set(timings)
    try:
        if connection.connection is None:
            # The first query would connect anyway; doing it here puts the time under db, not app.
            with span("db"):
                try:
                    connection.ensure_connection()
                except DatabaseError:
                    pass  # the request's own first query meets the outage and answers it as usual
        with connection.execute_wrapper(timings._statement):
            yield timings
    finally:
        timings.total = time.perf_counter() - timings.started
        _current.reset(token)


@contextmanager
def span(phase: str) -> Iterator[None]:
    """Count the time inside toward `phase` of the request being measured, if any."""
    timings = _current.get()
    if timings is None:
        yield
        return
    if phase == "db" and timings._db_depth:  # a transaction inside one already timed
        yield
        return
    started = time.perf_counter()
    if phase == "db":
        timings._db_depth += 1
    try:
        yield
    finally:
        if phase == "db":
            timings._db_depth -= 1
        timings.add(phase, time.perf_counter() - started)

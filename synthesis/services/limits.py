"""
Request limits that hold across processes: counters in the shared cache
(Redis when REDIS_URL is set, so every web process sees the same counts).

- requests per minute, per API key and per organization (a sliding-window
  counter, sliding_window_hit: no burst of twice the rate at a window boundary);
- concurrent syntheses per organization (a counter held for the request's life);
- the machine itself: when the inference queue is too deep, 503 `overloaded`.

Every window computation reads synthesis.services.clock, so tests move time
instead of sleeping. docs/limits.md explains the choices.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.cache import cache

from synthesis.services import clock
from synthesis.services.errors import CACHE_ERRORS, ServiceUnavailable

if TYPE_CHECKING:  # annotations only: this module must not load the model's libraries
    from django.http import HttpRequest

    from accounts.models import ApiKey, Organization
    from synthesis.engine.core import Engine

# Requests per minute: the sliding window's length, in seconds.
WINDOW = 60
# A crashed process cannot decrement its slot; the counter then heals itself.
CONCURRENCY_TTL = 15 * 60


@dataclass
class Limited(Exception):
    code: str
    status: int
    message: str
    retry_after: int
    limit: int = 0
    reset: int = 0

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        # The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers).
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining), "RateLimit-Reset": str(self.reset)}


def count_in_window(key: str, timeout: int) -> int:
    """Add one to a shared-cache counter that expires after `timeout` seconds; return its new value.

    The cache is Redis when REDIS_URL is set, so counts hold across processes;
    Redis down is ServiceUnavailable (503, retry), not a 500.
    """
    try:
        for _ in range(3):
            cache.add(key, 0, timeout=timeout)
            try:
                return cache.incr(key)
            except ValueError:  # expired between add and incr
                continue
        return cache.incr(key)
    except CACHE_ERRORS as error:
        raise ServiceUnavailable(backend="cache") from error


# Float slack for "exactly at the limit": the previous window's weight is a
# fraction, and a request due at t must not be refused for a rounding error.
_EPSILON = 1e-9


@dataclass(frozen=True)
class WindowCounts:
    """One subject's counts in the shared cache at one instant, as the sliding window reads them."""

    previous: int  # requests in the previous fixed window
    current: int  # requests in the current fixed window
    elapsed: float  # seconds into the current fixed window
    window: int

    def estimate(self) -> float:
        """Requests in the last `window` seconds: the previous fixed window for the part
        of it still inside (assuming its requests were spread evenly), the current one in full."""
        return self.previous * (1 - self.elapsed / self.window) + self.current

    def wait(self, limit: int) -> float | None:
        """Seconds until one more request fits under `limit` with no other traffic; None if it never will."""
        room = limit - 1  # what the window may hold besides that one request
        if room < 0:
            return None
        if self.current <= room:  # within this window, once enough of the previous one has slid out
            if self.previous <= room - self.current:
                return 0.0
            at = self.window * (1 - (room - self.current) / self.previous)
            return max(0.0, at - self.elapsed)
        # In the next window, once enough of this one has slid out.
        at = self.window * (1 - room / self.current)
        return self.window - self.elapsed + at

    def until_empty(self) -> float:
        """Seconds until every request counted so far has left the sliding window."""
        if self.current:
            return 2 * self.window - self.elapsed
        if self.previous:
            return self.window - self.elapsed
        return 0.0


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    limit: int
    remaining: int  # requests that fit now (after this one, when admitted)
    retry_after: int  # seconds until a request would be admitted, at least 1
    reset: int  # seconds until the whole limit is available again, at least 1


def sliding_window_hit(subjects: Sequence[str], *, limit: int, window: int) -> Verdict:
    """Count one request against every subject (cache key prefixes), each allowed `limit` per sliding `window` seconds.

    A sliding-window counter: two fixed windows per subject, the previous one
    weighted by how much of it still overlaps the last `window` seconds. Two
    plain counters per subject, so it stays atomic on Redis (INCR) without a
    script, and a burst at a window boundary is not let through twice.

    A refused request does not count: a client that retries at Retry-After is
    not locked out by its own refused tries. It is counted first and given
    back when refused, never checked first and counted after: two processes
    reading the same count could both decide there was room (the scale-out
    test fires a burst at two servers).

    Subjects are counted one at a time, in order, and counting stops at the
    first that refuses (its count and those before it are given back). On a
    single counter INCR hands out 1, 2, 3, ... so exactly `limit` requests of a
    burst are admitted, however they interleave: a refused one's count is
    only ever seen by requests that are over the limit anyway. Counting every
    subject before deciding let two requests each push the other's second
    counter over (A: org 4, key 5; B: org 5, key 4) and refused both, so a
    burst could get fewer than `limit` through; what remains is that a request
    refused on a later subject (its API key) briefly holds a count on the
    earlier one (its organization) — the limiter errs on refusing, never on
    letting more through than `limit`.
    """
    now = clock.now()
    bucket = int(now // window)
    elapsed = now - bucket * window
    # A window's counter is read as "previous" throughout the next one (+5 s for clock skew between processes).
    timeout = 2 * window + 5
    try:
        previous = cache.get_many([f"{subject}:{bucket - 1}" for subject in subjects])
    except CACHE_ERRORS as error:
        raise ServiceUnavailable(backend="cache") from error
    counts: list[WindowCounts] = []
    admitted = True
    for index, subject in enumerate(subjects):
        before = int(previous.get(f"{subject}:{bucket - 1}", 0))
        if not admitted:  # refused on an earlier subject: read this one, don't count
            try:
                current = int(cache.get(f"{subject}:{bucket}", 0))
            except CACHE_ERRORS:  # the verdict is made; this count only shapes the headers
                current = 0
            counts.append(WindowCounts(before, current, elapsed, window))
            continue
        # Count first, through count_in_window, so a cache outage surfaces there, as for every other counter.
        current = count_in_window(f"{subject}:{bucket}", timeout)  # with this request
        count = WindowCounts(before, current - 1, elapsed, window)
        if count.estimate() + 1 <= limit + _EPSILON:
            counts.append(WindowCounts(before, current, elapsed, window))
            continue
        admitted = False
        counts.append(count)
        for counted in subjects[: index + 1]:
            _give_back(f"{counted}:{bucket}")
        # What the subjects counted before this one hold without this request.
        counts[:index] = [WindowCounts(c.previous, c.current - 1, elapsed, window) for c in counts[:index]]
    waits = [c.wait(limit) for c in counts]
    # A limit of 0 admits nobody, ever: no wait is honest, so say a whole window.
    retry_after = window if None in waits else max(waits)
    return Verdict(
        admitted=admitted,
        limit=limit,
        remaining=max(0, math.floor(limit - max(c.estimate() for c in counts) + _EPSILON)),
        retry_after=max(1, math.ceil(retry_after)),
        reset=max(1, math.ceil(max(c.until_empty() for c in counts))),
    )


def _give_back(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:  # expired meanwhile: nothing left to give back
        pass


def check_rate(*, organization: Organization, api_key: ApiKey | None = None) -> RateState:
    """Count this request; raise Limited (429 rate_limited) past the plan's requests per minute.

    Per organization and per API key (each the plan's rate); a refused request is not counted.
    """
    subjects = [f"rl:org:{organization.pk}"]
    if api_key is not None:
        subjects.append(f"rl:key:{api_key.pk}")
    verdict = sliding_window_hit(subjects, limit=organization.plan.requests_per_minute, window=WINDOW)
    if not verdict.admitted:
        raise Limited(
            code="rate_limited",
            status=429,
            message=f"Too many requests: your plan allows {verdict.limit} per minute. Retry in {verdict.retry_after} s.",
            retry_after=verdict.retry_after,
            limit=verdict.limit,
            reset=verdict.reset,
        )
    return RateState(limit=verdict.limit, remaining=verdict.remaining, reset=verdict.reset)


class Slot:
    """One of an organization's concurrent synthesis slots, held until release() (idempotent)."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            cache.decr(self._key)
        except ValueError:  # the counter expired (CONCURRENCY_TTL): nothing left to give back
            pass


def concurrency_acquire(*, organization: Organization) -> Slot:
    """Take one of the organization's concurrent synthesis slots, or raise 429 concurrency_limited."""
    limit = organization.plan.concurrent_requests
    key = f"conc:org:{organization.pk}"
    slot = Slot(key)
    held = count_in_window(key, CONCURRENCY_TTL)
    if held > limit:
        slot.release()
        raise Limited(
            code="concurrency_limited",
            status=429,
            message=f"Your plan allows {limit} concurrent synthesis request(s); wait for one to finish.",
            retry_after=1,
            limit=limit,
        )
    return slot


@contextmanager
def concurrency_slot(*, organization: Organization) -> Iterator[Slot]:
    """concurrency_acquire() for a `with` block."""
    slot = concurrency_acquire(organization=organization)
    try:
        yield slot
    finally:
        slot.release()


def check_capacity(engine: Engine) -> None:
    """503 `overloaded` when this machine already has more queued than it can start soon."""
    if engine.saturated():
        raise Limited(
            code="overloaded",
            status=503,
            message="The service is at capacity; retry shortly.",
            retry_after=2,
        )


def client_ip(request: HttpRequest) -> str:
    """The client's address for every per-address limit: the demo, the funnel, the lead
    form and allauth's login, sign-up and password-reset limits (accounts.adapters).

    The one place that reads REMOTE_ADDR and X-Forwarded-For. X-Forwarded-For is
    trusted only as far as TRUSTED_PROXY_COUNT proxies of ours append to it: the
    entry that many places from the right is the one our outermost proxy saw.
    Anything further left is whatever the client sent. REMOTE_ADDR is the peer of
    the ASGI server's socket: daphne runs without --proxy-headers, which would put
    the leftmost (client-controlled) X-Forwarded-For entry there instead.
    """
    from django.conf import settings

    proxies = settings.ALLAUTH_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    try:
        # Our proxy writes an address; anything else did not come from it.
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote


def check_demo(*, client: str) -> None:
    """The landing page's anonymous demo: per client address per hour, and for everyone per minute.

    `client` is the hashed address (marketing.limits.client_key). Raises Limited 429 `demo_limited`.
    """
    from django.conf import settings

    rules = (
        (f"mk:demo_client:{client}", settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR, 3600,
         "You have used the demo {limit} times this hour. Try again in {minutes} min, or sign up for free to keep going."),
        ("mk:demo_global:all", settings.VOICEHUB_DEMO_PER_MINUTE, 60,
         "The demo is very popular right now. Try again in a minute, or sign up for free to keep going."),
    )
    for subject, limit, window, message in rules:
        verdict = sliding_window_hit([subject], limit=limit, window=window)
        if not verdict.admitted:
            raise Limited(
                code="demo_limited", status=429,
                message=message.format(limit=limit, minutes=math.ceil(verdict.retry_after / 60)),
                retry_after=verdict.retry_after, limit=limit, reset=verdict.reset,
            )

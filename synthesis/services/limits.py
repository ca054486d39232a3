"""
Request limits that hold across processes: counters in the shared cache
(Redis when REDIS_URL is set, so every web process sees the same counts).

- requests per minute, per API key and per organization (fixed one-minute windows);
- concurrent syntheses per organization (a counter held for the request's life);
- the machine itself: when the inference queue is too deep, 503 `overloaded`.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache

from synthesis.services.errors import CACHE_ERRORS, ServiceUnavailable

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

    def __str__(self):
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


def check_rate(*, organization, api_key=None) -> RateState:
    """Count this request; raise Limited (429 rate_limited) past the plan's requests per minute."""
    limit = organization.plan.requests_per_minute
    now = time.time()
    bucket = int(now // WINDOW)
    reset = max(1, math.ceil(WINDOW - now % WINDOW))
    counts = [count_in_window(f"rl:org:{organization.pk}:{bucket}", WINDOW + 5)]
    if api_key is not None:
        counts.append(count_in_window(f"rl:key:{api_key.pk}:{bucket}", WINDOW + 5))
    used = max(counts)
    if used > limit:
        raise Limited(
            code="rate_limited",
            status=429,
            message=f"Too many requests: your plan allows {limit} per minute. Retry in {reset} s.",
            retry_after=reset,
            limit=limit,
            reset=reset,
        )
    return RateState(limit=limit, remaining=max(0, limit - used), reset=reset)


class Slot:
    """One of an organization's concurrent synthesis slots, held until release() (idempotent)."""

    def __init__(self, key: str):
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


def concurrency_acquire(*, organization) -> Slot:
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
def concurrency_slot(*, organization):
    """concurrency_acquire() for a `with` block."""
    slot = concurrency_acquire(organization=organization)
    try:
        yield slot
    finally:
        slot.release()


def check_capacity(engine) -> None:
    """503 `overloaded` when this machine already has more queued than it can start soon."""
    if engine.saturated():
        raise Limited(
            code="overloaded",
            status=503,
            message="The service is at capacity; retry shortly.",
            retry_after=2,
        )


def client_ip(request) -> str:
    """The client's address for anonymous limits.

    X-Forwarded-For is trusted only as far as TRUSTED_PROXY_COUNT proxies of
    ours append to it: the entry that many places from the right is the one
    our outermost proxy saw. Anything further left is whatever the client sent.
    """
    from django.conf import settings

    proxies = settings.ALLAUTH_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]

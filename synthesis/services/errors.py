"""Errors every door renders the same way: what the synthesis session refuses, and outages."""

from __future__ import annotations

import django.db.utils
import redis.exceptions


class ServiceUnavailable(Exception):
    """A backend we need (database, cache/Redis, storage, channel layer) is down: 503, retry later.

    Never a 500: the client did nothing wrong and the same request will work
    once the backend is back. `retry_after` is in seconds.
    """

    code = "service_unavailable"
    status = 503

    def __init__(
        self, message: str = "The service is temporarily unavailable; retry shortly.", *, retry_after: int = 5, backend: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.backend = backend


class StorageUnavailable(ServiceUnavailable):
    """Audio storage (the media directory, the S3 bucket) failed.

    Raise it `from` the OSError (or S3 client error) of the storage call. A bare
    OSError is not mapped to 503: one from storage cannot be told apart from
    one of ours (a missing model file, a bug) where a 500 is the truth.
    """

    def __init__(
        self, message: str = "Audio storage is temporarily unavailable; retry shortly.", *, retry_after: int = 5,
        backend: str = "storage",
    ) -> None:
        super().__init__(message, retry_after=retry_after, backend=backend)


# The cache is Redis when REDIS_URL is set (Django's RedisCache, on redis-py):
# these are Redis being down or not answering, never a bad request.
CACHE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DATABASE_ERRORS = (django.db.utils.OperationalError, django.db.utils.InterfaceError)


def outage_of(error: BaseException) -> ServiceUnavailable | None:
    """The ServiceUnavailable an exception stands for, if it is a backend being down; else None.

    What every door (the DRF exception handler, ServiceUnavailableMiddleware)
    answers with 503 and Retry-After instead of a 500.
    """
    if isinstance(error, ServiceUnavailable):
        return error
    if isinstance(error, DATABASE_ERRORS):
        return ServiceUnavailable(backend="database")
    if isinstance(error, CACHE_ERRORS):
        return ServiceUnavailable(backend="cache")
    return None

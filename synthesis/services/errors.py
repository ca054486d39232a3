"""Errors every door renders the same way: what the synthesis session refuses, and outages."""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A backend we need (database, cache/Redis, storage, channel layer) is down: 503, retry later.

    Never a 500: the client did nothing wrong and the same request will work
    once the backend is back. `retry_after` is in seconds.
    """

    code = "service_unavailable"
    status = 503

    def __init__(self, message: str = "The service is temporarily unavailable; retry shortly.", *, retry_after: int = 5, backend: str = ""):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.backend = backend

"""The request log rows of the doors that are not HTTP requests (the studio websocket, jobs).

HTTP doors are logged by accounts.analytics.middleware.RequestLogMiddleware; a websocket
message or a background job has no request/response pair, so the session (or
the job) writes its own row, with the same fields, so that the dashboard's
requests, characters and latencies cover every door.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from accounts.analytics.models import RequestLog

if TYPE_CHECKING:  # annotations only: session.py imports this module
    from synthesis.services.session import Caller

log = logging.getLogger(__name__)


def request_log_write(
    *, caller: Caller, route: str, voice: str, characters: int, status_code: int, error_code: str = "",
    ttfb_ms: int | None = None, total_ms: int | None = None, path: str = "", method: str = "WS", request_id: str = "",
    created_at: datetime | None = None,
) -> None:
    """One RequestLog row; never raises (the log must not break what it logs)."""
    organization = caller.organization
    try:
        RequestLog.objects.create(
            organization=organization,
            plan_id=organization.plan_id if organization is not None else None,
            api_key=caller.api_key,
            user=caller.user,
            source=caller.source,
            route=route[:64],
            path=(path or route)[:200],
            method=method[:8],
            status_code=status_code,
            error_code=error_code[:64],
            voice=voice[:64],
            characters=characters,
            ttfb_ms=ttfb_ms,
            total_ms=total_ms,
            ttfb_bucket=RequestLog.bucket_of(ttfb_ms),
            total_bucket=RequestLog.bucket_of(total_ms),
            request_id=request_id[:64],
            created_at=created_at or timezone.now(),
        )
    except Exception:
        log.exception("could not write the request log row")

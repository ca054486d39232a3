"""
Limits for anonymous visitors: the events endpoint and the lead form (the demo's are the
synthesis session's: synthesis.services.limits.check_demo).

Counted in the shared cache with synthesis.services.limits' sliding-window counter (so they
hold across processes once REDIS_URL is set, and a burst at a window boundary is not let
through twice); a refused try is not counted. The client is its address
as synthesis.services.limits.client_ip sees it, hashed before it becomes a cache key.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.utils.crypto import salted_hmac

from synthesis.services.limits import Limited, client_ip, sliding_window_hit

HOUR = 60 * 60
MINUTE = 60

# name: (setting, default, window seconds). Settings override the defaults
# (the demo's come from the environment, see settings.py).
LIMITS = {
    "events_client": ("VOICEHUB_EVENTS_PER_CLIENT_PER_MINUTE", 120, MINUTE),
    "lead_client": ("VOICEHUB_LEADS_PER_CLIENT_PER_HOUR", 5, HOUR),
}


def limit_of(name: str) -> int:
    setting, default, _window = LIMITS[name]
    return getattr(settings, setting, default)


def client_key(request) -> str:
    return salted_hmac("marketing.limits", client_ip(request), algorithm="sha256").hexdigest()[:32]


def hit(name: str, *, subject: str = "all", code: str, message: str) -> None:
    """Count one use of `name` by `subject`; raise Limited (429 `code`) past the limit."""
    window = LIMITS[name][2]
    verdict = sliding_window_hit([f"mk:{name}:{subject}"], limit=limit_of(name), window=window)
    if not verdict.admitted:
        raise Limited(
            code=code,
            status=429,
            message=message.format(limit=verdict.limit, minutes=math.ceil(verdict.retry_after / 60)),
            retry_after=verdict.retry_after,
            limit=verdict.limit,
            reset=verdict.reset,
        )

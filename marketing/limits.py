"""
Limits for anonymous visitors: the events endpoint and the lead form (the demo's are the
synthesis session's: synthesis.services.limits.check_demo).

Counted in the shared cache with synthesis.services.limits' counters (so they hold across
processes once REDIS_URL is set) in fixed windows. The client is its address
as synthesis.services.limits.client_ip sees it, hashed before it becomes a cache key.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.utils.crypto import salted_hmac

from synthesis.services.limits import Limited, count_in_window, client_ip

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
    limit = limit_of(name)
    window = LIMITS[name][2]
    now = time.time()
    reset = max(1, math.ceil(window - now % window))
    used = count_in_window(f"mk:{name}:{subject}:{int(now // window)}", window + 5)
    if used > limit:
        raise Limited(
            code=code,
            status=429,
            message=message.format(limit=limit, minutes=math.ceil(reset / 60)),
            retry_after=reset,
            limit=limit,
            reset=reset,
        )

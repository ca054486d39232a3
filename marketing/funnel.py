"""
Recording the funnel: who may be counted, as whom, and the one write.

Privacy choices, on purpose:
- a visitor is a keyed hash (HMAC-SHA256 with a key derived from SECRET_KEY) of
  the day, the client address and the user agent, truncated: it rotates every
  day (UTC), cannot be turned back into an address, and needs no cookie;
- `DNT: 1` or `Sec-GPC: 1` means nothing about the visitor is stored;
- automated clients (bots, crawlers, scripts) are not counted.

Account lifecycle events (sign-up completed, email verified, first generation)
are recorded for the user, not the visitor: they are facts the database holds
anyway (the user row, the verified address, the generation), so they do not
depend on Do-Not-Track and carry no visitor id.
"""

from __future__ import annotations

import re
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from synthesis.services.limits import client_ip

from .models import FunnelEvent

VISITOR_ID_LENGTH = 32  # hex characters: 128 bits of the HMAC, the width of FunnelEvent.visitor

# Substrings of the user agents of crawlers, link previewers, monitors and HTTP
# libraries. Headless Chrome is not in the list: it is also how real people's
# tools (and our own browser tests) load pages, and it runs the page's script.
_BOT = re.compile(
    r"bot|crawl|spider|slurp|scrap|fetch|preview|monitor|lighthouse|pingdom|facebookexternalhit|"
    r"curl|wget|httpie|python|java/|okhttp|go-http|libwww|axios|node-fetch|headlessshell",
    re.IGNORECASE,
)


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(_BOT.search(user_agent))


def valid_cta(cta) -> bool:
    """A call to action's name: what a page's data-cta may say (it ends up in reports, so no free text)."""
    if not isinstance(cta, str) or not 0 < len(cta) <= 64:
        return False
    return all(c.isascii() and (c.isalnum() or c in "_-:.") for c in cta)


def tracking_refused(request) -> bool:
    """Do-Not-Track or Global Privacy Control: the visitor asked not to be counted."""
    return request.META.get("HTTP_DNT", "").strip() == "1" or request.META.get("HTTP_SEC_GPC", "").strip() == "1"


def countable(request) -> bool:
    return not tracking_refused(request) and not is_bot(request.META.get("HTTP_USER_AGENT", ""))


def visitor_id(request, *, day: date | None = None) -> str:
    day = day or timezone.now().date()
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    message = f"{day.isoformat()}\n{client_ip(request)}\n{user_agent}"
    return salted_hmac("marketing.visitor", message, algorithm="sha256").hexdigest()[:VISITOR_ID_LENGTH]


def event_record(
    *, kind: str, request=None, path: str = "", cta: str = "", value: int | None = None
) -> FunnelEvent | None:
    """One anonymous visitor event; None when the visitor may not be counted."""
    if request is not None and not countable(request):
        return None
    return FunnelEvent.objects.create(
        kind=kind,
        visitor=visitor_id(request) if request is not None else "",
        path=path[:200],
        cta=cta[:64],
        value=value,
    )


def event_record_once(*, kind: str, user=None, organization=None) -> FunnelEvent | None:
    """A lifecycle event of a user or organization, recorded the first time only."""
    per_user = kind in (FunnelEvent.Kind.SIGNUP_COMPLETED, FunnelEvent.Kind.EMAIL_VERIFIED)
    lookup = {"user": user} if per_user else {"organization": organization}
    if FunnelEvent.objects.filter(kind=kind, **lookup).exists():
        return None
    try:
        # A savepoint: when a concurrent request won the race, the caller's
        # transaction (the sign-up, the generation) goes on untouched.
        with transaction.atomic():
            return FunnelEvent.objects.create(kind=kind, user=user, organization=organization)
    except IntegrityError:
        return None

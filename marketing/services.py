"""Writes and work of the marketing site: the anonymous demo and the product-news leads."""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from synthesis.audio import encode, parse_format
from synthesis.services.limits import check_capacity
from synthesis.services.generation import get_engine

from . import limits
from .models import Lead

DEMO_FORMAT = parse_format("mp3")  # a few KB per second: the page stays light after the demo, too
LEAD_TOKEN_SALT = "marketing.lead.confirm"
LEAD_TOKEN_MAX_AGE = timedelta(days=7)


def demo_speak(*, client: str, text: str, voice_id: str) -> bytes:
    """Speak the demo text as MP3 for an anonymous visitor, within the demo's limits.

    Counts the client's and everyone's demo uses (Limited 429 `demo_limited`),
    refuses when the machine is saturated (Limited 503 `overloaded`) so paying
    users come first, and charges nobody: the demo has no organization.
    Raises EngineError for text the engine cannot speak.
    """
    limits.hit(
        "demo_client",
        subject=client,
        code="demo_limited",
        message="You have used the demo {limit} times this hour. "
        "Try again in {minutes} min, or sign up for free to keep going.",
    )
    limits.hit(
        "demo_global",
        code="demo_limited",
        message="The demo is very popular right now. Try again in a minute, or sign up for free to keep going.",
    )
    engine = get_engine()
    check_capacity(engine)
    audio = engine.synthesize(text, voice_id)
    return encode(audio, engine.sample_rate, DEMO_FORMAT)


def lead_token(lead: Lead) -> str:
    return signing.dumps(lead.pk, salt=LEAD_TOKEN_SALT)


def lead_subscribe(*, email: str, site_url: str) -> None:
    """Ask for product news: one row per address, confirmed by a link sent to it.

    The caller answers the same whatever happens here, so nobody learns
    whether an address was already on the list; the mail goes to the owner.
    """
    email = email.strip().lower()
    try:
        with transaction.atomic():
            lead, _created = Lead.objects.get_or_create(email__iexact=email, defaults={"email": email})
    except IntegrityError:  # the same address twice at once: the other request made the row
        lead = Lead.objects.get(email__iexact=email)
    context = {"site_url": site_url}
    if lead.confirmed_at is None:
        context["confirm_url"] = site_url + reverse("marketing:lead_confirm", args=[lead_token(lead)])
        template = "marketing/email/lead_confirm"
    else:
        template = "marketing/email/lead_already_confirmed"
    send_mail(
        render_to_string(f"{template}_subject.txt", context).strip(),
        render_to_string(f"{template}_body.txt", context),
        None,
        [lead.email],
    )
    Lead.objects.filter(pk=lead.pk).update(confirmation_sent_at=timezone.now())


def lead_confirm(*, token: str) -> Lead | None:
    """The lead of a valid confirmation link, confirmed (the first click counts); None if invalid or expired."""
    try:
        pk = signing.loads(token, salt=LEAD_TOKEN_SALT, max_age=LEAD_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    lead = Lead.objects.filter(pk=pk).first()
    if lead is not None and lead.confirmed_at is None:
        Lead.objects.filter(pk=lead.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
        lead.refresh_from_db()
    return lead

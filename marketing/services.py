"""Writes of the marketing site: the product-news leads. (The demo is a door of synthesis.services.session.)"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Lead

LEAD_TOKEN_SALT = "marketing.lead.confirm"
LEAD_TOKEN_MAX_AGE = timedelta(days=7)


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

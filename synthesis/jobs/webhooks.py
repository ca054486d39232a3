"""
Webhooks: job events POSTed to the organization's URL, signed, retried, logged.

Signature. Each request carries `Voicehub-Signature: t=<unix time>,v1=<hex>`
where v1 = HMAC-SHA256(secret, "<t>." + raw body), as Stripe does: the
receiver recomputes it over the raw body and compares in constant time, and
rejects old timestamps to stop replays. `Voicehub-Event` names the event and
`Voicehub-Delivery` is the delivery's id (the same on every retry, so a
receiver can drop duplicates).

Retries. One task (synthesis.jobs.tasks.deliver_webhook) per attempt: a non-2xx
answer or a network error enqueues the next attempt with `run_after` = now +
VOICEHUB_WEBHOOK_BACKOFF_SECONDS x 2^(attempt-1), up to
VOICEHUB_WEBHOOK_ATTEMPTS in all. Every attempt updates the delivery row,
which is the log (GET /api/v1/webhooks/deliveries).

Outside development, deliveries to loopback, private and link-local addresses
are refused (VOICEHUB_WEBHOOK_ALLOW_PRIVATE): a webhook URL must not be a way
to make the server call into its own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization
from synthesis.jobs.tasks import deliver_webhook
from synthesis.models import WebhookDelivery, WebhookEndpoint

TIMEOUT_SECONDS = 10


class WebhookURLInvalid(Exception):
    code = "invalid_webhook_url"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Voicehub-Signature header for `body`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """What a receiver does (and our tests do): check the signature and that it is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise WebhookURLInvalid("The webhook URL must be an http:// or https:// URL.")
    return url


def webhook_set(*, organization: Organization, url: str) -> WebhookEndpoint:
    """Point the organization's webhook at `url`; a new endpoint gets a new secret."""
    _check_url(url)
    endpoint, created = WebhookEndpoint.objects.get_or_create(
        organization=organization, defaults={"url": url, "secret": "whsec_" + secrets.token_urlsafe(32)}
    )
    if not created:
        endpoint.url = url
        endpoint.is_active = True
        endpoint.save(update_fields=["url", "is_active", "updated_at"])
    return endpoint


def webhook_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def webhook_enqueue(*, job, event: str, payload: dict) -> WebhookDelivery | None:
    """Record a delivery of `event` for the job's organization and enqueue its first attempt (none without a URL)."""
    endpoint = WebhookEndpoint.objects.filter(organization_id=job.organization_id, is_active=True).first()
    if endpoint is None:
        return None
    delivery = WebhookDelivery.objects.create(
        organization_id=job.organization_id,
        job=job,
        url=endpoint.url,
        event=event,
        payload={"event": event, "created_at": timezone.now().isoformat(), "data": payload},
        next_attempt_at=timezone.now(),
    )
    _schedule(delivery, when=None)
    return delivery


def _schedule(delivery: WebhookDelivery, *, when) -> None:

    def send():
        (deliver_webhook.using(run_after=when) if when else deliver_webhook).enqueue(str(delivery.pk))

    transaction.on_commit(send)


def _private_address(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: the request itself will fail and be retried
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return True
    return False


def webhook_deliver(*, delivery_id: str) -> str:
    """One attempt: POST the signed payload; log the outcome; schedule a retry with backoff if it failed."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery.status if delivery else "missing"
    # Take this attempt (a duplicate task for the same attempt matches nothing).
    if not WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts).update(
        attempts=F("attempts") + 1
    ):
        return "taken"
    delivery.refresh_from_db()
    endpoint = WebhookEndpoint.objects.filter(organization_id=delivery.organization_id, is_active=True).first()
    if endpoint is None:
        return _finish(delivery, ok=False, error="The organization no longer has a webhook URL.", final=True)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    host = urlparse(delivery.url).hostname or ""
    if not settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE and _private_address(host):
        return _finish(delivery, ok=False, error=f"{host} is a private address; webhooks go to public hosts only.", final=True)
    request = urllib.request.Request(
        delivery.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Voicehub-Webhooks/1",
            "Voicehub-Event": delivery.event,
            "Voicehub-Delivery": str(delivery.pk),
            "Voicehub-Signature": sign(endpoint.secret, int(time.time()), body),
        },
    )
    status, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as failure:
        status, error = failure.code, f"HTTP {failure.code}"
    except (OSError, ValueError) as failure:
        error = f"{failure.__class__.__name__}: {failure}"[:500]
    ok = status is not None and 200 <= status < 300
    return _finish(delivery, ok=ok, error=error, status=status)


def _finish(delivery: WebhookDelivery, *, ok: bool, error: str, status: int | None = None, final: bool = False) -> str:
    now = timezone.now()
    if ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.DELIVERED, response_status=status, last_error="", delivered_at=now, next_attempt_at=None
        )
        return WebhookDelivery.Status.DELIVERED
    if final or delivery.attempts >= settings.VOICEHUB_WEBHOOK_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.FAILED, response_status=status, last_error=error, next_attempt_at=None
        )
        return WebhookDelivery.Status.FAILED
    when = now + timedelta(seconds=settings.VOICEHUB_WEBHOOK_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1))
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(response_status=status, last_error=error, next_attempt_at=when)
        _schedule(delivery, when=when)
    return WebhookDelivery.Status.PENDING

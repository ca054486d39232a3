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

Where deliveries may go. A webhook URL must not be a way to make the server
call into its own network (SSRF). Outside development
(VOICEHUB_WEBHOOK_ALLOW_PRIVATE false), each attempt resolves the host once,
drops every address that is not public (private, loopback, link-local,
multicast, reserved, unspecified, CGNAT 100.64/10, the cloud metadata
addresses, and the IPv6 forms that embed any of them), and connects to one
of the addresses it kept: the HTTP client never looks the name up again, so
DNS that answers differently the second time (rebinding) gains nothing. For
https the name still goes in the TLS SNI and the certificate is checked
against it; the Host header is the name. Redirects are never followed: a 3xx
is a failed attempt like any other non-2xx. Connecting and each read time out
after VOICEHUB_WEBHOOK_TIMEOUT_SECONDS. PUT /api/v1/webhook refuses a URL
that is not http(s), carries credentials or (outside development) resolves
only to addresses deliveries may not reach; the check at delivery time is the
one that counts, since DNS can change in between.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization
from synthesis.jobs.tasks import deliver_webhook
from synthesis.models import WebhookDelivery, WebhookEndpoint


class WebhookURLInvalid(Exception):
    code = "invalid_webhook_url"


class WebhookAddressForbidden(WebhookURLInvalid):
    code = "forbidden_webhook_address"


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


@dataclass(frozen=True)
class Target:
    """Where a webhook URL points: the name (for Host and TLS), the port and the request target."""

    https: bool
    host: str
    port: int
    path: str


def webhook_target(url: str) -> Target:
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise WebhookURLInvalid("The webhook URL must be an http:// or https:// URL.")
    if parsed.username is not None or parsed.password is not None:
        raise WebhookURLInvalid(
            "The webhook URL must not carry a user name or password: check the Voicehub-Signature header instead."
        )
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise WebhookURLInvalid("The webhook URL's port must be a number from 1 to 65535.") from None
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    return Target(https=parsed.scheme == "https", host=parsed.hostname, port=port, path=path)


# -- which addresses deliveries may reach ----------------------------------------------------------------

# Not public, whatever ipaddress's is_global says of them: shared address space (CGNAT), and the
# metadata services of the clouds (AWS, GCP, Azure: 169.254.169.254; AWS over IPv6: fd00:ec2::254).
_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(network) for network in ("100.64.0.0/10", "169.254.169.254/32", "fd00:ec2::254/128")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway


def address_forbidden(address: str) -> bool:
    """Whether a delivery must not connect to `address` (an IP address as getaddrinfo gives it)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone (fe80::1%eth0)
    if ip.version == 6:
        # An IPv6 address that carries an IPv4 one reaches that one: judge it.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            return address_forbidden(str(embedded))
    return (
        not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or any(ip in network for network in _FORBIDDEN_NETWORKS)
    )


def resolve(host: str, port: int) -> list[tuple[int, tuple]]:
    """(family, socket address) of every address `host` has, in the resolver's order: the one lookup of an attempt."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))


def vetted_addresses(target: Target) -> list[tuple[int, tuple]]:
    """The addresses of the target's host that a delivery may connect to; refused if there are none."""
    addresses = resolve(target.host, target.port)
    if settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE:
        return addresses
    allowed = [(family, sockaddr) for family, sockaddr in addresses if not address_forbidden(sockaddr[0])]
    if not allowed:
        shown = ", ".join(sockaddr[0] for _, sockaddr in addresses)
        raise WebhookAddressForbidden(
            f"{target.host} resolves only to addresses webhooks may not reach ({shown}): private, loopback, link-local "
            "and other non-public addresses are refused. Use a public host."
        )
    return allowed


def _connect(family: int, sockaddr: tuple, timeout: float) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)  # the connect, then every read and write
    try:
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _Vetted:
    """An http.client connection to `host` (Host header, TLS name) at addresses vetted beforehand: it never resolves."""

    def __init__(self, host: str, port: int, *, addresses: list[tuple[int, tuple]], timeout: float, **kwargs):
        super().__init__(host, port, timeout=timeout, **kwargs)
        self.addresses = addresses

    def _socket(self) -> socket.socket:
        failure = OSError(f"{self.host} has no address to connect to")
        for family, sockaddr in self.addresses:
            try:
                return _connect(family, sockaddr, self.timeout)
            except OSError as error:
                failure = error
        raise failure


class _VettedHTTPConnection(_Vetted, http.client.HTTPConnection):
    def connect(self):
        self.sock = self._socket()


class _VettedHTTPSConnection(_Vetted, http.client.HTTPSConnection):
    def connect(self):
        # SNI and the certificate check are for the name; the TCP connection is to the vetted address.
        self.sock = self._context.wrap_socket(self._socket(), server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict) -> int:
    """POST `body` to `url` once, at a vetted address; the response's status (a redirect is not followed)."""
    target = webhook_target(url)
    connection_class = _VettedHTTPSConnection if target.https else _VettedHTTPConnection
    extra = {"context": ssl.create_default_context()} if target.https else {}
    connection = connection_class(
        target.host, target.port, addresses=vetted_addresses(target), timeout=settings.VOICEHUB_WEBHOOK_TIMEOUT_SECONDS, **extra
    )
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        return connection.getresponse().status  # the body is not read: the status is all we keep
    finally:
        connection.close()


def webhook_set(*, organization: Organization, url: str) -> WebhookEndpoint:
    """Point the organization's webhook at `url`; a new endpoint gets a new secret.

    Outside development a URL whose host resolves, and only to addresses deliveries may not reach, is
    refused now; one that does not resolve yet is kept (each delivery checks again).
    """
    target = webhook_target(url)
    if not settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE:
        try:
            vetted_addresses(target)
        except OSError:
            pass
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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Voicehub-Webhooks/1",
        "Voicehub-Event": delivery.event,
        "Voicehub-Delivery": str(delivery.pk),
        "Voicehub-Signature": sign(endpoint.secret, int(time.time()), body),
    }
    status, error = None, ""
    try:
        status = _post(delivery.url, body, headers)
    except WebhookURLInvalid as refusal:
        return _finish(delivery, ok=False, error=str(refusal), final=True)
    except (OSError, http.client.HTTPException, ValueError) as failure:
        error = f"{failure.__class__.__name__}: {failure}"[:500]
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
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

"""Webhooks: signed deliveries to a real local HTTP server, retries with backoff, the delivery log."""

import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from synthesis.jobs import webhooks
from synthesis.models import Job, WebhookDelivery

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that answers with the statuses it is given, in turn, and keeps what it got.

    `location`: a Location header on every answer (a redirect). `release`: an event each answer waits for
    (a receiver that does not answer in time). `tls`: an ssl.SSLContext to serve https with.
    """

    def __init__(self, statuses, *, location=None, release=None, tls=None):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append((dict(self.headers), body))
                if release is not None:
                    release.wait(timeout=60)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            do_GET = do_POST  # what a client that follows a redirect may send

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(*statuses, **options):
        made.append(Receiver(statuses, **options))
        return made[-1]

    yield start
    for server in made:
        server.close()


def a_job(organization, status=Job.Status.SUCCEEDED):
    return Job.objects.create(organization=organization, voice="af", output_format="mp3", content_type="audio/mpeg",
                              characters=12, status=status, title="A book")


def test_a_delivery_is_signed_with_the_organizations_secret(cast, receiver, django_capture_on_commit_callbacks):
    server = receiver(200)
    endpoint = webhooks.webhook_set(organization=cast.org_a, url=server.url)
    job = a_job(cast.org_a)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhooks.webhook_enqueue(job=job, event="job.succeeded", payload={"id": str(job.id)})
    # The first attempt is a task in the queue; the worker would run this:
    task = DBTaskResult.objects.get(task_path="synthesis.jobs.tasks.deliver_webhook")
    assert task.args_kwargs["args"] == [str(delivery.pk)] and task.queue_name == "webhooks"
    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "delivered"

    headers, body = server.received[0]
    assert headers["Voicehub-Event"] == "job.succeeded"
    assert headers["Voicehub-Delivery"] == str(delivery.pk)
    assert webhooks.verify(endpoint.secret, headers["Voicehub-Signature"], body)
    assert not webhooks.verify("whsec_someone-else", headers["Voicehub-Signature"], body)
    assert not webhooks.verify(endpoint.secret, headers["Voicehub-Signature"], body + b" ")
    assert json.loads(body)["data"] == {"id": str(job.id)}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)


def test_a_failed_attempt_is_retried_later_with_backoff_then_given_up(cast, receiver, settings, django_capture_on_commit_callbacks):
    settings.VOICEHUB_WEBHOOK_ATTEMPTS = 3
    settings.VOICEHUB_WEBHOOK_BACKOFF_SECONDS = 30
    server = receiver(500, 503, 500)
    webhooks.webhook_set(organization=cast.org_a, url=server.url)
    delivery = webhooks.webhook_enqueue(job=a_job(cast.org_a), event="job.failed", payload={})
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.response_status == 500 and delivery.last_error == "HTTP 500"
    assert timedelta(seconds=29) < delivery.next_attempt_at - before < timedelta(seconds=40)
    retry = DBTaskResult.objects.get(task_path="synthesis.jobs.tasks.deliver_webhook", run_after__isnull=False)
    assert retry.run_after == delivery.next_attempt_at or abs((retry.run_after - delivery.next_attempt_at).total_seconds()) < 2

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    # Backoff doubles: 30 s, then 60 s.
    assert delivery.next_attempt_at - timezone.now() > timedelta(seconds=55)
    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(server.received)) == ("failed", 3, 3)
    # A late duplicate task for a finished delivery sends nothing.
    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "failed"
    assert len(server.received) == 3


def test_an_unreachable_url_is_logged_and_retried(cast, settings):
    webhooks.webhook_set(organization=cast.org_a, url="http://127.0.0.1:9/nothing-listens-here")
    delivery = webhooks.webhook_enqueue(job=a_job(cast.org_a), event="job.succeeded", payload={})
    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    assert delivery.response_status is None and "Error" in delivery.last_error


# -- where deliveries may go (SSRF) ----------------------------------------------------------------

HOST = "hooks.example.test"  # a name only the `dns` fixture knows


class DNS:
    """What the resolver answers for HOST: lookup n gets answers[n] (the last one after that), and lookups are counted."""

    def __init__(self):
        self.answers = []
        self.lookups = 0


@pytest.fixture
def dns(monkeypatch):
    real = socket.getaddrinfo
    fake = DNS()

    def getaddrinfo(host, port, *args, **kwargs):
        if host != HOST:
            return real(host, port, *args, **kwargs)
        if not fake.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = fake.answers[min(fake.lookups, len(fake.answers) - 1)]
        fake.lookups += 1
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


@pytest.fixture
def connections(monkeypatch):
    """Every address a delivery connects to; a public one is refused here (no network in tests)."""
    made = []
    connect = webhooks._connect

    def recorded(family, sockaddr, timeout):
        made.append(sockaddr[:2])
        if not webhooks.address_forbidden(sockaddr[0]):
            raise ConnectionRefusedError(f"the tests do not reach {sockaddr[0]}")
        return connect(family, sockaddr, timeout)

    monkeypatch.setattr(webhooks, "_connect", recorded)
    return made


def a_delivery(organization, url):
    """A delivery pending for `url`, set while private addresses are allowed (as a URL that resolved elsewhere then)."""
    webhooks.webhook_set(organization=organization, url=url)
    return webhooks.webhook_enqueue(job=a_job(organization), event="job.succeeded", payload={})


def test_a_redirect_is_not_followed_and_the_attempt_fails_with_its_status(cast, receiver, settings):
    settings.VOICEHUB_WEBHOOK_ATTEMPTS = 1
    inside = receiver(200)
    redirecting = receiver(302, location=inside.url)
    delivery = a_delivery(cast.org_a, redirecting.url)

    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "failed"

    delivery.refresh_from_db()
    assert (delivery.response_status, len(redirecting.received), inside.received) == (302, 1, [])
    assert delivery.last_error == "HTTP 302 (redirects are not followed)"


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "10.1.2.3",
     "192.168.0.10", "100.64.0.1", "0.0.0.0", "224.0.0.1", "64:ff9b::a01:203"],
)
def test_a_host_that_resolves_to_a_forbidden_address_is_refused_without_connecting(address, cast, settings, dns, connections):
    delivery = a_delivery(cast.org_a, f"http://{HOST}/hook")
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    dns.answers = [address]

    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "failed"

    delivery.refresh_from_db()
    assert connections == []
    assert "may not reach" in delivery.last_error and address in delivery.last_error


def test_a_name_is_resolved_once_and_the_connection_goes_to_the_address_that_was_vetted(cast, receiver, settings, dns, connections):
    # DNS rebinding: the first answer is public and passes the check; a second lookup would say loopback.
    inside = receiver(200)
    delivery = a_delivery(cast.org_a, f"http://{HOST}:{inside.port}/hook")
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    dns.answers = ["93.184.216.34", "127.0.0.1"]

    webhooks.webhook_deliver(delivery_id=str(delivery.pk))

    assert dns.lookups == 1
    assert connections == [("93.184.216.34", inside.port)]
    assert inside.received == []


def test_public_addresses_are_kept_and_forbidden_ones_dropped_from_one_answer(cast, settings, dns, connections, monkeypatch):
    delivery = a_delivery(cast.org_a, f"http://{HOST}/hook")
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    answer = [(socket.AF_INET, ("127.0.0.1", 80)), (socket.AF_INET, ("93.184.216.34", 80))]
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: answer)

    webhooks.webhook_deliver(delivery_id=str(delivery.pk))

    assert connections == [("93.184.216.34", 80)]


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(cast, receiver, settings):
    settings.VOICEHUB_WEBHOOK_TIMEOUT_SECONDS = 0.1
    release = threading.Event()
    silent = receiver(200, release=release)
    delivery = a_delivery(cast.org_a, silent.url)
    try:
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "pending"
    finally:
        release.set()
    delivery.refresh_from_db()
    assert delivery.response_status is None and delivery.last_error.startswith("TimeoutError")


# -- https: the vetted address, the name's certificate ---------------------------------------------


def certificate(tmp_path, name):
    """A self-signed certificate for `name` and its key, as PEM files (cryptography comes with daphne and allauth)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def https_receiver(receiver, tmp_path, monkeypatch):
    """An https receiver on 127.0.0.1 serving a certificate for `name`, which deliveries trust; the SNI names it saw."""
    create_default_context = ssl.create_default_context

    def start(name):
        cert_file, key_file = certificate(tmp_path, name)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_file, key_file)
        server_names = []
        tls.sni_callback = lambda connection, server_name, context: server_names.append(server_name)
        monkeypatch.setattr(ssl, "create_default_context", lambda *args, **kwargs: create_default_context(cafile=str(cert_file)))
        server = receiver(200, tls=tls)
        server.server_names = server_names
        return server

    return start


def test_an_https_delivery_to_the_vetted_address_names_the_host_for_tls_and_http(cast, https_receiver, dns):
    server = https_receiver(HOST)
    dns.answers = ["127.0.0.1"]
    delivery = a_delivery(cast.org_a, f"https://{HOST}:{server.port}/hook")

    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "delivered"

    headers, _ = server.received[0]
    assert server.server_names == [HOST]
    assert headers["Host"] == f"{HOST}:{server.port}"


def test_an_https_receiver_whose_certificate_is_for_another_name_is_not_trusted(cast, https_receiver, dns):
    server = https_receiver("elsewhere.example.test")
    dns.answers = ["127.0.0.1"]
    delivery = a_delivery(cast.org_a, f"https://{HOST}:{server.port}/hook")

    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "pending"

    delivery.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error and server.received == []


# -- PUT /api/v1/webhook checks the URL --------------------------------------------------------------


@pytest.mark.parametrize(
    "url, code",
    [("ftp://hooks.example.test/hook", "invalid_webhook_url"), ("https://user:secret@hooks.example.test/hook", "invalid_webhook_url"),
     ("https://token@hooks.example.test/hook", "invalid_webhook_url")],
)
def test_a_webhook_url_that_is_not_plain_http_is_a_400_with_a_code(alice, url, code):
    response = alice.put("/api/v1/webhook", data={"url": url}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["127.0.0.1", "169.254.169.254"]])
def test_in_production_a_url_whose_host_resolves_only_to_forbidden_addresses_is_a_400(alice, settings, dns, answers):
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    dns.answers = answers
    response = alice.put("/api/v1/webhook", data={"url": f"https://{HOST}/hook"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "forbidden_webhook_address")
    assert alice.put("/api/v1/webhook", data={"url": "http://127.0.0.1:8000/hook"}, format="json").status_code == 400


@pytest.mark.parametrize("answers", [["93.184.216.34"], []])  # public; not (yet) resolvable: each delivery checks again
def test_in_production_a_public_or_unresolvable_host_is_accepted(alice, settings, dns, answers):
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    dns.answers = answers
    assert alice.put("/api/v1/webhook", data={"url": f"https://{HOST}/hook"}, format="json").status_code == 200


def test_no_webhook_no_delivery_and_the_log_is_per_organization(cast, receiver):
    assert webhooks.webhook_enqueue(job=a_job(cast.org_a), event="job.succeeded", payload={}) is None
    server = receiver(200)
    webhooks.webhook_set(organization=cast.org_a, url=server.url)
    delivery = webhooks.webhook_enqueue(job=a_job(cast.org_a), event="job.succeeded", payload={})
    webhooks.webhook_deliver(delivery_id=str(delivery.pk))
    alice, charlie = APIClient(), APIClient()
    alice.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    charlie.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.charlie)}")
    log = alice.get("/api/v1/webhooks/deliveries").json()["results"]
    assert [(d["id"], d["status"], d["event"]) for d in log] == [(str(delivery.pk), "delivered", "job.succeeded")]
    assert charlie.get("/api/v1/webhooks/deliveries").json()["results"] == []
    assert WebhookDelivery.objects.count() == 1

"""Webhooks: signed deliveries to a real local HTTP server, retries with backoff, the delivery log."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from synthesis.jobs import webhooks
from synthesis.models import Job, WebhookDelivery

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that answers with the statuses it is given, in turn, and keeps what it got."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(*statuses):
        made.append(Receiver(statuses))
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


def test_private_addresses_are_refused_when_not_allowed(cast, receiver, settings):
    settings.VOICEHUB_WEBHOOK_ALLOW_PRIVATE = False
    server = receiver(200)
    webhooks.webhook_set(organization=cast.org_a, url=server.url)
    delivery = webhooks.webhook_enqueue(job=a_job(cast.org_a), event="job.succeeded", payload={})
    assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == "failed"
    assert server.received == []


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

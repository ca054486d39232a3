"""
Idempotency-Key on every POST that synthesizes or starts a job, with Stripe's semantics: a
client that retries a request that timed out gets the first result back, charged once.

The routes come from the URLconf (views that honour the header, synthesis.doors.idempotent_routes),
and must be every synthesis door but the anonymous demo, plus job creation; each case runs on
each of them. How to call a door is test_contract.py's DOORS (one description of each door).
The model is the fake engine, except in the last test.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test.client import encode_multipart

from accounts.models import UsageRecord
from synthesis.doors import idempotent_routes, synthesis_routes
from synthesis.models import IdempotencyRecord, Job
from synthesis.services.idempotency import idempotency_begin, request_fingerprint
from synthesis.services.session import Refused
from synthesis.tests.test_contract import ANONYMOUS, DOORS, LONG, TEXT, Door, body_of, client_for, code_of, fill, leave

ROUTES = {**DOORS, "api_v1:jobs": Door("/api/v1/jobs", {"text": "{text}", "voice": "{voice}", "format": "mp3"})}
ALL = sorted(ROUTES)
STREAMING = sorted(name for name, door in ROUTES.items() if door.streaming)
# What a client compares between a result and its replay.
KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control", "character-cost", "history-item-id", "Location")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plumbing(request, isolated_media, fresh_cache):
    """The fake engine, except for the test that asks for the real one."""
    if "engine" not in request.fixturenames:
        request.getfixturevalue("fake_engine")


def send(name, client, key=None, *, text=TEXT, voice="af_heart", query=""):
    door = ROUTES[name]
    body = {field: fill(value, text, voice) for field, value in door.body.items()}
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(fill(door.path, text, voice) + query, data=json.dumps(body), content_type="application/json", **headers)


def charges(organization) -> tuple[int, int, int]:
    """What running a request again would add to: usage rows, characters charged, jobs."""
    organization.refresh_from_db()
    return (
        UsageRecord.objects.filter(organization=organization).count(), organization.characters_used,
        Job.objects.filter(organization=organization).count(),
    )


def kept_headers(response) -> dict:
    return {name: response.get(name) for name in KEPT_HEADERS}


@pytest.fixture
def alice_client(cast):
    return client_for(cast.key(cast.alice))


# -- which routes -------------------------------------------------------------------------------


def test_every_post_synthesis_route_and_job_creation_honour_the_header():
    synthesis = {name for name, _ in synthesis_routes()} - ANONYMOUS
    honoured = {name for name, _ in idempotent_routes()}
    assert honoured == synthesis | {"api_v1:jobs"}, "a synthesis door must derive from SynthesisView"
    assert honoured == set(ROUTES), "describe the new route in ROUTES (test_contract.DOORS for a synthesis door)"


# -- the same key and request: the first result, once ---------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_the_same_key_and_request_get_the_first_result_again_without_a_second_charge(name, cast, alice_client, fake_engine):
    first = send(name, alice_client, "order-1")
    first_body = body_of(first)
    assert first.status_code in (200, 202), first_body[:300]
    assert "Idempotent-Replayed" not in first
    charged, calls = charges(cast.org_a), fake_engine.calls

    again = send(name, alice_client, "order-1")

    assert (again.status_code, body_of(again)) == (first.status_code, first_body)
    assert kept_headers(again) == kept_headers(first)
    assert again["Idempotent-Replayed"] == "true"
    assert charges(cast.org_a) == charged and fake_engine.calls == calls
    assert charged[0] + charged[2] == 1  # one usage row (synthesis) or one job


@pytest.mark.parametrize("name", ALL)
def test_the_same_key_with_another_request_is_422_and_runs_nothing(name, cast, alice_client, fake_engine):
    body_of(send(name, alice_client, "order-1"))
    charged, calls = charges(cast.org_a), fake_engine.calls

    other = send(name, alice_client, "order-1", text="Something else entirely.")

    assert (other.status_code, code_of(other)) == (422, "idempotency_key_reused"), other.content[:300]
    assert charges(cast.org_a) == charged and fake_engine.calls == calls


def test_another_query_is_another_request(cast, alice_client):
    body_of(send("compat:elevenlabs-tts", alice_client, "order-1"))
    other = send("compat:elevenlabs-tts", alice_client, "order-1", query="?output_format=pcm_16000")
    assert (other.status_code, code_of(other)) == (422, "idempotency_key_reused")


def test_the_same_json_written_differently_is_the_same_request(cast, alice_client):
    first = alice_client.post("/api/v1/tts", data='{"text": "Hello there.", "voice": "af_heart"}', content_type="application/json",
                              HTTP_IDEMPOTENCY_KEY="k")
    again = alice_client.post("/api/v1/tts", data='{"voice":"af_heart","text":"Hello there."}', content_type="application/json",
                              HTTP_IDEMPOTENCY_KEY="k")
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content


def test_an_upload_sent_again_with_another_multipart_boundary_is_the_same_job(cast, alice_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload(boundary):
        body = encode_multipart(boundary, {"file": SimpleUploadedFile("book.txt", b"# One\nHello there.\n"), "voice": "af_heart"})
        return alice_client.post("/api/v1/jobs", data=body, content_type=f"multipart/form-data; boundary={boundary}",
                                 HTTP_IDEMPOTENCY_KEY="book-1")

    first, again = upload("first-boundary"), upload("another-boundary")

    assert first.status_code == 202, first.content[:300]
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    job = Job.objects.get(organization=cast.org_a)  # one job, made from the file read after it was fingerprinted
    assert job.chapters.get().text.strip().endswith("Hello there.")


# -- a duplicate while the first still runs ---------------------------------------------------------


class Held:
    """Holds the first request in the middle of its work until release(): in the model call (the fake
    engine's hold) for a synthesis, in job_create for a job (which calls no model)."""

    def __init__(self, name, fake_engine, monkeypatch):
        self.engine = fake_engine if name != "api_v1:jobs" else None
        if self.engine is not None:
            self.engine.hold()
            return
        from synthesis.jobs import service

        self.entered, self.released = threading.Event(), threading.Event()
        create = service.job_create

        def held_create(**kwargs):
            self.entered.set()
            self.released.wait(60)
            return create(**kwargs)

        monkeypatch.setattr(service, "job_create", held_create)

    def wait(self) -> bool:
        return self.engine.wait_for_held_call() if self.engine is not None else self.entered.wait(30)

    def release(self) -> None:
        self.engine.release() if self.engine is not None else self.released.set()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("name", ALL)
def test_a_duplicate_while_the_first_runs_is_409_and_a_retry_after_it_gets_its_result(name, cast, fake_engine, monkeypatch):
    secret = cast.key(cast.alice)
    held = Held(name, fake_engine, monkeypatch)
    first = {}

    def run_first():
        try:
            response = send(name, client_for(secret), "order-1")
            first.update(status=response.status_code, body=body_of(response))
        finally:
            connection.close()

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert held.wait()
        duplicate = send(name, client_for(secret), "order-1")
    finally:
        held.release()
        thread.join(60)

    assert (duplicate.status_code, code_of(duplicate)) == (409, "idempotency_request_in_progress"), duplicate.content[:300]
    assert int(duplicate["Retry-After"]) >= 1
    retry = send(name, client_for(secret), "order-1")
    assert (retry.status_code, body_of(retry)) == (first["status"], first["body"])
    assert retry["Idempotent-Replayed"] == "true"
    assert sum(charges(cast.org_a)[::2]) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_requests_racing_on_one_key_exactly_one_runs(cast):
    start, outcomes = threading.Barrier(4), []

    def attempt():
        try:
            start.wait(30)  # all four claim at once
            claimed = idempotency_begin(organization=cast.org_a, key="race", fingerprint="same request")
            outcomes.append(type(claimed).__name__)
        except Refused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["Claim"] + ["idempotency_request_in_progress"] * 3


def test_a_key_left_in_progress_by_a_dead_process_is_free_again_after_the_request_deadline(cast, alice_client, frozen_clock):
    # A process that died mid-request left its claim behind.
    idempotency_begin(organization=cast.org_a, key="order-1", fingerprint=request_fingerprint(method="POST", path="/", query="", body=b""))
    assert send("api_v1:tts", alice_client, "order-1").status_code == 409

    frozen_clock.shift(settings.VOICEHUB_REQUEST_DEADLINE_SECONDS + 1)
    response = send("api_v1:tts", alice_client, "order-1")

    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    assert send("api_v1:tts", alice_client, "order-1")["Idempotent-Replayed"] == "true"


# -- what is not kept: refusals, abandoned streams --------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_a_refused_request_keeps_nothing_so_its_retry_runs(name, cast, alice_client):
    org = cast.org_a
    org.characters_used = org.plan.monthly_characters
    org.save()
    refused = send(name, alice_client, "order-1")
    # OpenAI says 429 insufficient_quota, ElevenLabs 401 quota_exceeded
    assert refused.status_code in (401, 402, 429) and code_of(refused) in ("quota_exceeded", "insufficient_quota"), refused.content[:300]

    org.characters_used = 0
    org.save()
    retry = send(name, alice_client, "order-1")

    assert retry.status_code in (200, 202) and "Idempotent-Replayed" not in retry
    body_of(retry)


def test_a_request_that_fails_unexpectedly_gives_its_key_back(cast, alice_client, monkeypatch):
    from synthesis.api import native

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(native, "session_open", broken)
    with pytest.raises(RuntimeError):
        send("api_v1:tts", alice_client, "order-1")
    monkeypatch.undo()

    assert not IdempotencyRecord.objects.exists()
    assert send("api_v1:tts", alice_client, "order-1").status_code == 200


@pytest.mark.parametrize("name", STREAMING)
def test_a_stream_the_client_abandoned_keeps_nothing_so_its_retry_runs_again(name, cast, alice_client, fake_engine):
    plan = cast.org_a.plan
    plan.max_characters_per_request = 5000
    plan.save()
    fake_engine.hold(passed=3)
    response = send(name, alice_client, "order-1", text=LONG)
    content = iter(response.streaming_content)
    assert next(content) and next(content)
    leave(response)
    fake_engine.release()
    assert not IdempotencyRecord.objects.exists()
    calls = fake_engine.calls
    fake_engine.hold(passed=3)  # the retry's first chunks only: whether it runs again is all this asks

    retry = send(name, alice_client, "order-1", text=LONG)

    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert next(iter(retry.streaming_content)) and fake_engine.calls > calls
    leave(retry)
    fake_engine.release()
    assert UsageRecord.objects.filter(organization=cast.org_a).count() == 2  # what each of them heard
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_under_asgi_a_whole_stream_is_kept_and_one_the_client_left_is_not(cast, fake_engine, live_asgi, finished_requests):
    import http.client
    import socket
    from urllib.parse import urlsplit

    address, secret = urlsplit(live_asgi.url), cast.key(cast.alice)

    def post(key):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.request("POST", "/api/v1/tts/stream", body=json.dumps({"text": TEXT, "voice": "af_heart", "format": "mp3"}),
                           headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "Idempotency-Key": key})
        return connection, connection.getresponse()

    connection, whole = post("whole")
    body = whole.read()
    connection.close()
    connection, replay = post("whole")
    assert (replay.getheader("Idempotent-Replayed"), replay.read()) == ("true", body)
    connection.close()

    fake_engine.hold(passed=1)
    connection, left = post("left")
    assert left.status == 200 and left.read1(65536)
    assert fake_engine.wait_for_held_call()
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    finished_requests.wait(3)  # the server saw the client leave and closed the response

    assert IdempotencyRecord.objects.get().key == "whole"  # "left" was given back


def test_without_the_header_every_request_runs_and_nothing_is_kept(cast, alice_client):
    assert send("api_v1:tts", alice_client).content == send("api_v1:tts", alice_client).content
    assert charges(cast.org_a)[0] == 2
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_400(key, cast, alice_client):
    response = send("api_v1:tts", alice_client, key)
    assert (response.status_code, code_of(response)) == (400, "invalid_idempotency_key")
    assert charges(cast.org_a) == (0, 0, 0)


def test_a_key_of_255_printable_characters_is_accepted(alice_client):
    key = "~ " + "k" * 253
    assert send("api_v1:tts", alice_client, key).status_code == 200
    assert send("api_v1:tts", alice_client, key)["Idempotent-Replayed"] == "true"


# -- scope and lifetime ---------------------------------------------------------------------------


def test_keys_are_scoped_to_the_organization(cast, alice_client):
    charlie_client = client_for(cast.key(cast.charlie))
    alices = send("api_v1:tts", alice_client, "order-1")

    charlies = send("api_v1:tts", charlie_client, "order-1", text="Globex has its own order one.")
    charlies_again = send("api_v1:tts", charlie_client, "order-1", text="Globex has its own order one.")

    assert charlies.status_code == 200 and "Idempotent-Replayed" not in charlies
    assert charlies.content != alices.content and charlies_again.content == charlies.content
    assert charges(cast.org_b)[:2] == (1, len("Globex has its own order one."))
    assert charges(cast.org_a)[:2] == (1, len(TEXT))


def test_a_key_is_forgotten_24_hours_after_its_first_request(cast, alice_client, frozen_clock):
    first = send("api_v1:tts", alice_client, "order-1")
    frozen_clock.shift(timedelta(hours=23, minutes=59))
    assert send("api_v1:tts", alice_client, "order-1")["Idempotent-Replayed"] == "true"
    kept = IdempotencyRecord.objects.get().body.name

    frozen_clock.shift(timedelta(minutes=1))
    again = send("api_v1:tts", alice_client, "order-1", text="A new day, a new order with an old key.")

    assert again.status_code == 200 and "Idempotent-Replayed" not in again
    assert again.content != first.content and charges(cast.org_a)[0] == 2
    assert not default_storage.exists(kept)  # the old result went with the record it belonged to


def test_expire_history_deletes_the_records_older_than_24_hours_with_their_kept_responses(cast, alice_client, frozen_clock):
    send("api_v1:tts", alice_client, "old")
    frozen_clock.shift(timedelta(hours=12))
    send("api_v1:tts", alice_client, "recent", text="Another order.")
    old, recent = (IdempotencyRecord.objects.get(key=key).body.name for key in ("old", "recent"))
    frozen_clock.shift(timedelta(hours=12))

    call_command("expire_history")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert not default_storage.exists(old) and default_storage.exists(recent)


# -- the schema ------------------------------------------------------------------------------------


def test_the_schema_documents_the_header_and_its_409_and_422_on_every_route_that_honours_it(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for name, _ in idempotent_routes():
        operation = schema["paths"][ROUTES[name].path.replace("{voice}", "{voice_id}")]["post"]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert "Idempotency-Key" in headers, name
        assert "invalid_idempotency_key" in operation["responses"]["400"]["description"], name
        assert "idempotency_request_in_progress" in operation["responses"]["409"]["description"], name
        assert "idempotency_key_reused" in operation["responses"]["422"]["description"], name
        assert operation["responses"]["409"]["content"], name  # in the route's own error shape


# -- the real model ----------------------------------------------------------------------------------


def test_a_replayed_synthesis_is_the_same_audio_charged_once(cast, engine, alice_client, monkeypatch):
    calls = []
    infer = engine.infer
    monkeypatch.setattr(engine, "infer", lambda *args, **kwargs: calls.append(1) or infer(*args, **kwargs))
    first = send("api_v1:tts", alice_client, "order-1", text="Hello from Voicehub.")
    made = len(calls)

    again = send("api_v1:tts", alice_client, "order-1", text="Hello from Voicehub.")

    assert first.status_code == 200 and len(first.content) > 1000 and made > 0
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert len(calls) == made  # the model did not run again
    assert charges(cast.org_a)[:2] == (1, len("Hello from Voicehub."))

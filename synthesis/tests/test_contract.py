"""
The contract every synthesis door keeps, as a matrix: doors × cases.

The doors are read from the URLconf (every view marked `synthesis_door`, see
synthesis.api.common.SynthesisView) plus the studio websocket, so a new
synthesis route that is not described in DOORS fails the first test. Each
case runs on every door through the same session: no credentials, over the
rate, over the concurrency, over the quota, over the per-request limit, an
unknown voice, a client that leaves after the first audio (charged less than
the text, slot freed), a cut in the middle by a draining process or the
request's deadline (refused for a file, what was heard for a stream), a
saturated machine (overloaded), a storage failure (no charge for a file nobody got, no
`reserved` row left), and the request-id and RateLimit headers.

The model is the fake engine (synthesis.engine.fake): these are tests of the
plumbing. The streaming doors are also run under a real ASGI server, where
the first audio byte must arrive while the model is still held on the rest.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket as sockets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.analytics.models import RequestLog
from accounts.models import UsageRecord
from synthesis.doors import named_routes, synthesis_routes
from synthesis.jobs.documents import Chapter
from synthesis.models import Generation, ProjectParagraph
from synthesis.services import limits, projects, pronunciation
from synthesis.tests.helpers import finish, make_job
from voicehub_site.testing import run_async

TEXT = "Hello there, friend. This is the second sentence of the test. And here is a third one, to be sure."
# Planned for streaming, TEXT is two chunks: a short first clause, then the rest; LONG is four.
LONG = "Hello there, friend. " + " ".join(f"Sentence number {n} of this longer test text goes on for a while." for n in range(18))


@dataclass(frozen=True)
class Door:
    path: str
    body: dict
    streaming: bool = False
    vendor: str = "native"  # native | openai | elevenlabs: the error shape
    expect: dict = field(default_factory=dict)  # case -> (status, code) where the vendor differs
    # Where the output format goes, ("body" or "query", name), and a good one; None: the door has one format.
    format: tuple[str, str, str] | None = ("body", "format", "mp3")

    def url(self) -> str:
        return self.path


def native(path, streaming=False, **extra):
    return Door(path, {"text": "{text}", "voice": "{voice}", "format": "mp3", **extra}, streaming)


OPENAI = {"no_credentials": (401, "authentication_required"), "over_quota": (429, "insufficient_quota"),
          "over_request_limit": (400, "string_above_max_length"), "unknown_voice": (400, "voice_not_found")}
ELEVENLABS = {"over_request_limit": (422, "max_character_limit_exceeded"), "bad_format": (422, "invalid_output_format"),
              "over_quota": (401, "quota_exceeded"), "over_rate": (429, "rate_limit_exceeded"),
              "over_concurrency": (429, "too_many_concurrent_requests"), "overloaded": (429, "system_busy")}
OPENAI_FORMAT = ("body", "response_format", "mp3")
ELEVENLABS_FORMAT = ("query", "output_format", "mp3_44100_128")

DOORS = {
    "synthesis:tts": Door("/tts", {"text": "{text}", "voice": "{voice}"}, format=None),  # WAV only
    "api_v1:tts": native("/api/v1/tts"),
    "api_v1:tts-stream": native("/api/v1/tts/stream", streaming=True),
    "api_v1:tts-timestamps": native("/api/v1/tts/with-timestamps"),
    "compat:openai-speech": Door(
        "/v1/audio/speech", {"model": "tts-1", "input": "{text}", "voice": "{voice}"}, True, "openai", OPENAI, OPENAI_FORMAT
    ),
    "compat:elevenlabs-tts": Door(
        "/v1/text-to-speech/{voice}", {"text": "{text}"}, False, "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT
    ),
    "compat:elevenlabs-tts-stream": Door(
        "/v1/text-to-speech/{voice}/stream", {"text": "{text}"}, True, "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT
    ),
    "compat:elevenlabs-tts-timestamps": Door(
        "/v1/text-to-speech/{voice}/with-timestamps", {"text": "{text}"}, False, "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT
    ),
    "compat:kokoro-captioned-speech": Door("/dev/captioned_speech", {"input": "{text}", "voice": "{voice}"}, True, format=OPENAI_FORMAT),
    # The text goes in as phonemes: what is outside the model's vocabulary is dropped (as Kokoro does), the rest spoken.
    "compat:kokoro-generate-from-phonemes": Door("/dev/generate_from_phonemes", {"phonemes": "{text}", "voice": "{voice}"}, format=None),
    "compat:elevenlabs-dialogue": Door(
        "/v1/text-to-dialogue", {"inputs": [{"text": "{text}", "voice_id": "{voice}"}]}, False, "elevenlabs", ELEVENLABS,
        ELEVENLABS_FORMAT,
    ),
    "compat:elevenlabs-dialogue-stream": Door(
        "/v1/text-to-dialogue/stream", {"inputs": [{"text": "{text}", "voice_id": "{voice}"}]}, True, "elevenlabs",
        ELEVENLABS, ELEVENLABS_FORMAT,
    ),
    "compat:elevenlabs-dialogue-timestamps": Door(
        "/v1/text-to-dialogue/with-timestamps", {"inputs": [{"text": "{text}", "voice_id": "{voice}"}]}, False,
        "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT,
    ),
    "compat:elevenlabs-dialogue-stream-timestamps": Door(
        "/v1/text-to-dialogue/stream/with-timestamps", {"inputs": [{"text": "{text}", "voice_id": "{voice}"}]}, True,
        "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT,
    ),
    "compat:elevenlabs-tts-stream-timestamps": Door(
        "/v1/text-to-speech/{voice}/stream/with-timestamps", {"text": "{text}"}, True, "elevenlabs", ELEVENLABS, ELEVENLABS_FORMAT
    ),
}
# The anonymous demo has its own contract (test_the_demo_*); the websocket is WS below.
ANONYMOUS = {"marketing:demo_speak"}
HTTP_DOORS = sorted(DOORS)
STREAMING_DOORS = sorted(name for name, door in DOORS.items() if door.streaming)
FORMAT_DOORS = sorted(name for name, door in DOORS.items() if door.format)
FILE_DOORS = sorted(name for name, door in DOORS.items() if not door.streaming)

NATIVE = {
    "no_credentials": (401, "authentication_required"),
    "over_rate": (429, "rate_limited"),
    "over_concurrency": (429, "concurrency_limited"),
    "over_quota": (402, "quota_exceeded"),
    "over_request_limit": (400, "max_character_limit_exceeded"),
    "unknown_voice": (404, "voice_not_found"),
    "storage_failure": (503, "service_unavailable"),
    "bad_format": (400, "unsupported_format"),
    "shutting_down": (503, "shutting_down"),
    "overloaded": (503, "overloaded"),
    "timeout": (504, "timeout"),
}


def expected(door: Door, case: str) -> tuple[int, str]:
    return door.expect.get(case, NATIVE[case])


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(fake_engine, isolated_media):
    pass


def fill(value, text, voice):
    if isinstance(value, str):
        return value.replace("{text}", text).replace("{voice}", voice)
    if isinstance(value, list):
        return [fill(item, text, voice) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, text, voice) for key, item in value.items()}
    return value


def call(name, client, *, text=TEXT, voice="af_heart", output_format=None):
    door = DOORS[name]
    body = {key: fill(value, text, voice) for key, value in door.body.items()}
    path = fill(door.path, text, voice)
    if output_format is not None:
        where, param, _ = door.format
        if where == "query":
            path += "?" + urlencode({param: output_format})
        else:
            body[param] = output_format
    return client.post(path, data=json.dumps(body), content_type="application/json")


def client_for(secret=None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def code_of(response) -> str:
    """The machine code in any of the three error shapes."""
    data = json.loads(response.content)
    if isinstance(data.get("error"), dict):
        return data["error"].get("code")
    if isinstance(data.get("detail"), dict):
        return data["detail"].get("status")
    return data.get("code")


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def leave(response) -> None:
    """The client goes away mid-stream: the test client's closing wrapper closes the response (as a server would)."""
    response._iterator.close()


def reserved_rows() -> int:
    return UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).count()


def slots_free(organization) -> bool:
    """The organization can take all its concurrency slots again."""
    held = [limits.concurrency_acquire(organization=organization) for _ in range(organization.plan.concurrent_requests)]
    for slot in held:
        slot.release()
    return True


def assert_refused(response, door, case):
    status, code = expected(door, case)
    assert (response.status_code, code_of(response)) == (status, code), response.content[:300]
    assert response["request-id"]
    assert reserved_rows() == 0


# -- the matrix covers every door -------------------------------------------------------------


def test_every_synthesis_route_in_the_urlconf_is_in_the_matrix():
    routes = {name for name, _ in synthesis_routes()}
    assert routes == set(DOORS) | ANONYMOUS, "describe the new synthesis route in DOORS (and its cases will run on it)"


def test_every_door_answers_a_synthesis_with_its_headers_and_one_ledger_row(cast, name=None):
    from accounts.models import Plan

    # One request a door within the minute: more doors than Free's 10 requests a minute.
    cast.org_a.plan = Plan.objects.get(slug="starter")
    cast.org_a.save(update_fields=["plan"])
    assert cast.org_a.plan.requests_per_minute > len(HTTP_DOORS)
    for name in HTTP_DOORS:
        response = call(name, client_for(cast.key(cast.alice)))
        body = body_of(response)
        assert response.status_code == 200, (name, response.content[:300])
        assert len(body) > 1000, name
        assert response["request-id"], name
        assert response["RateLimit-Limit"] == str(cast.org_a.plan.requests_per_minute), name
        assert response["character-cost"] == str(len(TEXT)), name
    rows = UsageRecord.objects.filter(organization=cast.org_a)
    assert rows.count() == len(HTTP_DOORS)
    assert set(rows.values_list("status", flat=True)) == {UsageRecord.Status.SUCCEEDED}
    assert set(rows.values_list("characters", flat=True)) == {len(TEXT)}


# -- refusals: the same on every door ----------------------------------------------------------


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_no_credentials_is_401(name, cast):
    assert_refused(call(name, client_for()), DOORS[name], "no_credentials")


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_over_the_rate_is_429_with_retry_after_and_ratelimit_headers(name, cast, frozen_clock):
    plan = cast.org_a.plan
    plan.requests_per_minute = 1
    plan.save()
    client = client_for(cast.key(cast.alice))
    first = call(name, client)
    assert first.status_code == 200
    body_of(first)
    response = call(name, client)
    assert_refused(response, DOORS[name], "over_rate")
    assert int(response["Retry-After"]) >= 1
    assert response["RateLimit-Limit"] == "1" and response["RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_over_the_concurrency_is_429(name, cast):
    held = [limits.concurrency_acquire(organization=cast.org_a) for _ in range(cast.org_a.plan.concurrent_requests)]
    try:
        response = call(name, client_for(cast.key(cast.alice)))
    finally:
        for slot in held:
            slot.release()
    assert_refused(response, DOORS[name], "over_concurrency")
    assert response["RateLimit-Limit"]  # the rate was counted: its headers come with the refusal


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_over_the_quota_is_refused_with_ratelimit_headers_and_charges_nothing(name, cast):
    org = cast.org_a
    org.characters_used = org.plan.monthly_characters - 10
    org.save()
    response = call(name, client_for(cast.key(cast.alice)))
    assert_refused(response, DOORS[name], "over_quota")
    assert response["RateLimit-Limit"] and response["RateLimit-Remaining"]
    org.refresh_from_db()
    assert org.characters_used == org.plan.monthly_characters - 10


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_a_saturated_machine_is_overloaded_with_retry_after_charges_nothing_and_counts_no_request(name, cast, fake_engine):
    fake_engine.max_queued = 0  # every place in this process's inference queue is taken
    response = call(name, client_for(cast.key(cast.alice)))
    assert_refused(response, DOORS[name], "overloaded")
    assert int(response["Retry-After"]) >= 1
    assert not UsageRecord.objects.exists()
    # Refused before the rate is counted: the organization's whole minute is still there.
    fake_engine.max_queued = 8
    plan = cast.org_a.plan
    answer = call(name, client_for(cast.key(cast.alice)))
    assert answer.status_code == 200, answer.content[:300]
    assert answer["RateLimit-Remaining"] == str(plan.requests_per_minute - 1)


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_over_the_per_request_limit_is_400(name, cast):
    text = "word " * (cast.org_a.plan.max_characters_per_request // 5 + 1)
    assert_refused(call(name, client_for(cast.key(cast.alice)), text=text), DOORS[name], "over_request_limit")


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_an_unknown_voice_is_refused(name, cast):
    assert_refused(call(name, client_for(cast.key(cast.alice)), voice="zz_nobody"), DOORS[name], "unknown_voice")


def near_misses(name: str) -> list[str]:
    """A good format name, spoiled the ways a client's string can be: whitespace, control characters, case."""
    good = name
    return [good + "\n", " " + good, good.upper() + " ", good + "\t", "\r\n" + good, good + "\x00", "\u00a0" + good]


@pytest.mark.parametrize("name", FORMAT_DOORS)
def test_a_format_name_with_whitespace_or_control_characters_is_refused(name, cast):
    door = DOORS[name]
    client = client_for(cast.key(cast.alice))
    for output_format in near_misses(door.format[2]):
        response = call(name, client, output_format=output_format)
        assert (response.status_code, code_of(response)) == expected(door, "bad_format"), (output_format, response.content[:300])
    assert call(name, client, output_format=door.format[2]).status_code == 200
    assert UsageRecord.objects.filter(organization=cast.org_a).count() == 1  # only the good name was charged


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_more_audio_than_the_plan_allows_per_request_is_400_output_too_long(name, cast):
    plan = cast.org_a.plan
    plan.max_audio_seconds_per_request = 1
    plan.save()
    response = call(name, client_for(cast.key(cast.alice)))
    door = DOORS[name]
    assert response.status_code == (400 if door.vendor != "elevenlabs" else 400), response.content[:300]
    assert code_of(response) == "output_too_long"
    assert reserved_rows() == 0
    assert UsageRecord.objects.filter(organization=cast.org_a).count() == 0  # refused before charging


# -- endings: what is charged -------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMING_DOORS)
def test_a_client_that_leaves_after_the_first_audio_pays_for_what_it_heard_and_frees_its_slot(name, cast, fake_engine):
    plan = cast.org_a.plan
    plan.max_characters_per_request = 5000
    plan.save()
    fake_engine.hold(passed=3)  # three chunks are made; the last one waits
    response = call(name, client_for(cast.key(cast.alice)), text=LONG)
    assert response.status_code == 200
    content = iter(response.streaming_content)
    # Two pieces of audio need at most three chunks (an encoder may hold back a short first one).
    # Asking for the second is how a server says the first was sent: it is heard, and charged.
    audio = [next(content), next(content)]
    assert all(audio)
    leave(response)  # the client goes away; the held call is cancelled, not waited for
    record = UsageRecord.objects.get(organization=cast.org_a)
    assert record.status == UsageRecord.Status.SUCCEEDED
    assert 0 < record.characters < len(LONG)
    assert reserved_rows() == 0
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == record.characters
    assert slots_free(cast.org_a)


# Endings that stop a request in the middle, as the session's token sees them: the grace period of a
# draining process running out (voicehub_site.drain) and the request's deadline (VOICEHUB_REQUEST_DEADLINE_SECONDS,
# whose timer does exactly this cancel).
CUTS = {"shutdown": "shutting_down", "timeout": "timeout"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("reason", sorted(CUTS))
@pytest.mark.parametrize("name", FILE_DOORS)
def test_a_file_cut_in_the_middle_is_refused_with_its_code_and_charges_nothing(name, reason, cast, fake_engine):
    import threading

    from synthesis.services.session import live_sessions

    plan = cast.org_a.plan
    plan.max_characters_per_request = 5000
    plan.save()
    client = client_for(cast.key(cast.alice))
    fake_engine.hold(passed=1)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(call(name, client, text=LONG)))
    thread.start()
    assert fake_engine.wait_for_held_call()
    (session,) = live_sessions()
    session.cancel(reason)
    thread.join(60)
    (response,) = answers
    assert (response.status_code, code_of(response)) == expected(DOORS[name], CUTS[reason]), response.content[:300]
    if reason == "shutdown":
        assert response["Retry-After"] == "1"  # another process will take it
    assert reserved_rows() == 0
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0


@pytest.mark.parametrize("reason", sorted(CUTS))
@pytest.mark.parametrize("name", STREAMING_DOORS)
def test_a_stream_cut_in_the_middle_pays_for_what_was_heard_and_frees_its_slot(name, reason, cast, fake_engine):
    from synthesis.engine.core import EngineError
    from synthesis.services.session import live_sessions

    plan = cast.org_a.plan
    plan.max_characters_per_request = 5000
    plan.save()
    fake_engine.hold(passed=3)
    response = call(name, client_for(cast.key(cast.alice)), text=LONG)
    assert response.status_code == 200
    content = iter(response.streaming_content)
    audio = [next(content), next(content)]  # asking for the second is how the first is known to be sent
    assert all(audio)
    (session,) = live_sessions()
    session.cancel(reason)
    with pytest.raises(EngineError) as cut:  # the body ends short (over HTTP: a chunked body that never completes)
        for _ in content:
            pass
    assert cut.value.code == CUTS[reason]
    record = UsageRecord.objects.get(organization=cast.org_a)
    assert record.status == UsageRecord.Status.SUCCEEDED and 0 < record.characters < len(LONG)
    assert reserved_rows() == 0
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == record.characters
    assert slots_free(cast.org_a)


def test_a_stream_a_test_stops_reading_settles_in_that_test(cast, fake_engine):
    """The suite closes what a test left unread before that test's database goes (voicehub_site.testing);
    left to the garbage collector, it settled in a later test (CI, on PostgreSQL: a foreign key error)."""
    from synthesis.services.session import live_sessions
    from voicehub_site.testing import _close_unread_streams

    for org in (cast.org_a, cast.org_b):
        org.plan.max_characters_per_request = 5000
        org.plan.save()
    half_read = call("api_v1:tts-stream", client_for(cast.key(cast.alice)), text=LONG)
    content = iter(half_read.streaming_content)
    assert next(content) and next(content)  # asking for the second is how the first is known to be sent
    unread = call("api_v1:tts-stream", client_for(cast.key(cast.charlie)), text=LONG)
    assert unread.status_code == 200 and len(live_sessions()) == 2
    _close_unread_streams()
    assert live_sessions() == []
    assert reserved_rows() == 0
    for org in (cast.org_a, cast.org_b):
        org.refresh_from_db()
        assert slots_free(org)
    assert 0 < cast.org_a.characters_used < len(LONG)  # what the half-read stream delivered
    assert cast.org_b.characters_used == 0


@pytest.mark.parametrize("name", FILE_DOORS)
def test_a_file_that_cannot_be_stored_is_503_and_charges_nothing(name, cast, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    response = call(name, client_for(cast.key(cast.alice)))
    assert (response.status_code, code_of(response)) == expected(DOORS[name], "storage_failure"), response.content[:300]
    assert response["Retry-After"]
    assert reserved_rows() == 0
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0
    assert not Generation.objects.exists()


@pytest.mark.parametrize("name", STREAMING_DOORS)
def test_a_stream_whose_history_cannot_be_stored_charges_what_was_heard_and_leaves_no_reservation(name, cast, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    response = call(name, client_for(cast.key(cast.alice)))
    assert response.status_code == 200
    assert len(body_of(response)) > 1000
    assert reserved_rows() == 0
    record = UsageRecord.objects.get(organization=cast.org_a)
    assert (record.status, record.characters) == (UsageRecord.Status.SUCCEEDED, len(TEXT))
    assert not Generation.objects.exists()


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_every_door_writes_one_request_log_row_with_the_characters_charged(name, cast):
    response = call(name, client_for(cast.key(cast.alice)))
    body_of(response)
    row = RequestLog.objects.get()
    assert (row.route, row.status_code, row.characters) == (name, 200, len(TEXT))


# -- the same under a real ASGI server: the first byte comes before the last -------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("name", STREAMING_DOORS)
def test_under_asgi_the_first_audio_arrives_while_the_rest_is_still_being_made(name, cast, fake_engine, live_asgi, finished_requests):
    import http.client
    from urllib.parse import urlsplit

    secret = cast.key(cast.alice)
    door = DOORS[name]
    body = json.dumps({key: fill(value, TEXT, "af_heart") for key, value in door.body.items()})
    fake_engine.hold(passed=1)
    address = urlsplit(live_asgi.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    connection.request("POST", fill(door.path, TEXT, "af_heart"), body=body,
                       headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    received = b""
    while len(received) < 200:
        received += response.read1(65536)
    # The second model call is held: nothing after the first clause exists yet, yet bytes arrived.
    assert fake_engine.wait_for_held_call()
    connection.sock.shutdown(sockets.SHUT_RDWR)
    connection.close()
    # The server sees the disconnect, cancels the held call and settles what was delivered, then finishes the request.
    finished_requests.wait()
    record = UsageRecord.objects.get(organization=cast.org_a)
    assert record.status != UsageRecord.Status.RESERVED
    assert record.characters < len(TEXT)
    assert slots_free(cast.org_a)


# -- what caches and browsers may do with the audio -----------------------------------------------


def assert_private_download(response, *, named: bool = True):
    """An organization's audio: no cache keeps it, and a browser saves it rather than render it in our origin."""
    directives = {directive.strip() for directive in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives and "public" not in directives, response["Cache-Control"]
    if named:
        assert re.fullmatch(r'attachment; filename="[\w.-]+"', response["Content-Disposition"]), response.get("Content-Disposition")


@pytest.mark.parametrize("name", HTTP_DOORS)
def test_every_door_answers_with_a_download_that_no_cache_keeps(name, cast):
    response = call(name, client_for(cast.key(cast.alice)))
    body_of(response)
    assert response.status_code == 200
    # The with-timestamps doors answer JSON (or JSON lines) carrying the audio: not a file, yet just as private.
    assert_private_download(response, named=not response["Content-Type"].startswith(("application/json", "application/x-ndjson")))


def test_the_openai_event_stream_is_kept_by_no_cache(cast):
    client = client_for(cast.key(cast.alice))
    response = client.post("/v1/audio/speech", data={"model": "tts-1", "input": TEXT, "voice": "alloy", "stream_format": "sse"},
                           format="json")
    body_of(response)
    assert response["Content-Type"] == "text/event-stream"
    assert_private_download(response, named=False)


# Every route that serves stored audio or a result file (named like one: a new one must be described here), and
# how to ask for it: (who asks, method, path, body). {g}/{h}: two history items of alice's; {job}: a finished job.
FILE_ROUTE_NAMES = re.compile(r"audio|download|preview|timing")
NOT_FILES = {"mfa_download_recovery_codes"}  # allauth's page
FILE_ROUTES = {
    "api_v1:history-audio": ("key", "get", "/api/v1/history/{g}/audio", None),
    "api_v1:history-download": ("key", "post", "/api/v1/history/download", {"ids": ["{g}", "{h}"]}),
    "api_v1:job-audio": ("key", "get", "/api/v1/jobs/{job}/audio", None),
    "api_v1:job-chapter-audio": ("key", "get", "/api/v1/jobs/{job}/chapters/0/audio", None),
    "api_v1:job-timing": ("key", "get", "/api/v1/jobs/{job}/timing", None),
    "compat:elevenlabs-history-audio": ("key", "get", "/v1/history/{g}/audio", None),
    "compat:elevenlabs-history-download": ("key", "post", "/v1/history/download", {"history_item_ids": ["{g}", "{h}"]}),
    "compat:kokoro-download": ("key", "get", "/v1/download/{g}.mp3", None),
    "studio:history_audio": ("session", "get", "/studio/history/{g}/audio", None),
    "studio:job_audio": ("session", "get", "/studio/jobs/{job}/audio", None),
    "studio:job_chapter_audio": ("session", "get", "/studio/jobs/{job}/chapters/0/audio", None),
    "studio:job_timing": ("session", "get", "/studio/jobs/{job}/timing", None),
    "admin:synthesis_generation_audio": ("staff", "get", "/admin/synthesis/generation/{g}/audio/", None),
    # A saved voice's preview is the organization's own (its voice, its text): private, unlike the catalog's.
    "api_v1:saved-voice-preview": ("key", "get", "/api/v1/voices/saved/{sv}/preview", None),
    "studio:voice_preview": ("session", "get", "/studio/voices/{sv}/preview", None),
    "compat:elevenlabs-pronunciation-download": ("key", "get", "/v1/pronunciation-dictionaries/{d}/{v}/download", None),
    "api_v1:pronunciation-dictionary-download": ("key", "get", "/api/v1/pronunciation-dictionaries/{d}/download", None),
    "studio:dictionary_download": ("session", "get", "/studio/dictionaries/{d}/download", None),
    "studio:paragraph_audio": ("session", "get", "/studio/projects/{p}/paragraphs/{pp}/audio", None),
}
# The previews: the same few seconds of a catalog voice for everyone, nothing of a customer's: caches may keep them.
PREVIEWS = {"synthesis:voice-preview": ("anyone", "/voices/af_heart/preview.mp3"),
            "api_v1:voice-preview": ("key", "/api/v1/voices/af_heart/preview")}


def test_every_route_that_serves_a_file_is_described():
    routes = {name for name, _ in named_routes() if FILE_ROUTE_NAMES.search(name)} - NOT_FILES - set(DOORS)
    assert routes == set(FILE_ROUTES) | set(PREVIEWS), "describe the new file route in FILE_ROUTES"


@pytest.fixture
def stored(cast):
    """Two history items of alice's, made through the door, and a finished job of her organization."""
    client = client_for(cast.key(cast.alice))
    items = [call("api_v1:tts", client)["history-item-id"] for _ in range(2)]
    saved = client.post("/api/v1/voices/saved", data={"name": "N", "spec": "af_bella+af_sky"}, format="json").json()
    dictionary = pronunciation.dictionary_create(organization=cast.org_a, user=cast.alice, name="Acme", rules=[])
    job = finish(make_job(cast.org_a))
    project = projects.project_create(organization=cast.org_a, title="P", voice="af_heart", chapters=[Chapter("", "Hi.")])
    paragraph = projects.paragraphs_in_order(project).get()
    ProjectParagraph.objects.filter(pk=paragraph.pk).update(rendering=job.chapters.get(index=0))
    return {"g": items[0], "h": items[1], "job": str(job.id), "sv": saved["id"],
            "d": dictionary.pk, "v": dictionary.latest_version_id, "p": project.pk, "pp": paragraph.pk}


def client_of(who, cast):
    if who == "key":
        return client_for(cast.key(cast.alice))
    client = Client()
    if who == "anyone":
        return client
    if who == "staff":
        cast.alice.is_staff = cast.alice.is_superuser = True
        cast.alice.save()
    client.force_login(cast.alice)
    return client


@pytest.mark.parametrize("name", sorted(FILE_ROUTES))
def test_every_stored_file_is_a_download_that_no_cache_keeps(name, cast, stored):
    who, method, path, body = FILE_ROUTES[name]
    path = path.format(**stored)
    client = client_of(who, cast)
    if body is None:
        response = getattr(client, method)(path)
    else:
        response = getattr(client, method)(path, data=json.dumps(body).replace("{g}", stored["g"]).replace("{h}", stored["h"]),
                                           content_type="application/json")
    assert response.status_code == 200, (path, response.content[:300] if not response.streaming else "")
    body_of(response)
    assert_private_download(response)


@pytest.mark.parametrize("name", sorted(PREVIEWS))
def test_a_voice_preview_is_a_download_that_caches_may_keep(name, cast):
    who, path = PREVIEWS[name]
    response = client_of(who, cast).get(path)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response["Content-Disposition"] == 'attachment; filename="af_heart-preview.mp3"'


# -- the anonymous demo -------------------------------------------------------------------------


def demo(text="Hello from the demo.", voice="af_heart"):
    return Client().post(reverse("marketing:demo_speak"), data=json.dumps({"text": text, "voice": voice}),
                         content_type="application/json")


def test_the_demo_speaks_through_the_session_and_charges_nobody(cast):
    response = demo()
    assert response.status_code == 200 and response["request-id"]
    assert_private_download(response)
    audio = b"".join(response.streaming_content)  # streamed as it is made, like /api/v1/tts/stream
    assert audio[:4] == b"RIFF" and len(audio) > 1000
    assert not UsageRecord.objects.exists()
    assert RequestLog.objects.get().route == "marketing:demo_speak"


def test_the_demo_past_its_limit_is_429_with_retry_after(settings, frozen_clock):
    settings.VOICEHUB_DEMO_PER_MINUTE = 1
    assert demo().status_code == 200
    response = demo()
    assert (response.status_code, code_of(response)) == (429, "demo_limited")
    assert int(response["Retry-After"]) >= 1


def test_the_demo_refuses_long_texts_and_other_voices():
    assert code_of(demo(text="x" * 201)) == "max_character_limit_exceeded"
    assert code_of(demo(voice="zz_nobody")) == "voice_not_allowed"


# -- the studio websocket: the same cases -----------------------------------------------------

ORIGIN = "http://testserver"


@pytest.fixture
def ws(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def socket(user=None) -> WebsocketCommunicator:
    from voicehub_site.asgi import application

    headers = [(b"origin", ORIGIN.encode())]
    if user is not None:
        headers.append((b"cookie", session_cookie(user).encode()))
    return WebsocketCommunicator(application, "/ws/tts/", headers=headers)


def run(scenario):
    async def main():
        await get_channel_layer().flush()
        return await scenario()

    return run_async(main)


async def events_until(communicator, last=("done", "cancelled", "error"), timeout=60) -> list:
    frames = []
    while True:
        output = await communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            frames.append({"type": "closed", "code": output.get("code")})
            return frames
        if output.get("bytes") is not None:
            frames.append(output["bytes"])
            continue
        event = json.loads(output["text"])
        frames.append(event)
        if event["type"] in last:
            return frames


def generate(text=TEXT, voice="af_heart"):
    return {"type": "generate", "text": text, "voice": voice, "speed": 1.0, "format": "mp3"}


def ws_outcome(user, message=None):
    communicator = socket(user)

    async def scenario():
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        if message is not None:
            await communicator.send_json_to(message)
        frames = await events_until(communicator)
        await communicator.disconnect()
        return frames

    return run(scenario)


def last_event(frames) -> dict:
    return [f for f in frames if isinstance(f, dict)][-1]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_websocket_refuses_a_visitor_without_a_session(ws, fake_engine):
    frames = ws_outcome(None)
    assert frames[0]["code"] == "not_authenticated"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("case", ["over_rate", "over_concurrency", "over_quota", "over_request_limit", "unknown_voice"])
def test_the_websocket_refuses_what_the_http_doors_refuse(case, ws, cast, fake_engine, frozen_clock):
    org, message, held = cast.org_a, generate(), []
    if case == "over_rate":
        org.plan.requests_per_minute = 0
        org.plan.save()
    elif case == "over_concurrency":
        held = [limits.concurrency_acquire(organization=org) for _ in range(org.plan.concurrent_requests)]
    elif case == "over_quota":
        org.characters_used = org.plan.monthly_characters
        org.save()
    elif case == "over_request_limit":
        message = generate(text="word " * (org.plan.max_characters_per_request // 5 + 1))
    elif case == "unknown_voice":
        message = generate(voice="zz_nobody")
    try:
        event = last_event(ws_outcome(cast.alice, message))
    finally:
        for slot in held:
            slot.release()
    assert (event["type"], event["code"]) == ("error", NATIVE[case][1])
    assert reserved_rows() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_websocket_refuses_a_format_name_with_whitespace_or_control_characters(ws, cast, fake_engine):
    for output_format in near_misses("mp3"):
        event = last_event(ws_outcome(cast.alice, {**generate(), "format": output_format}))
        assert (event["type"], event["code"]) == ("error", NATIVE["bad_format"][1]), output_format
    assert reserved_rows() == 0 and not UsageRecord.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_websocket_cancel_stops_within_one_model_call_and_keeps_what_was_heard(ws, cast, fake_engine):
    fake_engine.hold(passed=1)
    communicator = socket(cast.alice)

    async def scenario():
        await communicator.connect(timeout=10)
        await communicator.send_json_to(generate())
        frames = []
        while not any(isinstance(f, bytes) for f in frames):
            frames += await events_until(communicator, last=("progress",))
        await asyncio.get_running_loop().run_in_executor(None, fake_engine.wait_for_held_call)
        await communicator.send_json_to({"type": "cancel"})  # the held call is aborted, not waited for
        frames += await events_until(communicator)
        await communicator.disconnect()
        return frames

    frames = run(scenario)
    event = last_event(frames)
    assert event["type"] == "cancelled"
    assert 0 < event["character_cost"] < len(TEXT)
    record = UsageRecord.objects.get()
    assert (record.status, record.characters) == (UsageRecord.Status.SUCCEEDED, event["character_cost"])
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.CANCELLED and str(generation.id) == event["history_id"]
    log = RequestLog.objects.get()
    assert (log.route, log.characters, log.source) == ("studio:ws-tts", event["character_cost"], "studio")
    assert slots_free(cast.org_a)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_websocket_that_closes_mid_stream_pays_for_what_it_heard_and_frees_its_slot(ws, cast, fake_engine):
    fake_engine.hold(passed=1)
    communicator = socket(cast.alice)

    async def scenario():
        await communicator.connect(timeout=10)
        await communicator.send_json_to(generate())
        frames = []
        while not any(isinstance(f, bytes) for f in frames):
            frames += await events_until(communicator, last=("progress",))
        await communicator.disconnect()

    run(scenario)
    record = UsageRecord.objects.get()
    assert record.status == UsageRecord.Status.SUCCEEDED and 0 < record.characters < len(TEXT)
    assert reserved_rows() == 0
    assert slots_free(cast.org_a)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_websocket_frames_are_at_most_64_kb_whatever_the_chunk(ws, cast, fake_engine):
    text = "This one long sentence goes on and on " * 12 + "until it ends."
    frames = ws_outcome(cast.alice, {**generate(text=text), "format": "wav"})
    audio = [f for f in frames if isinstance(f, bytes)]
    assert last_event(frames)["type"] == "done", last_event(frames)
    assert max(len(f) for f in audio) <= 64 * 1024
    assert sum(len(f) for f in audio) > 64 * 1024  # a chunk bigger than one frame was split

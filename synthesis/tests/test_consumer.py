"""The studio socket /ws/tts/, driven through the real ASGI application (origin check, session auth, routing)."""

import asyncio
import json

import numpy as np
import pytest
from channels.layers import get_channel_layer

from accounts.models import Membership, Organization, Plan, UsageRecord
from synthesis.models import Generation
from synthesis.services.limits import check_rate, concurrency_slot
from synthesis.tests.helpers import (
    WAIT,
    events,
    frames_until,
    generate,
    opened,
    run,
    session_cookie,
    socket,
    until_first_audio,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media, settings):
    # Each scenario runs in an event loop of its own: the in-memory layer's queues
    # belong to it. (Redis' pools would outlive the loop and hang its shutdown;
    # the layer across processes on Redis is test_scaleout_jobs' websocket test.)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


# -- who may connect -------------------------------------------------------------------------


def test_an_anonymous_visitor_is_told_to_sign_in_and_the_socket_closes(cast):
    anonymous = socket(None)

    async def scenario():
        communicator = await opened(anonymous)
        error = await communicator.receive_json_from(timeout=10)
        closed = await communicator.receive_output(timeout=10)
        await communicator.disconnect()
        return error, closed

    error, closed = run(scenario)

    assert error["type"] == "error" and error["code"] == "not_authenticated" and error["detail"]
    assert closed == {"type": "websocket.close", "code": 4401}


def test_a_user_with_an_unverified_email_is_refused(cast):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=cast.bob).update(verified=False)

    bob = socket(cast.bob)

    async def scenario():
        communicator = await opened(bob)
        error = await communicator.receive_json_from(timeout=10)
        closed = await communicator.receive_output(timeout=10)
        return error, closed

    error, closed = run(scenario)

    assert error["code"] == "not_authenticated" and error["reason"] == "email_unverified"
    assert closed["code"] == 4401


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_a_page_of_another_origin_cannot_open_the_socket(cast, origin):
    communicator = socket(cast.alice, origin=origin)

    async def scenario():
        connected, _ = await communicator.connect(timeout=10)
        return connected

    assert run(scenario) is False


def test_the_socket_works_through_a_real_server_and_client(live_asgi, cast):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    url = f"{live_asgi.ws_url}/ws/tts/"
    with connect(url, origin=live_asgi.url, additional_headers={"Cookie": session_cookie(cast.alice)}) as ws:
        ws.send("not json")
        assert json.loads(ws.recv(timeout=30))["code"] == "parse_error"
        ws.send(json.dumps(generate("Hello.", voice="zz_nobody")))
        assert json.loads(ws.recv(timeout=30))["code"] == "voice_not_found"

    with connect(url, origin=live_asgi.url) as ws:
        assert json.loads(ws.recv(timeout=30))["code"] == "not_authenticated"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 4401

    with pytest.raises(InvalidStatus):
        connect(url, origin="http://evil.example", additional_headers={"Cookie": session_cookie(cast.alice)})


# -- malformed frames --------------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param({"bytes_data": b"\x00\x01"}, "invalid_message", id="binary"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi"'}, "parse_error", id="truncated-json"),
    pytest.param({"text_data": "hello"}, "parse_error", id="not-json"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi", "speed": NaN}'}, "parse_error", id="nan"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi", "speed": -Infinity}'}, "parse_error", id="infinity"),
    pytest.param({"text_data": "[" * 60_000 + "]" * 60_000}, "payload_too_large", id="oversized"),
    pytest.param({"text_data": "[" * 20_000 + "]" * 20_000}, "parse_error", id="nested-too-deep"),
    pytest.param({"text_data": json.dumps({"type": "generate", "text": "Hi \ud800 there"})},
                 "surrogate_characters_not_allowed", id="lone-surrogate"),
    pytest.param({"text_data": '["generate"]'}, "invalid_message", id="not-an-object"),
    pytest.param({"text_data": '{"type": "launch"}'}, "invalid_message", id="unknown-type"),
    pytest.param({"text_data": '{"text": "Hi"}'}, "invalid_message", id="no-type"),
    pytest.param({"text_data": '{"type": "generate", "text": 42}'}, "invalid", id="text-not-a-string"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi", "speed": "fast"}'}, "invalid_speed", id="speed-a-string"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi", "speed": 3}'}, "invalid_speed", id="speed-out-of-range"),
    pytest.param({"text_data": '{"type": "generate", "text": "   "}'}, "empty_text", id="empty-text"),
    pytest.param({"text_data": '{"type": "generate", "text": "Hi", "format": "m4a"}'}, "unsupported_format", id="unknown-format"),
]


@pytest.mark.parametrize("frame,code", BAD_FRAMES)
def test_a_bad_frame_gets_an_error_and_the_socket_keeps_answering(cast, frame, code):
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_to(**frame)
        first = await communicator.receive_json_from(timeout=30)
        # Still alive: a following well-formed request gets its own answer.
        await communicator.send_json_to(generate("Hello.", voice="zz_nobody"))
        second = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return first, second

    first, second = run(scenario)

    assert first["type"] == "error" and first["code"] == code and first["detail"]
    assert second["type"] == "error" and second["code"] == "voice_not_found"


def test_a_text_over_the_plan_limit_is_refused_like_over_http(cast):
    limit = cast.org_a.plan.max_characters_per_request

    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate("a" * (limit + 1)))
        return await communicator.receive_json_from(timeout=30)

    error = run(scenario)

    assert error["code"] == "max_character_limit_exceeded"
    assert not UsageRecord.objects.exists()


# -- job progress from the channel layer -------------------------------------------------------


def test_job_progress_reaches_only_the_sockets_of_that_organization(cast, group_joins):
    Membership.objects.create(organization=cast.org_b, user=cast.bob, role=Membership.Role.MEMBER)

    sockets = socket(cast.alice), socket(cast.charlie), socket(cast.bob, organization=cast.org_b)

    async def scenario():
        layer = get_channel_layer()
        # bob is in both organizations; his session has selected B.
        alice, charlie, bob_in_b = [await opened(s) for s in sockets]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, group_joins.wait, f"jobs.org.{cast.org_a.pk}", 1)
        await loop.run_in_executor(None, group_joins.wait, f"jobs.org.{cast.org_b.pk}", 2)
        # A socket gets its messages in the order they were sent, so no waiting for "nothing" on the clock:
        # a message that leaked to the wrong organization would come before that socket's own next one.
        await layer.group_send(f"jobs.org.{cast.org_a.pk}", {"type": "job.progress", "job": {"id": "a1", "percent": 40}})
        await layer.group_send(f"jobs.org.{cast.org_b.pk}", {"type": "job.progress", "job": {"id": "b1", "percent": 90}})
        await layer.group_send(f"jobs.org.{cast.org_a.pk}", {"type": "job.progress", "job": {"id": "a2", "percent": 50}})
        got = {"alice": [await alice.receive_json_from(timeout=10) for _ in range(2)]}
        got["charlie"] = await charlie.receive_json_from(timeout=10)
        got["bob"] = await bob_in_b.receive_json_from(timeout=10)
        for communicator in (alice, charlie, bob_in_b):
            await communicator.disconnect()
        return got

    got = run(scenario)

    assert got["alice"] == [{"type": "job", "job": {"id": "a1", "percent": 40}}, {"type": "job", "job": {"id": "a2", "percent": 50}}]
    assert got["charlie"] == {"type": "job", "job": {"id": "b1", "percent": 90}}
    assert got["bob"] == got["charlie"]


# -- synthesis (the real model) -----------------------------------------------------------------


def pcm(frames) -> np.ndarray:
    return np.frombuffer(b"".join(f for f in frames if isinstance(f, bytes)), dtype="<i2")


@pytest.mark.model
def test_a_generation_streams_audio_before_done_and_is_kept_in_history(cast, engine):
    text = "Hello from the studio. This plays as it is made."

    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_to(bytes_data=b"noise")  # a bad frame first: the socket stays usable
        bad = await communicator.receive_json_from(timeout=30)
        await communicator.send_json_to(generate(text))
        started = await communicator.receive_json_from(timeout=WAIT)
        await communicator.send_json_to(generate("Another one."))  # one generation at a time
        frames = await frames_until(communicator, last=("done",))
        await communicator.disconnect()
        return bad, started, frames

    bad, started, frames = run(scenario)

    assert bad["code"] == "invalid_message"
    assert started == {"type": "started", "characters": len(text), "sample_rate": 24000,
                       "encoding": "pcm_s16le", "channels": 1}
    assert [e["code"] for e in events(frames, "error")] == ["busy"]
    first_audio = next(i for i, f in enumerate(frames) if isinstance(f, bytes))
    assert first_audio < frames.index(events(frames, "done")[0])
    progress = events(frames, "progress")
    assert progress and progress[-1]["characters_done"] == len(text) == progress[-1]["characters_total"]
    assert [p["characters_done"] for p in progress] == sorted(p["characters_done"] for p in progress)

    done = events(frames, "done")[0]
    audio = pcm(frames)
    assert np.abs(audio).max() > 3000  # speech, not silence
    assert len(audio) / 24000 == pytest.approx(done["seconds"], abs=0.002)
    assert done["character_cost"] == len(text) and done["format"] == "mp3"
    assert done["audio_url"] == f"/studio/history/{done['history_id']}/audio"

    generation = cast.org_a.generations.get(pk=done["history_id"])
    assert (generation.source, generation.user, generation.text) == ("studio", cast.alice, text)
    with generation.audio.open("rb") as stored:
        head = stored.read(3)
    assert generation.output_format == "mp3"  # the format asked for, not the PCM that was streamed
    assert head == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # an MPEG frame sync
    record = generation.usage_record
    assert (record.status, record.characters, record.source) == (UsageRecord.Status.SUCCEEDED, len(text), "studio")
    assert Organization.objects.get(pk=cast.org_a.pk).characters_used == len(text)
    assert not Generation.objects.filter(organization=cast.org_b).exists()


# The engine makes the first sentence a chunk of its own (quick start), then batches the rest
# into chunks of up to 510 phoneme tokens: this text is three chunks (7, ~310 and ~300 tokens),
# so a cancel after the first audio lands before the last chunk is sent.
LONG = "Hello. " + " ".join(f"Sentence {n} is short." for n in range(1, 23))


def assert_partly_refunded(organization):
    record = UsageRecord.objects.get(organization=organization)
    assert record.status == UsageRecord.Status.SUCCEEDED
    assert 0 < record.characters < len(LONG)  # what was spoken is charged, the rest refunded
    assert Organization.objects.get(pk=organization.pk).characters_used == record.characters
    generation = Generation.objects.get()  # what was heard is kept, marked as cut short
    assert generation.status != Generation.Status.COMPLETE and generation.characters == record.characters
    return record


@pytest.mark.model
def test_cancel_stops_synthesis_and_refunds_what_was_not_spoken(cast, engine):
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate(LONG))
        frames = await until_first_audio(communicator)
        await communicator.send_json_to({"type": "cancel"})
        frames += await frames_until(communicator, last=("done", "cancelled"))
        await communicator.disconnect()
        return frames

    frames = run(scenario)

    cancelled = events(frames)[-1]
    assert cancelled["type"] == "cancelled"
    record = assert_partly_refunded(cast.org_a)
    assert cancelled["character_cost"] == record.characters


@pytest.mark.model
def test_closing_the_socket_mid_stream_stops_synthesis_and_refunds(cast, engine):
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate(LONG))
        await until_first_audio(communicator)
        # The consumer finishes the sentence in progress, then settles: give it the time.
        await communicator.disconnect(timeout=WAIT)

    run(scenario)

    assert_partly_refunded(cast.org_a)


def _rate(org):
    Plan.objects.filter(pk=org.plan_id).update(requests_per_minute=1)
    # An HTTP request a moment ago: at one a minute, the sliding window refuses the next for a minute at least.
    check_rate(organization=Organization.objects.get(pk=org.pk))


def _quota(org):
    Organization.objects.filter(pk=org.pk).update(characters_used=org.plan.monthly_characters - 3)


def _format(org):
    Plan.objects.filter(pk=org.plan_id).update(allowed_formats=["mp3"])


@pytest.mark.model
@pytest.mark.parametrize(
    "setup,message,code",
    [
        (_rate, generate("Hello."), "rate_limited"),
        (None, generate("Hello."), "concurrency_limited"),
        (_quota, generate("Hello there."), "quota_exceeded"),
        (_format, generate("Hello.", format="flac"), "format_not_allowed"),
        (None, generate("Hello.", speed=0.2), "invalid_speed"),
    ],
)
def test_the_http_apis_limits_apply_with_the_same_codes_and_charge_nothing(cast, engine, setup, message, code):
    org = cast.org_a
    if setup:
        setup(org)
    used = Organization.objects.get(pk=org.pk).characters_used
    Plan.objects.filter(pk=org.plan_id).update(concurrent_requests=1)

    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(message)
        answer = await communicator.receive_json_from(timeout=WAIT)
        await communicator.disconnect()
        return answer

    if code == "concurrency_limited":
        with concurrency_slot(organization=Organization.objects.get(pk=org.pk)):  # another request in flight
            answer = run(scenario)
    else:
        answer = run(scenario)

    assert answer["type"] == "error" and answer["code"] == code and answer["detail"]
    assert Organization.objects.get(pk=org.pk).characters_used == used
    assert not UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).exists()
    assert not Generation.objects.exists()


def test_the_socket_speaks_ssml_and_charges_the_texts_characters_not_the_markups(cast, fake_engine):
    markup = '<speak>Hello <break time="300ms"/> there.</speak>'
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate(markup, text_type="ssml"))
        frames = await frames_until(communicator)
        await communicator.disconnect()
        return frames

    frames = run(scenario)

    done = events(frames, "done")[0]
    # As over HTTP (test_ssml): the words of each part between breaks, never the tags.
    assert done["character_cost"] == len("Hello") + len("there.")
    assert cast.org_a.generations.get(pk=done["history_id"]).text == "Hello there."


def test_bad_ssml_on_the_socket_is_refused_and_charges_nothing(cast, fake_engine):
    alice = socket(cast.alice)

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate("<speak>Hello <break", text_type="ssml"))
        frames = await frames_until(communicator)
        await communicator.disconnect()
        return frames

    frames = run(scenario)

    assert [e["code"] for e in events(frames, "error")] == ["invalid_ssml"]
    assert not UsageRecord.objects.filter(organization=cast.org_a).exists()


def test_after_a_cancel_the_same_socket_speaks_again(cast, fake_engine):
    """The studio keeps one socket for the page: a cancel ends that generation, never the socket."""
    alice = socket(cast.alice)
    fake_engine.hold(passed=1)  # the first chunk is heard, the second waits until the cancel reaches it

    async def scenario():
        communicator = await opened(alice)
        await communicator.send_json_to(generate(LONG))
        frames = await until_first_audio(communicator)
        await communicator.send_json_to({"type": "cancel"})
        frames += await frames_until(communicator, last=("done", "cancelled"))
        fake_engine.release()
        await communicator.send_json_to(generate("And now the next one."))
        again = await frames_until(communicator)
        await communicator.disconnect()
        return frames, again

    frames, again = run(scenario)

    assert events(frames)[-1]["type"] == "cancelled"
    assert events(again)[-1]["type"] == "done"
    assert any(isinstance(frame, bytes) for frame in again)
    records = UsageRecord.objects.filter(organization=cast.org_a).order_by("pk")
    assert [record.status for record in records] == [UsageRecord.Status.SUCCEEDED] * 2
    assert not UsageRecord.objects.filter(status=UsageRecord.Status.RESERVED).exists()

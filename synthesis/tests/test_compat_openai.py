"""OpenAI's official SDK, pointed at a live Voicehub: /v1/audio/speech and /v1/models."""

import base64
import http.client
import io
import json
import urllib.parse
import urllib.request

import av
import openai
import pytest
import soundfile as sf

from accounts.models import Plan, UsageRecord
from synthesis.models import Generation
from synthesis.services.limits import concurrency_slot

# live_server answers from another thread: the data must be committed for it to see.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _isolated(fresh_cache, isolated_media):
    pass


def sdk(server, secret):
    # No retries: a test must see the first answer, not a retried one.
    return openai.OpenAI(base_url=server.url + "/v1", api_key=secret, max_retries=0)


@pytest.fixture
def alice(cast, server):
    with sdk(server, cast.key(cast.alice)) as client:
        yield client


def on_plan(organization, slug):
    organization.plan = Plan.objects.get(slug=slug)
    organization.save()


def duration(content: bytes) -> float:
    audio, rate = sf.read(io.BytesIO(content))
    return len(audio) / rate


def aac_duration(content: bytes) -> float:
    """Seconds of an ADTS AAC stream, decoded by FFmpeg (PyAV): libsndfile has no AAC."""
    with av.open(io.BytesIO(content), format="adts") as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.sample_rate) == ("aac", 24000)
        samples = sum(frame.samples for frame in container.decode(stream))
    return samples / 24000


AAC_EXTRA = (1024 / 24000, 2048 / 24000)  # ADTS keeps the encoder's priming and the last frame's padding


# -- speech -------------------------------------------------------------------------


@pytest.mark.model
def test_the_sdk_speaks_a_wav_that_decodes_and_is_charged_to_the_keys_organization(alice, cast, engine):
    speech = alice.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="wav")

    audio, rate = sf.read(io.BytesIO(speech.content))
    assert rate == 24000 and len(audio) / rate > 0.3
    generation = Generation.objects.get()
    assert generation.organization == cast.org_a and generation.voice == "af_alloy" and generation.output_format == "wav"
    assert UsageRecord.objects.get().status == "succeeded"
    cast.org_a.refresh_from_db()
    cast.org_b.refresh_from_db()
    assert (cast.org_a.characters_used, cast.org_b.characters_used) == (len("Hello."), 0)


@pytest.mark.model
@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
def test_every_compressed_openai_format_decodes(alice, cast, engine, fmt):
    on_plan(cast.org_a, "pro")

    speech = alice.audio.speech.create(model="tts-1-hd", voice="nova", input="Hello there.", response_format=fmt)

    assert duration(speech.content) > 0.3


@pytest.mark.model
def test_aac_is_an_adts_stream_of_the_speechs_length_whole_or_streamed(alice, engine):
    speech = alice.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.", response_format="aac")
    with alice.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="aac", stream_format="audio"
    ) as response:
        assert response.headers["content-type"] == "audio/aac"
        streamed = b"".join(response.iter_bytes())

    spoken = list(Generation.objects.order_by("created_at").values_list("audio_seconds", "output_format"))
    assert [f for _, f in spoken] == ["aac", "aac"] and spoken[0][0] > 0.5
    for content, (seconds, _) in zip([speech.content, streamed], spoken):
        assert content[:2] == b"\xff\xf1"  # ADTS: MPEG-4 AAC frames, as OpenAI sends its "aac"
        assert AAC_EXTRA[0] <= aac_duration(content) - seconds <= AAC_EXTRA[1] + 0.001


@pytest.mark.model
def test_pcm_is_raw_16_bit_samples_at_24_khz(alice, cast, engine):
    on_plan(cast.org_a, "pro")
    wav = alice.audio.speech.create(model="tts-1", voice="echo", input="Hello there.", response_format="wav").content

    pcm = alice.audio.speech.create(model="tts-1", voice="echo", input="Hello there.", response_format="pcm").content

    assert not pcm.startswith(b"RIFF") and len(pcm) % 2 == 0
    assert abs(len(pcm) / 2 / 24000 - duration(wav)) < 0.05


@pytest.mark.model
def test_a_kokoro_voice_and_model_work_and_instructions_are_reported_ignored(alice, engine):
    raw = alice.audio.speech.with_raw_response.create(
        model="kokoro", voice="bf_emma", input="Hello.", response_format="mp3", instructions="Speak cheerfully."
    )

    assert raw.headers["content-type"] == "audio/mpeg"
    assert raw.headers["x-voicehub-ignored"] == "instructions"
    assert Generation.objects.filter(voice="bf_emma").exists()  # sent chunked, as OpenAI does: no id header
    assert duration(raw.content) > 0.3


@pytest.mark.model
def test_stream_format_audio_streams_the_file_as_it_is_spoken(alice, engine):
    text = "First sentence is short. The second sentence is a little longer than the first one."

    with alice.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=text, response_format="wav", stream_format="audio"
    ) as response:
        assert "content-length" not in response.headers  # sent as it is synthesized
        content = b"".join(response.iter_bytes())

    audio, rate = sf.read(io.BytesIO(content))
    assert rate == 24000 and len(audio) / rate > 2
    assert Generation.objects.get().text == text
    assert UsageRecord.objects.get().status == "succeeded"


@pytest.mark.model
def test_speeds_beyond_the_models_range_are_time_stretched(alice, engine):
    def spoken(speed):
        text = "The quick brown fox jumps over the lazy dog."
        return duration(alice.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="wav", speed=speed).content)

    normal, fastest, slowest = spoken(1.0), spoken(4.0), spoken(0.25)

    # Ideally 1/4 and 4x; the model's own pauses and trimming make it approximate.
    assert fastest < normal * 0.45
    assert slowest > normal * 2.5
    assert sorted(Generation.objects.values_list("speed", flat=True)) == [0.25, 1.0, 4.0]


@pytest.mark.model
def test_a_streamed_speed_beyond_the_models_range_is_time_stretched_too(alice, engine):
    text = "The quick brown fox jumps over the lazy dog."
    normal = duration(alice.audio.speech.create(model="tts-1", voice="onyx", input=text, response_format="wav").content)

    with alice.audio.speech.with_streaming_response.create(
        model="tts-1", voice="onyx", input=text, response_format="wav", stream_format="audio", speed=4.0
    ) as response:
        fastest = duration(b"".join(response.iter_bytes()))

    assert fastest < normal * 0.45
    assert Generation.objects.get(speed=4.0).voice == "am_onyx"


@pytest.mark.model
def test_sse_sends_base64_audio_deltas_then_done_with_usage(alice, engine):
    text = "First sentence is short. The second sentence is a little longer than the first one."

    # The SDK has no event parser for speech: its streaming response hands out the event stream's lines.
    with alice.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="sage", input=text, response_format="wav", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]

    *deltas, done = events
    assert len(deltas) >= 2 and {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert done == {"type": "speech.audio.done", "usage": {"input_tokens": len(text), "output_tokens": 0, "total_tokens": len(text)}}
    assert duration(b"".join(base64.b64decode(e["audio"]) for e in deltas)) > 2


# -- chunked, as OpenAI sends speech ----------------------------------------------------


def raw_post(url, path, secret, body):
    """POST over a plain HTTP/1.1 connection and return (status, headers, body): the SDK hides the framing."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("stream_format", [None, "audio", "sse"])
@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_response_format_is_sent_chunked_without_content_length(live_asgi, cast, fake_engine, finished_requests, fmt, stream_format):
    on_plan(cast.org_a, "pro")
    body = {"model": "tts-1", "voice": "alloy", "input": "Hello there. How are you?", "response_format": fmt}
    if stream_format:
        body["stream_format"] = stream_format

    # uvicorn speaks real HTTP/1.1: a body of unknown length goes chunked (live_server's WSGI closes the connection instead).
    status, headers, content = raw_post(live_asgi.url, "/v1/audio/speech", cast.key(cast.alice), body)

    assert status == 200, content[:300]
    assert "content-length" not in headers
    assert headers["transfer-encoding"] == "chunked"
    finished_requests.wait()
    assert content and UsageRecord.objects.get().status == "succeeded"


# -- errors, in OpenAI's shape -------------------------------------------------------


def test_an_invalid_key_is_an_authentication_error(server, cast):
    client = sdk(server, "vh_nope_0000000000000000000000000000")

    with pytest.raises(openai.AuthenticationError) as error:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")

    assert error.value.status_code == 401
    assert error.value.body == {
        "message": "The API key is invalid, expired or revoked.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key",
    }


def test_input_over_4096_characters_is_a_bad_request_even_on_a_big_plan(alice, cast):
    on_plan(cast.org_a, "enterprise")  # 10,000 characters per request

    with pytest.raises(openai.BadRequestError) as error:
        alice.audio.speech.create(model="tts-1", voice="alloy", input="a" * 4097)

    assert error.value.body["param"] == "input" and error.value.body["code"] == "string_above_max_length"
    assert "4,096" in error.value.body["message"]
    assert not UsageRecord.objects.exists()


def test_input_over_the_plans_limit_is_a_bad_request(alice, cast):
    assert cast.org_a.plan.max_characters_per_request == 1000  # Free

    with pytest.raises(openai.BadRequestError) as error:
        alice.audio.speech.create(model="tts-1", voice="alloy", input="a" * 1001)

    assert "your plan's limit per request is 1,000" in error.value.body["message"]


@pytest.mark.parametrize(
    "change,param",
    [({"model": "whisper-1"}, "model"), ({"voice": "nobody"}, "voice"), ({"speed": 4.5}, "speed"), ({"speed": 0.2}, "speed"), ({"input": "  "}, "input")],
)
def test_a_bad_model_voice_speed_or_input_is_a_bad_request_naming_it(alice, change, param):
    request = {"model": "tts-1", "voice": "alloy", "input": "Hello.", **change}

    with pytest.raises(openai.BadRequestError) as error:
        alice.audio.speech.create(**request)

    assert error.value.body["param"] == param and error.value.body["type"] == "invalid_request_error"


@pytest.mark.model
def test_a_format_outside_the_plan_is_permission_denied_and_charges_nothing(alice, engine):
    with pytest.raises(openai.PermissionDeniedError) as error:
        alice.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="opus")

    assert error.value.body["code"] == "format_not_allowed"
    assert not UsageRecord.objects.exists()


def test_a_key_without_the_tts_scope_is_permission_denied(server, cast):
    client = sdk(server, cast.key(cast.alice, scopes=["voices:read"]))

    with pytest.raises(openai.PermissionDeniedError) as error:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")

    assert error.value.body["code"] == "missing_scope"


@pytest.mark.model
def test_an_exhausted_quota_is_429_insufficient_quota_that_the_sdk_does_not_retry(server, cast, engine):
    type(cast.org_a).objects.filter(pk=cast.org_a.pk).update(characters_used=cast.org_a.plan.monthly_characters)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=cast.key(cast.alice), max_retries=2)

    with pytest.raises(openai.RateLimitError) as error:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")

    assert error.value.body["code"] == "insufficient_quota" and error.value.body["type"] == "insufficient_quota"
    assert error.value.response.headers["x-should-retry"] == "false"
    assert not UsageRecord.objects.exists()


@pytest.mark.model
def test_a_request_past_the_concurrency_limit_is_a_rate_limit_error(alice, cast, engine):
    with concurrency_slot(organization=cast.org_a):  # Free: one at a time
        with pytest.raises(openai.RateLimitError) as error:
            alice.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")

    assert error.value.body["code"] == "concurrency_limited" and error.value.body["type"] == "requests"
    assert error.value.response.headers["retry-after"] == "1"


def test_a_saturated_machine_is_a_503_server_error(alice, fake_engine):
    fake_engine.max_queued = 0  # every slot of its queue taken

    with pytest.raises(openai.InternalServerError) as error:
        alice.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")

    assert error.value.status_code == 503
    assert error.value.body["code"] == "overloaded" and error.value.body["type"] == "server_error"


# -- models ---------------------------------------------------------------------------


def test_models_lists_the_speech_models_in_openais_shape(alice):
    models = alice.models.list()

    assert [m.id for m in models] == ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro"]
    assert {(m.object, m.owned_by) for m in models} == {("model", "voicehub")}
    assert alice.models.retrieve("tts-1").id == "tts-1"
    with pytest.raises(openai.NotFoundError):
        alice.models.retrieve("gpt-4o")


def test_deleting_a_model_is_refused_in_openais_shape(alice):
    # There are no fine-tuned models here to delete: the SDK gets a status error it can read, not a crash.
    with pytest.raises(openai.APIStatusError) as error:
        alice.models.delete("tts-1")

    assert error.value.status_code == 405
    assert error.value.body["type"] == "invalid_request_error" and error.value.body["code"] == "method_not_allowed"

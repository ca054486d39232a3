import io
import json

import pytest

from marketing.models import FunnelEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def speak(client, payload, **headers):
    return client.post("/demo/speak", json.dumps(payload), content_type="application/json", **headers)


@pytest.mark.model
def test_the_demo_streams_the_real_engine_chunk_by_chunk_and_counts_a_demo_play(visitor, engine):
    import soundfile

    text = "Hello from the demo. This second sentence is still being made when the first one is sent."
    response = speak(visitor, {"text": text, "voice": "bf_emma"})
    assert response.status_code == 200
    assert response.streaming  # not a whole file made before the first byte
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Disposition"] == 'attachment; filename="voicehub-demo.wav"'
    pieces = list(response.streaming_content)
    # The WAV header, then the audio of each chunk the engine made, sent one after the other.
    assert pieces[0][:4] == b"RIFF" and len(pieces[0]) == 44
    assert len([piece for piece in pieces[1:] if piece]) >= 2
    audio, rate = soundfile.read(io.BytesIO(b"".join(pieces)))
    assert rate == 24_000 and len(audio) / rate > 1.5 and abs(audio).max() > 0.01  # speech, not silence
    event = FunnelEvent.objects.get(kind=FunnelEvent.Kind.DEMO_PLAYED)
    assert event.path == "/" and len(event.visitor) == 32


@pytest.mark.model
def test_the_demo_sends_its_first_audio_before_the_engine_has_made_the_rest(visitor, engine, monkeypatch):
    """The first chunk leaves while the later ones are not made yet: the next piece is rendered only when asked for."""
    made = []
    real_stream = engine.stream

    def watched(*args, **kwargs):  # the real engine, its chunks counted as they come out
        for chunk in real_stream(*args, **kwargs):
            made.append(chunk.index)
            yield chunk

    monkeypatch.setattr(engine, "stream", watched)
    response = speak(
        visitor, {"text": "One short clause. Then a much longer sentence follows it, here.", "voice": "af_heart"}
    )
    pieces = iter(response.streaming_content)
    header, first_audio = next(pieces), next(pieces)
    made_when_first_sent = len(made)
    rest = list(pieces)
    response.close()
    assert header[:4] == b"RIFF" and first_audio
    assert made_when_first_sent == 1  # one chunk made, and already on its way
    assert len(made) > made_when_first_sent and any(rest)


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"text": "x" * 201, "voice": "af_heart"}, "max_character_limit_exceeded"),
        ({"text": "   ", "voice": "af_heart"}, "empty_text"),
        ({"voice": "af_heart"}, "empty_text"),
        ({"text": "Hello", "voice": "am_adam"}, "voice_not_allowed"),  # a voice, but not one of the demo's
        ({"text": "Hello"}, "voice_not_allowed"),
        ([], "parse_error"),
    ],
)
def test_bad_demo_requests_are_400_with_a_code_and_cost_no_try(visitor, settings, payload, code):
    settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = 0  # any request that got as far as the limits would be a 429
    response = speak(visitor, payload)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["detail"]


def test_exactly_200_characters_pass_validation(visitor, settings):
    settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = 0
    assert speak(visitor, {"text": "y" * 200, "voice": "af_heart"}).status_code == 429  # validated, then limited


def test_past_the_per_client_limit_the_demo_answers_429_demo_limited(visitor, settings):
    settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = 0
    response = speak(visitor, {"text": "Hello", "voice": "af_heart"})
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "demo_limited" and "this hour" in body["detail"]
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert not FunnelEvent.objects.exists()


def test_the_per_client_limit_follows_the_trusted_proxy_address(visitor, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = 1
    settings.VOICEHUB_DEMO_PER_MINUTE = 0  # a request past the client limit would reach this one
    client_a = {"HTTP_X_FORWARDED_FOR": "203.0.113.1"}
    first = speak(visitor, {"text": "Hello", "voice": "af_heart"}, **client_a)
    assert first.json()["code"] == "demo_limited" and "popular" in first.json()["detail"]  # global, not the client's
    second = speak(visitor, {"text": "Hello", "voice": "af_heart"}, **client_a)
    assert "this hour" in second.json()["detail"]  # now the client's own limit
    other = speak(visitor, {"text": "Hello", "voice": "af_heart"}, HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert "popular" in other.json()["detail"]  # another client still has its try


def test_past_the_global_limit_everyone_gets_429(visitor, settings):
    settings.VOICEHUB_DEMO_PER_MINUTE = 0
    response = speak(visitor, {"text": "Hello", "voice": "af_heart"}, REMOTE_ADDR="198.51.100.30")
    assert response.status_code == 429 and response.json()["code"] == "demo_limited"
    assert int(response["Retry-After"]) <= 60

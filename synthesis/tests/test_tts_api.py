import io
import json

import numpy as np
import pytest
import soundfile as sf
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(cast):
    """Alice's API client: her key, organization A (Free plan)."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    return api


def post_json(client, body, **extra):
    return client.post("/tts", data=json.dumps(body) if not isinstance(body, str) else body, content_type="application/json", **extra)


def assert_error(response, status, code):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


@pytest.mark.model
def test_it_returns_a_playable_wav_for_text(client, engine):
    response = post_json(client, {"text": "Hello from Voicehub.", "voice": "af", "speed": 1.0})

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    info = sf.info(io.BytesIO(response.content))
    assert (rate, info.channels, info.subtype, info.format) == (24000, 1, "PCM_16", "WAV")
    assert 0.8 < len(audio) / rate < 4.0
    assert np.abs(audio).max() > 0.05, "the file is silent"
    assert response["Character-Cost"] == str(len("Hello from Voicehub."))


@pytest.mark.model
def test_it_uses_the_default_voice_and_speed_when_omitted(client, engine):
    response = post_json(client, {"text": "Hi."})

    assert response.status_code == 200
    assert response.content[:4] == b"RIFF"


@pytest.mark.model
def test_it_accepts_text_exactly_at_the_limit(client, engine, cast):
    cast.org_a.plan.max_characters_per_request = 24
    cast.org_a.plan.save()
    response = post_json(client, {"text": "a" * 10 + " " + "b" * 13})

    assert response.status_code == 200


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_it_rejects_empty_or_whitespace_text(client, text):
    assert_error(post_json(client, {"text": text}), 400, "empty_text")


def test_it_rejects_a_request_without_text(client):
    assert_error(post_json(client, {"voice": "af"}), 400, "required")


def test_it_rejects_text_over_the_plans_per_request_limit_and_names_the_limit(client, cast):
    assert cast.org_a.plan.max_characters_per_request == 1000  # Free
    body = assert_error(post_json(client, {"text": "a" * 1001}), 400, "max_character_limit_exceeded")

    assert "1,000" in body["detail"]


@pytest.mark.parametrize("speed", [0.49, 2.01, 0, -1, 100, 1e308])
def test_it_rejects_a_speed_out_of_range(client, speed):
    assert_error(post_json(client, {"text": "Hello.", "speed": speed}), 400, "invalid_speed")


@pytest.mark.parametrize("speed", ["fast", "1.0", True, None, [1], {"x": 1}])
def test_it_rejects_a_speed_that_is_not_a_number(client, speed):
    response = post_json(client, {"text": "Hello.", "speed": speed})

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_speed", "null"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_a_speed_that_is_not_finite(client, literal):
    response = post_json(client, '{"text": "Hello.", "speed": ' + literal + "}")

    assert response.status_code == 400
    assert response.json()["code"] in {"parse_error", "invalid_speed"}


def test_it_answers_404_for_an_unknown_voice_and_says_where_to_list_voices(client):
    body = assert_error(post_json(client, {"text": "Hello.", "voice": "zz_nobody"}), 404, "voice_not_found")

    assert "/voices" in body["detail"]


def test_it_answers_404_for_a_voice_that_exists_but_is_not_available(client, monkeypatch):
    # As where misaki's Japanese packages are not installed (synthesis.engine.cjk): the voice is not offered.
    import dataclasses

    from synthesis.services.engine import get_voice_library

    library = get_voice_library()
    monkeypatch.setitem(library.voices, "jf_alpha", dataclasses.replace(library.voices["jf_alpha"], available=False))
    assert_error(post_json(client, {"text": "Hello.", "voice": "jf_alpha"}), 404, "voice_not_found")


@pytest.mark.parametrize(
    "content_type,body",
    [("text/plain", "Hello"), ("application/x-www-form-urlencoded", "text=Hello"), ("application/xml", "<t/>")],
)
def test_it_answers_415_for_a_body_that_is_not_json(client, content_type, body):
    assert_error(client.post("/tts", data=body, content_type=content_type), 415, "unsupported_media_type")


@pytest.mark.parametrize("raw", ['{"text": "Hello"', "{text: 1}", "\xff\xfe", '{"text": "a"}garbage'])
def test_it_answers_400_for_malformed_json(client, raw):
    assert_error(post_json(client, raw), 400, "parse_error")


@pytest.mark.parametrize(
    "body",
    [[], ["Hello"], "Hello", 42, None, {"text": 42}, {"text": ["Hello"]}, {"text": {"a": 1}}, {"text": "Hi", "voice": 7}, {"text": "Hi", "voice": None}],
)
def test_it_answers_400_for_a_body_of_the_wrong_shape(client, body):
    response = post_json(client, json.dumps(body))

    assert response.status_code == 400
    assert response.json()["code"]


@pytest.mark.model
@pytest.mark.parametrize("text", ["😀😀😀", "\x01\x02", "—…", "\ufeff", "👍🏽 ✨"])
def test_it_answers_400_for_text_with_nothing_to_speak(client, engine, text):
    assert_error(post_json(client, json.dumps({"text": text})), 400, "no_speakable_text")


@pytest.mark.parametrize("text", ["\ud800", "Hello \udfff world."])
def test_it_answers_400_for_text_with_a_lone_surrogate(client, text):
    # Valid JSON ("\\ud800" escapes) but not valid Unicode text.
    assert_error(post_json(client, json.dumps({"text": text})), 400, "surrogate_characters_not_allowed")


def test_it_refuses_get_on_tts(client):
    assert_error(client.get("/tts"), 405, "method_not_allowed")


def test_it_answers_413_in_json_for_a_huge_body(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_json(client, {"text": "a" * 5000})

    assert_error(response, 413, "payload_too_large")


def test_voices_lists_the_catalog(client):  # public: the catalog is not tenant data
    response = client.get("/voices")

    assert response.status_code == 200
    voices = {v["id"]: v for v in response.json()}
    english = [v for v in voices.values() if v["language"].startswith("en")]
    assert len(english) == 29  # 28 English v1.0 packs + the "af" mix
    assert {v["id"] for v in voices.values() if v["original"]} == {
        "af", "af_sky", "af_bella", "af_sarah", "af_nicole", "bf_emma",
        "bf_isabella", "am_adam", "am_michael", "bm_george", "bm_lewis",
    }
    assert voices["af"]["mix"] == {"af_bella": 1.0, "af_sarah": 1.0}
    assert voices["af_heart"]["gender"] == "female" and voices["af_heart"]["accent"] == "American"
    # Mandarin and Japanese are read by misaki (requirements.txt), so their voices are offered too.
    assert voices["jf_alpha"]["language"] == "ja" and voices["zf_xiaobei"]["language"] == "cmn"

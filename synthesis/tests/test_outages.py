"""A backend outage (database, cache, storage) is a 503 `service_unavailable` with Retry-After on every door, never a 500."""

import json

import pytest
from django.db.utils import InterfaceError, OperationalError
from rest_framework.test import APIClient

from synthesis.services.errors import ServiceUnavailable, StorageUnavailable
from synthesis.services.limits import count_in_window

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: every connection is refused at once; the timeouts
# only keep a test from hanging if something does.
CLOSED_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.fixture
def alice(cast, isolated_media):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    return client


@pytest.fixture
def cache_down(fake_engine, settings):
    original = settings.CACHES
    settings.CACHES = CLOSED_REDIS
    yield
    settings.CACHES = original  # before fake_engine's teardown clears the cache


def assert_unavailable(response):
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "5"
    return response.json()


def test_the_rate_limiter_turns_a_cache_that_is_down_into_service_unavailable(cache_down):
    with pytest.raises(ServiceUnavailable) as raised:
        count_in_window("rl:test", 60)

    assert raised.value.backend == "cache"


def test_native_tts_answers_503_while_the_cache_is_down(alice, cache_down):
    response = alice.post("/api/v1/tts", data=json.dumps({"text": "Hello."}), content_type="application/json")

    body = assert_unavailable(response)
    assert body["code"] == "service_unavailable" and body["detail"]


def test_openai_speech_answers_503_server_error_while_the_cache_is_down(alice, cache_down):
    response = alice.post(
        "/v1/audio/speech", data=json.dumps({"model": "tts-1", "input": "Hello.", "voice": "alloy"}), content_type="application/json"
    )

    error = assert_unavailable(response)["error"]
    assert error["code"] == "service_unavailable"
    assert error["type"] == "server_error"
    assert error["message"]


def test_elevenlabs_tts_answers_503_while_the_cache_is_down(alice, cache_down):
    response = alice.post("/v1/text-to-speech/af_heart", data=json.dumps({"text": "Hello."}), content_type="application/json")

    detail = assert_unavailable(response)["detail"]
    assert detail["status"] == "service_unavailable" and detail["message"]


def test_the_landing_demo_answers_503_json_while_the_cache_is_down(client, settings):
    settings.CACHES = CLOSED_REDIS

    response = client.post("/demo/speak", data=json.dumps({"text": "Hello.", "voice": "af_heart"}), content_type="application/json")

    body = assert_unavailable(response)
    assert body["code"] == "service_unavailable"


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"), InterfaceError("connection already closed")])
def test_an_api_view_whose_database_is_down_answers_503(alice, monkeypatch, error):
    def database_down(*args, **kwargs):
        raise error

    monkeypatch.setattr("synthesis.api.native.usage_per_day", database_down)

    response = alice.get("/api/v1/usage")

    assert assert_unavailable(response)["code"] == "service_unavailable"


def test_a_storage_outage_is_503_but_a_bare_os_error_stays_a_500(alice, monkeypatch):
    def storage_down(*args, **kwargs):
        raise StorageUnavailable() from OSError(5, "Input/output error")

    monkeypatch.setattr("synthesis.api.native.usage_per_day", storage_down)
    assert assert_unavailable(alice.get("/api/v1/usage"))["code"] == "service_unavailable"

    def bug(*args, **kwargs):
        raise FileNotFoundError("models/kokoro.onnx")

    monkeypatch.setattr("synthesis.api.native.usage_per_day", bug)
    alice.raise_request_exception = False
    assert alice.get("/api/v1/usage").status_code == 500


def test_a_studio_page_whose_database_is_down_is_a_short_503_page(client, cast, monkeypatch):
    client.force_login(cast.alice)

    def database_down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("synthesis.studio.views.usage_per_day", database_down)

    response = client.get("/studio/usage/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"briefly unavailable" in response.content


def test_a_studio_request_that_accepts_json_gets_json(client, cast, monkeypatch):
    client.force_login(cast.alice)

    def database_down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("synthesis.studio.views.usage_per_day", database_down)

    response = client.get("/studio/usage/", HTTP_ACCEPT="application/json")

    assert assert_unavailable(response) == {"detail": ServiceUnavailable().message, "code": "service_unavailable"}

import re

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.model
def test_readyz_is_ok_once_the_database_answers_and_the_model_is_loaded(client, engine):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "model": "ok"}


def test_readyz_is_unavailable_while_the_model_is_not_loaded(client, monkeypatch):
    from synthesis import health, services

    monkeypatch.setattr(services, "engine_loaded", lambda: False)
    monkeypatch.setattr(health, "_load_engine_in_background", lambda: None)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["model"] == "loading"


def test_the_openapi_schema_documents_tts_and_voices(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "audio/wav" in schema["paths"]["/tts"]["post"]["responses"]["200"]["content"]
    assert "/voices" in schema["paths"]
    for path in ["/api/v1/tts", "/api/v1/tts/stream", "/api/v1/history", "/api/v1/history/{generation_id}/audio", "/api/v1/usage", "/api/v1/user"]:
        assert path in schema["paths"], path
    assert schema["paths"]["/api/v1/tts"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert "ApiKey" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_are_served_without_any_external_request(client, page):
    response = client.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    external = re.findall(r"""(?:src|href)=["'](?:https?:)?//[^"']+""", html)
    assert external == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_assets_are_served_locally(client, page, settings):
    html = client.get(page).content.decode()
    scripts = re.findall(r"""<script[^>]+src=["']([^"']+)["']""", html)

    assert scripts
    for src in scripts:
        assert src.startswith("/static/"), src

import re
import threading

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
    assert response.json()["checks"] == {
        "database": "ok", "cache": "ok", "channel_layer": channel_layer_ok(), "storage": "ok", "model": "ok",
    }
    # VOICEHUB_ENGINE_BACKEND=auto: onnxruntime on a machine without CUDA (torch where there is one).
    from synthesis.engine.backends import cuda_available

    expected = {"loaded": True, "backend": "torch", "device": "cuda"} if cuda_available() else {
        "loaded": True, "backend": "onnx", "device": "cpu"}
    assert response.json()["engine"] == expected


def channel_layer_ok() -> str:
    """What readyz says of a healthy channel layer: in-memory by default, Redis in the scale-out pass."""
    from django.conf import settings

    return "ok (in-memory)" if "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"] else "ok"


@pytest.fixture
def model_loaded(monkeypatch):
    from synthesis.services import engine as services

    monkeypatch.setattr(services, "engine_loaded", lambda: True)


def test_readyz_is_unavailable_while_the_model_is_not_loaded(client, monkeypatch, isolated_media):
    from synthesis import health
    from synthesis.services import engine as services

    monkeypatch.setattr(services, "engine_loaded", lambda: False)
    monkeypatch.setattr(health, "_load_engine_in_background", lambda: None)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["model"] == "loading"


def test_a_model_that_fails_to_load_is_a_failed_check_with_its_reason_and_the_next_probe_tries_again(
    client, monkeypatch, isolated_media
):
    """A GPU image on a host whose GPU the container cannot see: /readyz says why instead of "loading" forever."""
    from synthesis import health
    from synthesis.services import engine as services

    attempts = []

    def broken():
        attempts.append(1)
        raise RuntimeError("Found no NVIDIA driver on your system")

    monkeypatch.setattr(services, "get_engine", broken)
    # Whatever earlier tests of this process loaded or started loading is not this test's engine.
    monkeypatch.setattr(services, "engine_loaded", lambda: False)
    monkeypatch.setattr(health, "_warming", threading.Lock())
    monkeypatch.setattr(health, "_load_error", None)
    health._load_engine_now()  # what the first probe starts in a thread

    body = client.get("/readyz").json()

    assert body["status"] == "unavailable"
    assert body["checks"]["model"] == "error: RuntimeError: Found no NVIDIA driver on your system"
    health._warming_thread.join(30)  # that probe started another try
    assert len(attempts) == 2


def test_readyz_checks_every_backend_and_is_ok_when_all_answer(client, model_loaded, isolated_media, settings):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body.pop("jobs_worker")["status"] in ("ok", "no_worker")  # beside the checks: not a reason to be unready
    assert body.pop("engine")["backend"] in ("auto", "onnx", "torch")  # what runs the model (docs/deploy.md)
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "channel_layer": channel_layer_ok(), "storage": "ok", "model": "ok"},
    }
    assert list(settings.MEDIA_ROOT.iterdir()) == []  # the storage probe cleans up after itself


def test_readyz_and_the_status_page_say_when_no_job_worker_is_running(client, model_loaded, isolated_media):
    """Not a failed check (web requests are served without one), but said plainly: long-form jobs would wait."""
    import time_machine

    from synthesis.jobs.service import worker_heartbeat

    with time_machine.travel("2026-11-25 09:30:00Z", tick=False) as clock:
        response = client.get("/readyz")
        assert response.status_code == 200
        worker = response.json()["jobs_worker"]
        assert worker["status"] == "no_worker" and worker["last_seen_at"] is None
        assert "manage.py jobs_worker" in worker["detail"]
        html = client.get("/status").content.decode()
        assert "none is running, so long-form jobs wait" in html and "All systems operational." in html

        worker_heartbeat(worker_id="host-1")
        assert client.get("/readyz").json()["jobs_worker"] == {
            "status": "ok", "last_seen_at": "2026-11-25T09:30:00+00:00", "detail": "A job worker is running.",
        }
        assert "Long-form job worker:</strong>\n      running." in client.get("/status").content.decode()

        clock.shift(61)
        assert client.get("/readyz").json()["jobs_worker"]["status"] == "no_worker"


def test_readyz_is_unavailable_while_the_cache_is_down(client, model_loaded, isolated_media, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens: refused at once
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == "error: ConnectionError"
    assert body["checks"]["database"] == "ok" and body["checks"]["storage"] == "ok"


def test_readyz_is_unavailable_while_the_redis_channel_layer_is_down(client, model_loaded, isolated_media, settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("error: ")


def test_readyz_is_unavailable_while_storage_cannot_be_written(client, model_loaded, isolated_media, settings):
    settings.MEDIA_ROOT.parent.mkdir(exist_ok=True)
    settings.MEDIA_ROOT.write_text("a file where the media directory should be")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["storage"].startswith("error: ")


def test_a_check_that_hangs_is_reported_as_no_answer_instead_of_hanging_the_probe(client, model_loaded, isolated_media, monkeypatch):
    import threading

    from synthesis import health

    release = threading.Event()
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)
    monkeypatch.setitem(health._BACKENDS, "storage", lambda: release.wait(5) and "ok")
    try:
        response = client.get("/readyz")
    finally:
        release.set()

    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "error: no answer within 0.2 s"


def _checks_table(html):
    return html.split('<table id="checks">')[1].split("</table>")[0]


def test_the_status_page_shows_each_check_and_the_overall_state_to_people(client, model_loaded, isolated_media):
    response = client.get("/status")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "All systems operational." in html
    for check in ("Database", "Cache", "Channel layer", "Audio storage", "Speech engine"):
        assert f'<th scope="row">{check}' in html, check
    assert _checks_table(html).count("badge--success") == 5
    assert client.get("/readyz").json()["status"] == "ok"  # the machines' JSON stays


def test_the_status_page_says_which_check_fails(client, monkeypatch, isolated_media):
    from synthesis import health
    from synthesis.services import engine as services

    monkeypatch.setattr(services, "engine_loaded", lambda: False)
    monkeypatch.setattr(health, "_load_engine_in_background", lambda: pytest.fail("a page view loads no model"))

    html = client.get("/status").content.decode()

    assert "Degraded." in html and _checks_table(html).count("badge--warning") == 1
    assert "<code>not loaded yet</code>" in html


def test_the_footer_status_link_opens_the_status_page(client):
    footer = client.get("/").content.decode().split('<footer class="mk-footer">')[1]
    assert re.search(r'<a href="/status">Status</a>', footer)
    assert '"/healthz"' not in footer


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
        # Our static files, Swagger UI's start-up script from the page's own URL (the split view), or ReDoc's bundle
        # from under its page (voicehub_site.redoc).
        assert src.startswith(("/static/", f"{page}?", f"{page}/")), src
        response = client.get(src)
        assert response.status_code == 200, src
        body = b"".join(response.streaming_content) if response.streaming else response.content
        # What the scripts themselves fetch: ReDoc's bundle shows Redocly's logo from its CDN.
        assert b"//cdn." not in body and b"//fonts." not in body, src


def test_redocs_bundle_is_served_compressed_and_revalidated(client):
    import gzip

    plain = client.get("/redoc/redoc.standalone.js")
    packed = client.get("/redoc/redoc.standalone.js", HTTP_ACCEPT_ENCODING="gzip, br")
    assert plain["Content-Type"].startswith("text/javascript") and packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content and len(packed.content) < len(plain.content) / 2
    assert client.get("/redoc/redoc.standalone.js", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304


def test_swagger_ui_shows_no_validator_badge_from_swagger_io(client):
    script = client.get("/docs?script").content.decode()
    assert '"validatorUrl": null' in script


@pytest.mark.parametrize("page_path", ["/docs", "/redoc"])
def test_the_api_docs_in_a_browser_make_no_request_off_the_site(page, page_path):
    refused = []  # what the Content-Security-Policy stopped before it left: an attempt all the same
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    page.goto(page_path)
    # Swagger UI and ReDoc ran and read the schema (ReDoc's sidebar has "API docs by Redocly" and its logo).
    page.wait_for_selector(".swagger-ui .info .title" if page_path == "/docs" else "text=API docs by Redocly")
    page.wait_for_load_state("networkidle")
    assert page.external_requests == [] and refused == []


def test_swagger_ui_keeps_deep_links_without_a_link_inside_an_operations_button(page):
    """The operation's path in its summary button is text (no control inside a control, axe's nested-interactive);
    opening the operation still puts it in the address bar, and that address opens it again."""
    page.goto("/docs")
    summary = page.locator(".opblock-summary-control").first
    summary.wait_for()
    assert page.locator(".opblock-summary-control a[href]").count() == 0
    assert page.locator(".opblock-tag a[href]").count() > 0  # the tags' own deep links stay

    summary.click()
    page.wait_for_url(re.compile(r"/docs#/.+/.+"))
    opened = page.url
    page.goto("about:blank")
    page.goto(opened)
    page.wait_for_selector(".opblock.is-open")


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_every_operation_has_an_example_and_response_examples_match_their_schema(client):
    """Swagger UI shows an example for every route; an example that drifts from its serializer is caught."""
    schema = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    missing, drifted = [], []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            examples = []
            for media in operation.get("requestBody", {}).get("content", {}).values():
                examples += [(None, e["value"]) for e in media.get("examples", {}).values()]
            for media_response in operation.get("responses", {}).values():
                for media in media_response.get("content", {}).values():
                    examples += [(media.get("schema"), e["value"]) for e in media.get("examples", {}).values()]
            if not examples:
                missing.append(f"{method.upper()} {path}")
            for documented, value in examples:
                documented = _resolve(schema, documented or {})
                if documented.get("type") == "object" and documented.get("properties") and isinstance(value, dict):
                    unknown = set(value) - set(documented["properties"])
                    if unknown:
                        drifted.append(f"{method.upper()} {path}: {sorted(unknown)}")
    assert not missing, f"operations without an example: {missing}"
    assert not drifted, f"examples with keys their schema lacks: {drifted}"


def test_the_compatibility_routes_are_documented_under_their_own_tags(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert schema["paths"]["/v1/audio/speech"]["post"]["tags"] == ["OpenAI compatible"]
    assert "stream_format" in str(schema["components"]["schemas"]["Speech"])
    for path in ("/v1/text-to-speech/{voice_id}", "/v1/text-to-speech/{voice_id}/stream", "/v1/history/download"):
        assert schema["paths"][path]["post"]["tags"] == ["ElevenLabs compatible"], path
    assert "OpenAIError" in schema["components"]["schemas"] and "ElevenLabsError" in schema["components"]["schemas"]


@pytest.mark.model
def test_a_voice_preview_is_public_and_cached(client, engine, isolated_media):
    first = client.get("/voices/af_heart/preview.mp3")
    second = client.get("/voices/af_heart/preview.mp3")

    assert first.status_code == 200 and first["Content-Type"] == "audio/mpeg"
    assert first.content == second.content and len(first.content) > 1000
    assert "public" in first["Cache-Control"]
    missing = client.get("/voices/xx_nobody/preview.mp3")
    assert missing.status_code == 404 and missing.json()["code"] == "voice_not_found"

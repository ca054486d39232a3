"""A hostile JSON body is a 400 `parse_error` in its door's own shape on every API route that reads one, never a 500.

The routes come from the URLconf: every DRF view with a POST, PUT or PATCH that
parses JSON, so a new door is covered without anyone remembering to add it.
"""

import json
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.parsers import JSONParser
from rest_framework.test import APIClient
from rest_framework.views import APIView

from synthesis.api.elevenlabs import elevenlabs_exception_handler
from synthesis.api.openai import openai_exception_handler

pytestmark = pytest.mark.django_db

# Routes whose handler never reads the body: a hostile one is ignored, as any body is.
BODYLESS = {("api_v1:job-cancel", "post")}

HOSTILE = {
    "nested-1000-deep": '{"text": "Hello.", "voice": ' + "[" * 1000 + "]" * 1000 + "}",
    "array-of-100k": '{"text": "Hello.", "ids": [' + ",".join(["0"] * 100_000) + "]}",
    "duplicate-keys": '{"text": "Hello.", "text": "Charge me for the other one."}',
    "nan": '{"text": "Hello.", "speed": NaN}',
}

# A path value for each URL converter; a voice id is a real voice, so a body reaches the parser.
BY_CONVERTER = {"UUIDConverter": uuid.UUID(int=1), "IntConverter": 0, "StringConverter": "x", "PathConverter": "x"}
BY_NAME = {"voice_id": "af_heart"}


def _json_routes(patterns=None, namespace=""):
    """(URL name, kwargs, method, view class) for every JSON-reading method of every DRF view."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _json_routes(pattern.url_patterns, inner)
            continue
        view = getattr(pattern.callback, "view_class", None)
        if not (isinstance(pattern, URLPattern) and view and issubclass(view, APIView) and pattern.name):
            continue
        if not any(issubclass(parser, JSONParser) for parser in view().parser_classes):
            continue
        converters = pattern.pattern.converters  # {name: converter} of the <converter:name> parts
        kwargs = {name: BY_NAME.get(name) or BY_CONVERTER[type(c).__name__] for name, c in converters.items()}
        for method in ("post", "put", "patch"):
            if hasattr(view, method) and (f"{namespace}{pattern.name}", method) not in BODYLESS:
                yield f"{namespace}{pattern.name}", kwargs, method, view


ROUTES = list(_json_routes())


def test_the_generated_routes_include_every_synthesis_door():
    names = {name for name, _, _, _ in ROUTES}

    assert {
        "synthesis:tts",
        "api_v1:tts",
        "api_v1:tts-stream",
        "api_v1:tts-timestamps",
        "api_v1:jobs",
        "api_v1:history-download",
        "compat:openai-speech",
        "compat:elevenlabs-tts",
        "compat:elevenlabs-tts-stream",
        "compat:elevenlabs-tts-timestamps",
        "compat:elevenlabs-history-download",
    } <= names


def error_code(response, view) -> str:
    """The machine code where this door's clients read it; asserts the rest of the vendor's shape too."""
    body = response.json()
    handler = view().get_exception_handler()
    if handler is openai_exception_handler:
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
        return body["error"]["code"]
    if handler is elevenlabs_exception_handler:
        assert body["detail"]["message"]
        return body["detail"]["status"]
    assert body["detail"]
    return body["code"]


@pytest.fixture
def alice(cast, fresh_cache):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    return client


@pytest.mark.parametrize(("name", "kwargs", "method", "view"), ROUTES, ids=[f"{m.upper()} {n}" for n, _, m, _ in ROUTES])
def test_a_hostile_body_is_a_400_parse_error_in_the_doors_shape(alice, name, kwargs, method, view):
    # One test per route, every body in it: the cast is set up once per route, not per body.
    answers = {}
    for kind, body in HOSTILE.items():
        response = getattr(alice, method)(reverse(name, kwargs=kwargs), data=body, content_type="application/json")
        answers[kind] = (response.status_code, error_code(response, view) if response.status_code == 400 else response.content[:200])

    assert answers == {kind: (400, "parse_error") for kind in HOSTILE}


def test_the_message_says_what_is_wrong(alice):
    response = alice.post("/api/v1/tts", data=HOSTILE["duplicate-keys"], content_type="application/json")

    assert response.json() == {"detail": "The JSON body repeats the key 'text': send each key once.", "code": "parse_error"}


def test_a_body_that_is_not_utf8_is_a_parse_error(alice):
    response = alice.post("/api/v1/tts", data=b'{"text": "\xff"}', content_type="application/json")

    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_brackets_inside_the_text_are_text_not_nesting(alice):
    # The body parses and reaches the voice lookup: an unknown voice, not a parse error.
    text = "[" * 100 + "]" * 100
    response = alice.post("/api/v1/tts", data=json.dumps({"text": text, "voice": "nobody"}), content_type="application/json")

    assert response.status_code == 404, response.json()
    assert response.json()["code"] == "voice_not_found"


def test_a_form_body_is_still_refused_as_unsupported(alice):
    response = alice.post("/api/v1/tts", data="text=Hello", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"

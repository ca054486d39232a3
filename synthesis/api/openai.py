"""
OpenAI's speech API on Voicehub: POST /v1/audio/speech and GET /v1/models.

Point the official SDK at us (`OpenAI(base_url=".../v1", api_key="vh_...")`) and it works
unchanged: the same services, limits, ledger and scopes as /api/v1/tts, with OpenAI's request
names, voices and error shape. Speech is sent chunked as it is made, as OpenAI does.
"""

import base64
import json
import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from synthesis.api import examples as ex
from synthesis.api.common import IgnoreAccept, SynthesisView, audio_response, output_format
from synthesis.api.compat_schema import (
    BINARY_AUDIO,
    OPENAI_ERROR,
    OPENAI_SPEECH_ERRORS,
    OPENAI_SPEECH_EXAMPLES,
    OPENAI_TAG,
)
from synthesis.api.errors import APIError, _first_error, exception_handler
from synthesis.api.serializers import (
    FormatField,
    KokoroFields,
    NumberField,
    StringField,
    kokoro_ignored,
    kokoro_voice,
    pronunciation_locators_field,
)
from synthesis.api.streaming import stream_response
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.session import COMPAT_MAX_SPEED, COMPAT_MIN_SPEED, Caller, Order, session_open

# --------------------------------------------------------------------------------------------
# Errors: {"error": {"message", "type", "param", "code"}}


def _error_type(status_code: int, code: str) -> str:
    if code == "insufficient_quota":
        return "insufficient_quota"
    if status_code == 429:
        return "requests"
    if status_code >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_exception_handler(exc, context):
    """The native error, reshaped as OpenAI's. Status codes follow OpenAI where they differ."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    native = response.data
    code = native.get("code") or "error"
    param = native.get("param")
    if isinstance(exc, exceptions.ValidationError):
        field, _ = _first_error(exc.detail) or (None, None)
        param = field or None
    if response.status_code == 402:
        # OpenAI answers an exhausted quota with 429 insufficient_quota; tell its SDK not to retry.
        response.status_code = 429
        response["x-should-retry"] = "false"
        code = "insufficient_quota"
    elif code == "voice_not_found":
        # For OpenAI, `voice` is a request parameter: an unknown one is a bad request.
        response.status_code = 400
        param = "voice"
        native["detail"] = f"{native.get('detail', '')} OpenAI voices ({', '.join(VOICES)}) work too."
    message = native.get("detail", "")  # a quota message already says when it resets
    response.data = {"error": {"message": message, "type": _error_type(response.status_code, code), "param": param, "code": code}}
    return response


class OpenAIView(APIView):
    content_negotiation_class = IgnoreAccept

    def get_exception_handler(self):
        return openai_exception_handler


# --------------------------------------------------------------------------------------------
# POST /v1/audio/speech

MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro")
# Dated snapshots of gpt-4o-mini-tts that the SDK documents; they mean the same here.
MODEL_ALIASES = ("gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts-2025-12-15")
MAX_INPUT = 4096  # OpenAI's own limit; the plan's per-request limit applies too

# OpenAI's voices, each given the Kokoro voice closest in gender and character (and, where
# Kokoro has one of the same name, that one).
VOICES = {
    "alloy": "af_alloy",
    "ash": "am_fenrir",  # am_adam is Kokoro's lowest-graded voice (F+); Fenrir is C+
    "ballad": "bm_george",
    "coral": "af_heart",
    "echo": "am_echo",
    "fable": "bm_fable",
    "onyx": "am_onyx",
    "nova": "af_nova",
    "sage": "af_sarah",
    "shimmer": "af_bella",
    "verse": "am_michael",
    "marin": "af_kore",
    "cedar": "am_puck",
}

# response_format -> our format name (the same, but said explicitly: pcm is 24 kHz 16-bit LE).
RESPONSE_FORMATS = {"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac", "wav": "wav", "pcm": "pcm"}

# One server-sent event as OpenAPI 3.0 describes an event stream (the schema is each event's, as
# parsed: its `data` line; schemathesis reads it so): the data is the JSON of sse_events.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": '`{"type": "speech.audio.delta", "audio": <base64>}`, then '
            '`{"type": "speech.audio.done", "usage": {"input_tokens", "output_tokens", "total_tokens"}}`.',
        },
    },
    "required": ["data"],
}


class SpeechSerializer(KokoroFields):
    model = StringField(max_length=64, default="kokoro")  # Kokoro-FastAPI's default; OpenAI's SDK always sends it
    input = StringField(trim_whitespace=False, allow_blank=True)
    voice = serializers.JSONField(
        default="af_heart",
        help_text="An OpenAI voice name, a Kokoro voice id, a mix (\"af_bella(2)+af_sky(1)\", or a list of ids), or {\"id\": ...}.",
    )
    instructions = StringField(required=False, allow_blank=True, help_text="Accepted and ignored: Kokoro takes no style prompt.")
    response_format = FormatField(default="mp3")
    speed = NumberField(default=1.0, field_code="invalid_speed")
    # Omitted or "audio": the file, sent chunked as each sentence is synthesized (as OpenAI sends
    # speech: no Content-Length). "sse": OpenAI's speech.audio.* events.
    stream_format = serializers.ChoiceField(choices=["audio", "sse"], required=False)
    # Not OpenAI's (it has no pronunciation dictionaries): ElevenLabs' field, so an OpenAI client can name the
    # organization's dictionaries with `extra_body`; OpenAI's SDK sends it as is.
    pronunciation_dictionary_locators = pronunciation_locators_field()

    def validate_model(self, model):
        if model not in MODELS + MODEL_ALIASES:
            raise serializers.ValidationError(
                f"Unknown model {model!r}. Use one of: {', '.join(MODELS)} (all are Kokoro-82M here).", code="model_not_found"
            )
        return model

    def validate_input(self, text):
        if not text.strip():
            raise serializers.ValidationError("must not be empty or only whitespace.", code="empty_text")
        limit = min(MAX_INPUT, self.context["max_characters"])
        if len(text) > limit:
            why = "the maximum" if limit == MAX_INPUT else "your plan's limit per request"
            raise serializers.ValidationError(
                f"is {len(text):,} characters; {why} is {limit:,}.", code="string_above_max_length"
            )
        return text

    def validate_voice(self, voice):
        if isinstance(voice, dict):
            voice = voice.get("id")
        voice = kokoro_voice(voice)
        if "+" in voice:  # a mix: each part may be an OpenAI name, with an optional (weight)
            return "+".join(_mapped_part(part) for part in voice.split("+"))
        return VOICES.get(voice, voice)

    def validate_speed(self, speed):
        if not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
            raise serializers.ValidationError(
                f"must be between {COMPAT_MIN_SPEED} and {COMPAT_MAX_SPEED}, got {speed}.", code="invalid_speed"
            )
        return speed


def _mapped_part(part: str) -> str:
    name, bracket, weight = part.partition("(")
    return VOICES.get(name, name) + bracket + weight


class SpeechView(SynthesisView):
    content_negotiation_class = IgnoreAccept

    def get_exception_handler(self):
        return openai_exception_handler

    @extend_schema(
        tags=[OPENAI_TAG],
        operation_id="openai_audio_speech",
        summary="OpenAI: create speech",
        description=(
            "OpenAI's `POST /v1/audio/speech`. Without `stream_format`, or with `audio`, the file is sent chunked "
            "sentence by sentence as it is synthesized (no Content-Length), in any `response_format` (`aac` is ADTS); "
            "`sse` sends `speech.audio.delta` events (base64 audio) "
            "and a final `speech.audio.done` with usage. OpenAI voice names map to Kokoro voices; Kokoro ids work too. "
            "`instructions` is accepted and ignored (header `x-voicehub-ignored`)."
        ),
        request=SpeechSerializer,
        responses={
            (200, "audio/*"): BINARY_AUDIO,
            (200, "text/event-stream"): OpenApiResponse(SSE_EVENT, description="With stream_format=sse: one event per piece of audio, then `speech.audio.done`."),
            **OPENAI_SPEECH_ERRORS,
        },
        examples=OPENAI_SPEECH_EXAMPLES,
    )
    def post(self, request):
        serializer = SpeechSerializer(
            data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request}
        )
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        fmt = output_format(RESPONSE_FORMATS.get(body["response_format"], body["response_format"]), param="response_format")
        link = body["return_download_link"]
        kept = output_format(body["download_format"], param="download_format") if link and body.get("download_format") else None
        order = Order(
            text=body["input"], voice=body["voice"], fmt=fmt, speed=body["speed"],
            normalize=(body.get("normalization_options") or {}).get("normalize", True), store_fmt=kept,
            volume=body["volume_multiplier"], history_id=uuid.uuid4() if link else None, language=body.get("lang_code"),
            foreign_language=True,
            lexicon=lexicon_for(organization=request.organization, locators=body.get("pronunciation_dictionary_locators")),
        )
        # OpenAI sends speech chunked, as it is made; so does Kokoro-FastAPI unless `stream` is false.
        streaming = body["stream"] or "stream_format" in body
        session = session_open(caller=Caller.of(request), order=order, streaming=streaming)
        if not streaming:
            response = audio_response(session.render(), session)
        elif body.get("stream_format") == "sse":
            events = sse_events(session.encoded(), len(order.text))
            response = stream_response(request, session, events, "text/event-stream", filename=None)
        else:
            response = stream_response(request, session, session.encoded(), fmt.media_type, filename=f"speech.{fmt.extension}")
        if link:
            # Kokoro-FastAPI's header, relative to its /v1 base: the history item, kept under this id once spoken.
            response["X-Download-Path"] = f"/download/{order.history_id}.{(kept or fmt).extension}"
        ignored = (["instructions"] if body.get("instructions") else []) + kokoro_ignored(body)
        if ignored:
            response["x-voicehub-ignored"] = ",".join(ignored)
        return response


def sse_events(body, characters):
    """OpenAI's speech events: base64 audio deltas in the requested format, then `done` with usage.

    Closing this generator (the client went away) closes `body`, which settles the charge for
    what was spoken and frees the concurrency slot.
    """
    try:
        for data in body:
            if data:
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}
                yield f"data: {json.dumps(event)}\n\n".encode()
        # Voicehub charges characters: they stand in for OpenAI's input tokens.
        usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
        yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n".encode()
    finally:
        body.close()


# --------------------------------------------------------------------------------------------
# GET /v1/models

CREATED = 1737936000  # 2025-01-27, when Kokoro-82M v1.0 was released


def model_object(model_id):
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "voicehub"}


class OpenAIModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class OpenAIModelListSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = OpenAIModelSerializer(many=True)


MODELS_LIST_SCHEMA = extend_schema(
    tags=[OPENAI_TAG],
    operation_id="openai_models_list",
    summary="OpenAI: list models (all are Kokoro-82M)",
    description="With an `xi-api-key` header the same path answers ElevenLabs' model list instead.",
    auth=[{"ApiKey": []}],
    responses={200: OpenAIModelListSerializer, 401: OpenApiResponse(OPENAI_ERROR)},
    examples=ex.OPENAI_MODELS,
)


class ModelsView(OpenAIView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @MODELS_LIST_SCHEMA
    def get(self, request):
        return Response({"object": "list", "data": [model_object(m) for m in MODELS]})


class ModelDetailView(OpenAIView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @extend_schema(
        tags=[OPENAI_TAG],
        operation_id="openai_models_get",
        summary="OpenAI: one model",
        responses={200: OpenAIModelSerializer, 401: OpenApiResponse(OPENAI_ERROR), 404: OpenApiResponse(OPENAI_ERROR)},
        examples=ex.OPENAI_MODEL,
    )
    def get(self, request, model_id):
        if model_id not in MODELS + MODEL_ALIASES:
            raise APIError(f"The model {model_id!r} does not exist.", code="model_not_found", status_code=404, param="model")
        return Response(model_object(model_id))

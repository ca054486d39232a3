"""
ElevenLabs' API on Voicehub: text to speech (whole and streamed), voices, models, user,
subscription and history, in ElevenLabs' shapes.

Point the official SDK at us (`ElevenLabs(api_key="vh_...", base_url="https://voicehub...")`)
and it works unchanged. The SDK sends the key as `xi-api-key`, which ApiKeyAuthentication
accepts; everything is scoped to the key's organization, with the native API's scopes, limits
and ledger. Voice ids are Voicehub's (Kokoro's) ids, or ElevenLabs' premade voice ids and names
(synthesis.engine.premade: each spoken by the closest Kokoro voice).
"""

import base64
import json
import uuid
from datetime import UTC, datetime

from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey, Plan
from accounts.permissions import HasScope
from synthesis.api import examples as ex
from synthesis.api.common import (
    JSON_LINES,
    IgnoreAccept,
    SynthesisView,
    api_key_of,
    as_download,
    audio_file_response,
    audio_response,
    history_of,
    output_format,
    zip_response,
)
from synthesis.api.compat_schema import (
    BINARY_AUDIO,
    ELEVENLABS_ERROR,
    ELEVENLABS_PARSE_ERROR,
    ELEVENLABS_READ_ERRORS,
    ELEVENLABS_TAG,
    ELEVENLABS_TIMESTAMPS_RESPONSE,
    ELEVENLABS_TTS_ERRORS,
    ELEVENLABS_TTS_EXAMPLES,
    ENABLE_LOGGING,
    HISTORY_ITEM_ID,
    JSON_OBJECT,
    OUTPUT_FORMAT,
    VOICE_ID,
)
from synthesis.api.dictionaries import dictionary_with_body
from synthesis.api.errors import APIError, exception_handler
from synthesis.api.parsers import StrictJSONParser
from synthesis.api.serializers import NumberField, StringField, TTSRequestSerializer, pronunciation_locators_field
from synthesis.api.streaming import stream_response
from synthesis.engine.premade import ELEVENLABS_PREMADE, premade_voice
from synthesis.engine.voices import VoiceNotFound
from synthesis.services import pronunciation
from synthesis.services.engine import get_voice_library
from synthesis.services.history import generation_delete
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.saved_voices import saved_voice_delete, saved_voice_update
from synthesis.services.session import COMPAT_MAX_SPEED, COMPAT_MIN_SPEED, Caller, Order, Segment, session_open
from synthesis.services.ssml import scripted
from synthesis.services.voices import (
    SAVED_PREFIX,
    available_voices,
    catalog_voice,
    resolve_voice,
    saved_voice,
    saved_voices_of,
)

# --------------------------------------------------------------------------------------------
# Errors: {"detail": {"status": "<code>", "code": "<code>", "message": "..."}}

# Native code -> (ElevenLabs' HTTP status, its legacy `detail.status`, its `detail.code`), where they differ.
# ElevenLabs answers a spent quota with 401 quota_exceeded (its help centre's "API Error Code 400 or
# 401"; real bodies in home-assistant/core#160414), and every throttle with 429: rate_limit_exceeded,
# too_many_concurrent_requests (code concurrent_limit_exceeded in its current errors page) and, when it
# is itself overloaded, system_busy (help centre "API Error Code 429"). SDKs and wrappers branch on
# these: a 429 is retried (the SDK does it), a 401 quota_exceeded is not.
_ELEVENLABS_ERRORS = {
    "quota_exceeded": (401, "quota_exceeded", "quota_exceeded"),
    "rate_limited": (429, "rate_limit_exceeded", "rate_limit_exceeded"),
    "concurrency_limited": (429, "too_many_concurrent_requests", "concurrent_limit_exceeded"),
    "overloaded": (429, "system_busy", "system_busy"),
}


def elevenlabs_error(code: str, status: int, message: str, **extra) -> tuple[int, dict]:
    """(HTTP status, body) of a Voicehub error (native code and status) in ElevenLabs' statuses and shape.

    The one mapping of every ElevenLabs door, REST and websocket alike. `extra`
    (e.g. resets_at) joins the detail; None values are left out.
    """
    status, legacy, current = _ELEVENLABS_ERRORS.get(code, (status, code, code))
    detail = {"status": legacy, "code": current, "message": message}
    detail.update({name: value for name, value in extra.items() if value is not None})
    return status, {"detail": detail}


def elevenlabs_exception_handler(exc, context):
    """The native error, reshaped as ElevenLabs'. Invalid bodies are 422, as ElevenLabs answers them."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    native = response.data
    status = 422 if isinstance(exc, exceptions.ValidationError) else response.status_code
    code = native.get("code") or "error"
    message = native.get("detail", "")
    voice_id = (context.get("kwargs") or {}).get("voice_id")
    if code == "voice_not_found" and voice_id:
        message = f"A voice with the voice_id {voice_id!r} was not found."
    response.status_code, response.data = elevenlabs_error(code, status, message, resets_at=native.get("resets_at"))
    return response


class ElevenLabsMixin:
    content_negotiation_class = IgnoreAccept

    def get_exception_handler(self):
        return elevenlabs_exception_handler


class ElevenLabsView(ElevenLabsMixin, APIView):
    pass


def text_to_speech_schema(operation_id, summary, ok, description="", media=None):
    """The schema shared by the three text-to-speech routes: their path, query, body, errors and example."""
    return extend_schema(
        tags=[ELEVENLABS_TAG],
        operation_id=operation_id,
        summary=summary,
        description=description + "`voice_settings.speed` (0.25-4.0) is used; the other voice settings are accepted "
        "and ignored, named in the `x-voicehub-ignored` header.",
        parameters=[VOICE_ID, OUTPUT_FORMAT, ENABLE_LOGGING],
        request=TextToSpeechSerializer,
        responses={(200, media) if media else 200: ok, **ELEVENLABS_TTS_ERRORS},
        examples=ELEVENLABS_TTS_EXAMPLES,
    )


def voice_not_found(voice_id):
    return APIError(f"A voice with the voice_id {voice_id!r} was not found.", code="voice_not_found", status_code=404)


def history_item_not_found(history_item_id):
    return APIError(
        f"A history item with the id {history_item_id!r} was not found.", code="history_item_not_found", status_code=404
    )


# --------------------------------------------------------------------------------------------
# POST /v1/text-to-speech/{voice_id} and /v1/text-to-speech/{voice_id}/stream


class VoiceSettingsSerializer(serializers.Serializer):
    stability = NumberField(required=False, allow_null=True)
    similarity_boost = NumberField(required=False, allow_null=True)
    style = NumberField(required=False, allow_null=True)
    use_speaker_boost = serializers.BooleanField(required=False, allow_null=True)
    speed = NumberField(required=False, allow_null=True, field_code="invalid_speed")

    def validate_speed(self, speed):
        if speed is not None and not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
            raise serializers.ValidationError(
                f"must be between {COMPAT_MIN_SPEED} and {COMPAT_MAX_SPEED}, got {speed}.", code="invalid_speed"
            )
        return speed


class TextToSpeechSerializer(serializers.Serializer):
    text = StringField(trim_whitespace=False, allow_blank=True)
    model_id = StringField(required=False, allow_null=True, max_length=100, help_text="Any model id: all are Kokoro-82M here.")
    voice_settings = VoiceSettingsSerializer(required=False, allow_null=True)
    apply_text_normalization = serializers.ChoiceField(choices=["auto", "on", "off"], required=False, allow_null=True)
    language_code = StringField(
        required=False, allow_null=True, max_length=35,
        help_text="ISO 639-1 (or BCP 47): the voice must speak it (400 unsupported_language otherwise); en-GB/en-US "
        "choose English words.",
    )
    pronunciation_dictionary_locators = pronunciation_locators_field()

    validate_text = TTSRequestSerializer.validate_text  # empty text, the plan's per-request limit


# What we act on; any other field (seed, previous_text, ...) is accepted and ignored.
USED_FIELDS = {
    "text", "model_id", "voice_settings", "apply_text_normalization", "language_code", "pronunciation_dictionary_locators"
}
USED_QUERY = {"output_format", "enable_logging"}
# A dialogue's lines: enough for any scene, few enough that planning them stays cheap.
MAX_DIALOGUE_INPUTS = 100


def ignored_parameters(request) -> list[str]:
    """The parameters a client sent that change nothing here, for the x-voicehub-ignored header."""
    ignored = [name for name, value in request.data.items() if name not in USED_FIELDS and value not in (None, "", [], {})]
    settings = request.data.get("voice_settings") or {}
    ignored += [f"voice_settings.{name}" for name, value in settings.items() if name != "speed" and value is not None]
    ignored += [name for name, value in request.query_params.items() if name not in USED_QUERY and value]
    return ignored


def text_to_speech_order(request, voice_id) -> Order:
    """ElevenLabs' body and query as the session's order."""
    serializer = TextToSpeechSerializer(
        data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request}
    )
    serializer.is_valid(raise_exception=True)
    body = serializer.validated_data
    fmt = output_format(request.query_params.get("output_format", "mp3_44100_128"), status_code=422, code="invalid_output_format")
    order = Order(
        text=body["text"],
        voice=voice_id,
        fmt=fmt,
        speed=(body.get("voice_settings") or {}).get("speed") or 1.0,
        normalize=(body.get("apply_text_normalization") or "auto") != "off",
        # enable_logging=false is ElevenLabs' zero-retention mode: nothing kept in history.
        store=request.query_params.get("enable_logging", "true").lower() not in ("false", "0"),
        language=body.get("language_code"),
        lexicon=lexicon_for(organization=request.organization, locators=body.get("pronunciation_dictionary_locators")),
    )
    # ElevenLabs reads its <break time="1.5s" /> and <phoneme> tags in ordinary text.
    return scripted(order, markup="elevenlabs")


def with_ignored(request, response):
    ignored = ignored_parameters(request)
    if ignored:
        response["x-voicehub-ignored"] = ",".join(ignored)
    return response


class TextToSpeechView(ElevenLabsMixin, SynthesisView):
    @text_to_speech_schema("elevenlabs_text_to_speech", "ElevenLabs: text to speech", BINARY_AUDIO, media="audio/*")
    def post(self, request, voice_id):
        session = session_open(caller=Caller.of(request), order=text_to_speech_order(request, voice_id))
        return with_ignored(request, audio_response(session.render(), session))


class TextToSpeechWithTimestampsView(ElevenLabsMixin, SynthesisView):
    """The audio as base64 and when each character is spoken, from the model's own phoneme durations."""

    @text_to_speech_schema("elevenlabs_text_to_speech_with_timestamps", "ElevenLabs: text to speech with character timestamps", ELEVENLABS_TIMESTAMPS_RESPONSE, "Character start and end times come from the model's own phoneme durations. ")
    def post(self, request, voice_id):
        session = session_open(caller=Caller.of(request), order=text_to_speech_order(request, voice_id), timed=True)
        result = session.render_timed()
        response = Response(
            {
                "audio_base64": base64.b64encode(result.content).decode("ascii"),
                "alignment": result.alignment,
                "normalized_alignment": result.normalized_alignment,
            }
        )
        for name, value in session.headers().items():
            response[name] = value
        if result.generation is not None:
            response["history-item-id"] = str(result.generation.id)
        return with_ignored(request, as_download(response))  # JSON, not a file, but the audio is in it


class TextToSpeechStreamView(ElevenLabsMixin, SynthesisView):
    @text_to_speech_schema("elevenlabs_text_to_speech_stream", "ElevenLabs: text to speech, streamed", BINARY_AUDIO, "Audio is sent clause by clause as it is synthesized. ", media="audio/*")
    def post(self, request, voice_id):
        order = text_to_speech_order(request, voice_id)
        session = session_open(caller=Caller.of(request), order=order, streaming=True)
        stream = stream_response(request, session, session.encoded(), order.fmt.media_type, filename=f"speech.{order.fmt.extension}")
        return with_ignored(request, stream)


class TextToSpeechStreamWithTimestampsView(ElevenLabsMixin, SynthesisView):
    """ElevenLabs' framing: one JSON object a line, each a piece of audio (base64) with when its characters are spoken."""

    @text_to_speech_schema(
        "elevenlabs_text_to_speech_stream_with_timestamps", "ElevenLabs: text to speech, streamed with character timestamps",
        ELEVENLABS_TIMESTAMPS_RESPONSE,
        "Newline-delimited JSON objects `{audio_base64, alignment, normalized_alignment}`, sent clause by clause as "
        "they are synthesized; character times are from the start of the whole audio, from the model's own phoneme "
        "durations. ",
        media=JSON_LINES,
    )
    def post(self, request, voice_id):
        order = text_to_speech_order(request, voice_id)
        session = session_open(caller=Caller.of(request), order=order, streaming=True, timed=True)
        frames = session.encoded(aligned=timestamped_frame)
        return with_ignored(request, stream_response(request, session, frames, JSON_LINES, filename=None))


def timestamped_frame(audio: bytes, alignment: dict, normalized_alignment: dict, **extra) -> bytes:
    """One line of ElevenLabs' stream with timestamps (the SDK reads the body line by line)."""
    frame = {
        "audio_base64": base64.b64encode(audio).decode("ascii"),
        "alignment": alignment,
        "normalized_alignment": normalized_alignment,
        **extra,
    }
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# --------------------------------------------------------------------------------------------
# POST /v1/text-to-dialogue and /v1/text-to-dialogue/stream


class DialogueInputSerializer(serializers.Serializer):
    text = StringField(trim_whitespace=False)
    voice_id = StringField(max_length=200)

    def validate_text(self, text):
        if not text.strip():
            raise serializers.ValidationError("must not be empty or only whitespace.", code="empty_text")
        return text


class TextToDialogueSerializer(serializers.Serializer):
    inputs = DialogueInputSerializer(many=True, allow_empty=False, max_length=MAX_DIALOGUE_INPUTS)
    model_id = StringField(required=False, allow_null=True, max_length=100, help_text="Any model id: all are Kokoro-82M here.")
    apply_text_normalization = serializers.ChoiceField(choices=["auto", "on", "off"], required=False, allow_null=True)
    pronunciation_dictionary_locators = pronunciation_locators_field()

    def validate_inputs(self, inputs):
        total, limit = sum(len(i["text"]) for i in inputs), self.context["max_characters"]
        if total > limit:
            raise serializers.ValidationError(
                f"are {total:,} characters together; your plan's limit per request is {limit:,}.",
                code="max_character_limit_exceeded",
            )
        return inputs


DIALOGUE_FIELDS = {"inputs", "model_id", "apply_text_normalization", "pronunciation_dictionary_locators"}


def text_to_dialogue_order(request) -> Order:
    """ElevenLabs' dialogue as one order: its lines spoken in turn, each in its voice, as one audio."""
    serializer = TextToDialogueSerializer(
        data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request}
    )
    serializer.is_valid(raise_exception=True)
    body = serializer.validated_data
    fmt = output_format(request.query_params.get("output_format", "mp3_44100_128"), status_code=422, code="invalid_output_format")
    segments = tuple(Segment(text=i["text"], voice=i["voice_id"]) for i in body["inputs"])
    return Order(
        text="\n".join(s.text for s in segments),
        voice=segments[0].voice,
        fmt=fmt,
        normalize=(body.get("apply_text_normalization") or "auto") != "off",
        store=request.query_params.get("enable_logging", "true").lower() not in ("false", "0"),
        segments=segments,
        lexicon=lexicon_for(organization=request.organization, locators=body.get("pronunciation_dictionary_locators")),
    )


def dialogue_ignored(request, response):
    ignored = [name for name, value in request.data.items() if name not in DIALOGUE_FIELDS and value not in (None, "", [], {})]
    ignored += [name for name, value in request.query_params.items() if name not in USED_QUERY and value]
    if ignored:
        response["x-voicehub-ignored"] = ",".join(ignored)
    return response


def text_to_dialogue_schema(operation_id, summary, description="", ok=BINARY_AUDIO, media="audio/*"):
    return extend_schema(
        tags=[ELEVENLABS_TAG],
        operation_id=operation_id,
        summary=summary,
        description=description + "The `inputs` are spoken in order, each in its own voice, as one audio (one charge: "
        "the characters of the lines; one history item). `settings`, `seed` and the other fields are accepted and "
        "ignored, named in the `x-voicehub-ignored` header.",
        parameters=[OUTPUT_FORMAT, ENABLE_LOGGING],
        request=TextToDialogueSerializer,
        responses={(200, media): ok, **ELEVENLABS_TTS_ERRORS},
        examples=[
            OpenApiExample(
                "Two speakers",
                value={
                    "inputs": [
                        {"text": "Hello, who is there?", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
                        {"text": "It is me, George.", "voice_id": "JBFqnCBsd6RMkjVDRZzb"},
                    ],
                    "model_id": "eleven_v3",
                },
                request_only=True,
            )
        ],
    )


class TextToDialogueView(ElevenLabsMixin, SynthesisView):
    @text_to_dialogue_schema("elevenlabs_text_to_dialogue", "ElevenLabs: text to dialogue")
    def post(self, request):
        session = session_open(caller=Caller.of(request), order=text_to_dialogue_order(request))
        return dialogue_ignored(request, audio_response(session.render(), session))


class TextToDialogueStreamView(ElevenLabsMixin, SynthesisView):
    @text_to_dialogue_schema(
        "elevenlabs_text_to_dialogue_stream", "ElevenLabs: text to dialogue, streamed",
        "Audio is sent clause by clause as it is synthesized. ",
    )
    def post(self, request):
        order = text_to_dialogue_order(request)
        session = session_open(caller=Caller.of(request), order=order, streaming=True)
        stream = stream_response(request, session, session.encoded(), order.fmt.media_type, filename=f"dialogue.{order.fmt.extension}")
        return dialogue_ignored(request, stream)


class TextToDialogueWithTimestampsView(ElevenLabsMixin, SynthesisView):
    @text_to_dialogue_schema(
        "elevenlabs_text_to_dialogue_with_timestamps", "ElevenLabs: text to dialogue with character timestamps",
        "The audio as base64, when each character is spoken (over the lines joined by newlines) and `voice_segments`: "
        "which line each stretch of audio is. ",
        ok=ELEVENLABS_TIMESTAMPS_RESPONSE, media="application/json",
    )
    def post(self, request):
        order = text_to_dialogue_order(request)
        session = session_open(caller=Caller.of(request), order=order, timed=True)
        result = session.render_timed()
        response = Response(
            {
                "audio_base64": base64.b64encode(result.content).decode("ascii"),
                "alignment": result.alignment,
                "normalized_alignment": result.normalized_alignment,
                "voice_segments": voice_segments(order.segments, result.alignment),
            }
        )
        for name, value in session.headers().items():
            response[name] = value
        if result.generation is not None:
            response["history-item-id"] = str(result.generation.id)
        return dialogue_ignored(request, as_download(response))


class TextToDialogueStreamWithTimestampsView(ElevenLabsMixin, SynthesisView):
    @text_to_dialogue_schema(
        "elevenlabs_text_to_dialogue_stream_with_timestamps", "ElevenLabs: text to dialogue, streamed with character timestamps",
        "Newline-delimited JSON objects `{audio_base64, alignment, normalized_alignment, voice_segments}`, sent as they "
        "are synthesized; times are from the start of the whole audio. ",
        ok=ELEVENLABS_TIMESTAMPS_RESPONSE, media=JSON_LINES,
    )
    def post(self, request):
        order = text_to_dialogue_order(request)
        session = session_open(caller=Caller.of(request), order=order, streaming=True, timed=True)
        sent = 0  # characters of the dialogue's text framed so far

        def frame(audio, alignment, normalized_alignment):
            nonlocal sent
            segments = voice_segments(order.segments, alignment, first=sent)
            sent += len(alignment["characters"])
            return timestamped_frame(audio, alignment, normalized_alignment, voice_segments=segments)

        frames = session.encoded(aligned=frame)
        return dialogue_ignored(request, stream_response(request, session, frames, JSON_LINES, filename=None))


def voice_segments(segments, alignment: dict, first: int = 0) -> list[dict]:
    """ElevenLabs' voice_segments: the lines (and voices) the characters of `alignment` belong to, and when.

    `alignment` holds the characters of the dialogue's text (its lines joined by
    newlines) from index `first`; indices are into that whole text.
    """
    starts, ends = alignment["character_start_times_seconds"], alignment["character_end_times_seconds"]
    found, at = [], 0
    for index, segment in enumerate(segments):
        low, high = max(at, first), min(at + len(segment.text), first + len(starts))
        at += len(segment.text) + 1  # the newline after it
        if low < high:
            found.append({
                "voice_id": segment.voice,
                "start_time_seconds": starts[low - first],
                "end_time_seconds": ends[high - 1 - first],
                "character_start_index": low,
                "character_end_index": high,
                "dialogue_input_index": index,
            })
    return found


# --------------------------------------------------------------------------------------------
# Voices

# eSpeak NG codes of the catalog -> ISO 639-1, as ElevenLabs labels languages.
_ISO_639_1 = {"cmn": "zh"}


def language_id(code: str) -> str:
    base = code.split("-")[0]
    return _ISO_639_1.get(base, base)


def voice_object(request, voice):
    return {
        "voice_id": voice.id,
        "name": voice.name,
        "category": "premade",
        "labels": {
            "accent": voice.accent.lower(),
            "gender": voice.gender.lower(),
            "language": language_id(voice.language),
            "description": voice.description,
        },
        "description": voice.description,
        # Public, like ElevenLabs' own preview URLs: an <audio> tag can play it.
        "preview_url": request.build_absolute_uri(reverse("synthesis:voice-preview", kwargs={"voice_id": voice.id})),
        "available_for_tiers": [],
        "settings": None,
        "samples": None,
        "high_quality_base_model_ids": [],
        "verified_languages": [
            {"language": language_id(voice.language), "model_id": "kokoro", "accent": voice.accent.lower(), "locale": voice.language}
        ],
        "is_owner": False,
        "is_legacy": False,
        "is_mixed": bool(voice.mix),
    }


def premade_object(request, premade, voice):
    """An ElevenLabs premade voice under its own id and name, saying which Kokoro voice speaks it."""
    spoken_by = f"Spoken here by Kokoro's {voice.name} ({voice.id})."
    return {
        **voice_object(request, voice),
        "voice_id": premade.id,
        "name": premade.name,
        "labels": {
            "accent": premade.accent,
            "gender": premade.gender,
            "language": language_id(voice.language),
            "description": premade.character,
            "voicehub_voice": voice.id,
        },
        "description": f"ElevenLabs' {premade.name} ({premade.accent}, {premade.character}). {spoken_by}",
        "is_mixed": False,
    }


def premade_voices() -> list[tuple]:
    """(premade, Kokoro voice) for every ElevenLabs premade voice whose Kokoro voice is installed."""
    return [(p, voice) for p in ELEVENLABS_PREMADE if (voice := catalog_voice(p.voice)) is not None]


def saved_voice_object(request, saved):
    """An organization's saved voice (a blend it designed) as ElevenLabs shows a voice made with Voice Design:
    category "generated", owned by the caller's workspace."""
    parts = [v for v in (catalog_voice(part) for part in saved.weights) if v is not None]
    first = parts[0] if parts else None
    return {
        "voice_id": saved.public_id,
        "name": saved.name,
        "category": "generated",
        "labels": {
            "accent": first.accent.lower() if first else "",
            "gender": first.gender.lower() if first and len({v.gender for v in parts}) == 1 else "mixed",
            "language": language_id(saved.language),
            "description": saved.description,
            "voicehub_blend": saved.spec,
        },
        "description": saved.description or f"A blend of {saved.spec}.",
        "preview_url": request.build_absolute_uri(
            reverse("api_v1:saved-voice-preview", kwargs={"saved_voice_id": saved.public_id})
        ),
        "available_for_tiers": [],
        "settings": None,
        "samples": None,
        "high_quality_base_model_ids": [],
        "verified_languages": [
            {
                "language": language_id(saved.language), "model_id": "kokoro",
                "accent": first.accent.lower() if first else "", "locale": saved.language,
            }
        ],
        "is_owner": True,
        "is_legacy": False,
        "is_mixed": True,
        "created_at_unix": unix(saved.created_at),
    }


def listed_voices(request, needle: str = "", *, categories: set[str] | None = None) -> list[dict]:
    """Kokoro's voices, then ElevenLabs' premade ones (their ids and names work everywhere), then the organization's
    saved voices ("generated"). `categories`: only these ElevenLabs categories (None: all)."""
    needle = needle.lower()
    voices = []
    if categories is None or "premade" in categories:
        kokoro = [v for v in available_voices() if needle in f"{v.id} {v.name} {v.description} {v.accent}".lower()]
        premade = [(p, v) for p, v in premade_voices() if needle in f"{p.id} {p.name} {p.accent} {p.character}".lower()]
        voices += [voice_object(request, v) for v in kokoro] + [premade_object(request, p, v) for p, v in premade]
    if categories is None or "generated" in categories:
        saved = saved_voices_of(request.organization)
        voices += [
            saved_voice_object(request, v) for v in saved if needle in f"{v.public_id} {v.name} {v.description}".lower()
        ]
    return voices


class VoicesView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voices_list", summary="ElevenLabs: list voices", examples=ex.ELEVENLABS_VOICES, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        return Response({"voices": listed_voices(request)})


class VoicesSearchView(ElevenLabsView):
    """GET /v2/voices: what the SDK's voices.search() calls. The page token is an offset."""

    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voices_search", summary="ElevenLabs: search voices (v2)", examples=ex.ELEVENLABS_VOICES_SEARCH, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        params = request.query_params
        category = params.get("category") or None
        voices = listed_voices(request, params.get("search") or "", categories=None if category is None else {category})
        start = int_param(params, "next_page_token", default=0, low=0, high=len(voices))
        size = int_param(params, "page_size", default=10, low=1, high=100)
        page = voices[start : start + size]
        more = start + size < len(voices)
        return Response(
            {
                "voices": page,
                "has_more": more,
                "total_count": len(voices),
                "next_page_token": str(start + size) if more else None,
            }
        )


def int_param(params, name, *, default, low, high):
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise APIError(f"'{name}' must be an integer.", code="invalid_parameters", status_code=422) from None
    return min(max(value, low), high)


class VoiceDetailView(ElevenLabsView):
    def get_permissions(self):
        scope = ApiKey.Scope.TTS if self.request.method == "DELETE" else ApiKey.Scope.VOICES_READ
        return [HasScope.of(scope)()]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voices_get", summary="ElevenLabs: one voice", parameters=[VOICE_ID],
        responses={200: JSON_OBJECT, 404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
        examples=ex.ELEVENLABS_VOICE_DETAIL,
    )
    def get(self, request, voice_id):
        premade = premade_voice(voice_id)
        if premade is not None and (voice := catalog_voice(premade.voice)) is not None:
            return Response(premade_object(request, premade, voice))
        saved = saved_voice(request.organization, voice_id)
        if saved is not None:
            return Response(saved_voice_object(request, saved))
        voice = catalog_voice(voice_id)
        if voice is None:
            raise voice_not_found(voice_id)
        return Response(voice_object(request, voice))

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voices_delete",
        summary="ElevenLabs: delete one of your organization's saved voices", parameters=[VOICE_ID],
        description="Only a saved voice (`sv_…`) can be deleted; history keeps its id, new requests naming it get 404.",
        responses={
            200: JSON_OBJECT,
            400: OpenApiResponse(ELEVENLABS_ERROR, description="`voice_not_deletable`: a catalog voice."),
            404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS,
        },
        examples=[ex.response("Deleted", {"status": "ok"}), *ex.ELEVENLABS_VOICE_DETAIL[1:]],
    )
    def delete(self, request, voice_id):
        saved_voice_delete(voice=owned_saved_voice(request, voice_id))
        return Response({"status": "ok"})


def owned_saved_voice(request, voice_id):
    """The organization's saved voice `voice_id`: 400 for a catalog or premade voice, 404 for anything else
    (another organization's saved voice included)."""
    saved = saved_voice(request.organization, voice_id)
    if saved is not None:
        return saved
    if catalog_voice(voice_id) is not None or premade_voice(voice_id) is not None:
        raise APIError(
            f"{voice_id!r} is a catalog voice: only your organization's saved voices can be changed or deleted.",
            code="voice_not_deletable",
        )
    raise voice_not_found(voice_id)


class VoiceEditRequest(serializers.Serializer):
    name = StringField(max_length=100)
    description = StringField(required=False, allow_blank=True, allow_null=True, max_length=1000)


class VoiceEditView(ElevenLabsView):
    """POST /v1/voices/{voice_id}/edit (the SDK's voices.update): rename a saved voice, change its description.

    ElevenLabs sends it as a multipart form. Samples (`files`), `labels` and `remove_background_noise`
    cannot change a blend: they are accepted and named in x-voicehub-ignored.
    """

    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]
    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voices_edit",
        summary="ElevenLabs: rename one of your organization's saved voices", parameters=[VOICE_ID],
        request={"multipart/form-data": VoiceEditRequest, "application/json": VoiceEditRequest},
        responses={
            200: JSON_OBJECT,
            400: OpenApiResponse(ELEVENLABS_ERROR, description="`voice_not_deletable` (a catalog voice), a bad body."),
            404: OpenApiResponse(ELEVENLABS_ERROR),
            409: OpenApiResponse(ELEVENLABS_ERROR, description="`voice_name_taken`."),
            415: OpenApiResponse(ELEVENLABS_ERROR), 422: OpenApiResponse(ELEVENLABS_ERROR, description="Invalid body."),
            **ELEVENLABS_READ_ERRORS,
        },
        examples=[
            OpenApiExample("Rename", value={"name": "Storyteller"}, request_only=True),
            ex.response("Renamed", {"status": "ok"}),
        ],
    )
    def post(self, request, voice_id):
        serializer = VoiceEditRequest(data=request.data)  # a hostile body is a 400 parse_error whatever the voice
        voice = owned_saved_voice(request, voice_id)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        saved_voice_update(voice=voice, name=data["name"], description=data.get("description"))
        response = Response({"status": "ok"})
        sent = {name: request.data.get(name) for name in ("files", "labels", "remove_background_noise")}
        ignored = sorted(name for name, value in sent.items() if value not in (None, "", "null"))
        if ignored:
            response["x-voicehub-ignored"] = ",".join(ignored)
        return response


# Kokoro takes a speed and nothing else: ElevenLabs' other settings are accepted and ignored, so they have no value.
KOKORO_SETTINGS = {"stability": None, "similarity_boost": None, "style": None, "use_speaker_boost": None, "speed": 1.0}


class VoiceSettingsDefaultView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voice_settings_default",
        summary="ElevenLabs: default voice settings (Kokoro's: a speed)",
        examples=[ex.response("Kokoro's settings", KOKORO_SETTINGS)], responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS},
    )
    def get(self, request):
        return Response(KOKORO_SETTINGS)


class VoiceSettingsView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_voice_settings", summary="ElevenLabs: a voice's settings (Kokoro's: a speed)",
        parameters=[VOICE_ID], examples=[ex.response("Kokoro's settings", KOKORO_SETTINGS)],
        responses={200: JSON_OBJECT, 404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
    )
    def get(self, request, voice_id):
        try:
            get_voice_library().get(resolve_voice(request.organization, voice_id)[0])
        except VoiceNotFound:
            raise voice_not_found(voice_id) from None
        return Response(KOKORO_SETTINGS)


# --------------------------------------------------------------------------------------------
# Models, user, subscription

# Any model_id is accepted; these are listed so clients that check the id against
# GET /v1/models find the ones they were written for.
MODEL_IDS = {
    "kokoro": "Kokoro-82M",
    "eleven_multilingual_v2": "Kokoro-82M (as Eleven Multilingual v2)",
    "eleven_turbo_v2_5": "Kokoro-82M (as Eleven Turbo v2.5)",
    "eleven_flash_v2_5": "Kokoro-82M (as Eleven Flash v2.5)",
}


def model_objects(organization):
    languages = {}
    for voice in available_voices():
        languages.setdefault(language_id(voice.language), voice.language_name)
    free = Plan.objects.filter(slug="free").values_list("max_characters_per_request", flat=True).first()
    per_request = organization.plan.max_characters_per_request
    return [
        {
            "model_id": model_id,
            "name": name,
            "description": "Kokoro-82M, served by Voicehub. Every model id speaks with the same model.",
            "can_be_finetuned": False,
            "can_do_text_to_speech": True,
            "can_do_voice_conversion": False,
            "can_use_style": False,
            "can_use_speaker_boost": False,
            "serves_pro_voices": False,
            "token_cost_factor": 1.0,
            "requires_alpha_access": False,
            "max_characters_request_free_user": free or per_request,
            "max_characters_request_subscribed_user": per_request,
            "maximum_text_length_per_request": per_request,
            "languages": [{"language_id": code, "name": name} for code, name in languages.items()],
        }
        for model_id, name in MODEL_IDS.items()
    ]


class ModelsView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_models_list", summary="ElevenLabs: list models (all are Kokoro-82M)", description="Answered at GET /v1/models when the request carries `xi-api-key`.", examples=ex.ELEVENLABS_MODELS, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        return Response(model_objects(request.organization))


def subscription_object(organization):
    organization.refresh_from_db(fields=["characters_used", "bonus_characters", "period_start", "period_end"])
    plan = organization.plan
    return {
        "tier": plan.slug,
        "character_count": organization.characters_used,
        "character_limit": organization.character_limit,
        "next_character_count_reset_unix": int(organization.period_end.timestamp()),
        "status": "free" if plan.price_monthly_cents == 0 else "active",
        "max_character_limit_extension": 0,
        "max_credit_limit_extension": 0,
        "can_extend_character_limit": False,
        "allowed_to_extend_character_limit": False,
        "voice_slots_used": 0,
        "professional_voice_slots_used": 0,
        "professional_voice_slots_used_in_workspace": 0,
        "voice_limit": 0,
        "max_voice_add_edits": 0,
        "voice_add_edit_counter": 0,
        "professional_voice_limit": 0,
        "can_extend_voice_limit": False,
        "can_use_instant_voice_cloning": False,
        "can_use_professional_voice_cloning": False,
        "currency": "usd",
        "current_overage": {"amount": "0", "currency": "usd"},
        "billing_period": "monthly_period",
        "character_refresh_period": "monthly_period",
        "open_invoices": [],
        "has_open_invoices": False,
    }


class SubscriptionView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.USAGE_READ)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_user_subscription", summary="ElevenLabs: subscription (plan and characters)", examples=ex.ELEVENLABS_SUBSCRIPTION, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        return Response(subscription_object(request.organization))


class UserView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.USAGE_READ)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_user", summary="ElevenLabs: user", examples=ex.ELEVENLABS_USER, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        organization = request.organization
        user = request.user if request.user.is_authenticated else None
        membership = organization.memberships.filter(user=user).first() if user else None
        key = api_key_of(request)
        return Response(
            {
                "user_id": str(user.pk) if user else "",
                "first_name": user.name if user else None,
                "workspace_id": organization.slug,
                "subscription": subscription_object(organization),
                "xi_api_key_preview": key.masked if key else None,
                "is_api_key_hashed": True,
                "is_new_user": False,
                "can_use_delayed_payment_methods": False,
                "is_onboarding_completed": True,
                "is_onboarding_checklist_completed": True,
                "created_at": int((user.date_joined if user else organization.created_at).timestamp()),
                "seat_type": "workspace_admin" if membership and membership.can_manage else "workspace_member",
            }
        )


# --------------------------------------------------------------------------------------------
# History


def unix(moment) -> int:
    return int(moment.timestamp())


def voice_name(voice_id, organization=None):
    saved = saved_voice(organization, voice_id)
    if saved is not None:  # the name its organization gave it (one query, for saved voices' items only)
        return saved.name
    try:
        return get_voice_library().get(voice_id).name
    except VoiceNotFound:  # a voice since removed from the catalog
        return voice_id


def history_item(generation):
    saved = generation.voice.startswith(SAVED_PREFIX)
    return {
        "history_item_id": str(generation.id),
        "request_id": None,  # not kept; the response's request-id header carried it
        "voice_id": generation.voice,
        "voice_name": voice_name(generation.voice, generation.organization if saved else None),
        "voice_category": "generated" if saved else "premade",
        "model_id": "kokoro",
        "text": generation.text,
        "date_unix": unix(generation.created_at),
        # Running totals are not recorded per item: the difference is what the item was charged.
        "character_count_change_from": 0,
        "character_count_change_to": generation.characters,
        "content_type": generation.content_type,
        "state": "created",
        "settings": {"speed": generation.speed, "output_format": generation.output_format},
        "source": "TTS",
        "output_format": generation.output_format,
    }


def generation_of(request, history_item_id):
    """One item of the organization's history; another organization's id is a plain 404."""
    try:
        pk = uuid.UUID(history_item_id)
    except ValueError:
        raise history_item_not_found(history_item_id) from None
    generation = history_of(request).filter(pk=pk).first()
    if generation is None:
        raise history_item_not_found(history_item_id)
    return generation


class HistoryView(ElevenLabsView):
    """Newest first (or sort_direction=asc), keyset-paged by start_after_history_item_id."""

    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(tags=[ELEVENLABS_TAG], operation_id="elevenlabs_history_list", summary="ElevenLabs: history", examples=ex.ELEVENLABS_HISTORY, responses={200: JSON_OBJECT, **ELEVENLABS_READ_ERRORS})
    def get(self, request):
        params = request.query_params
        size = int_param(params, "page_size", default=100, low=1, high=1000)
        descending = params.get("sort_direction", "desc") != "asc"
        generations = history_of(request).order_by(*(("-created_at", "-id") if descending else ("created_at", "id")))
        if params.get("voice_id"):
            generations = generations.filter(voice=params["voice_id"])
        if params.get("search"):
            generations = generations.filter(text__icontains=params["search"])
        if params.get("date_after_unix"):
            after = int_param(params, "date_after_unix", default=0, low=0, high=2**40)
            generations = generations.filter(created_at__gte=datetime.fromtimestamp(after, UTC))
        if params.get("date_before_unix"):
            before = int_param(params, "date_before_unix", default=0, low=0, high=2**40)
            generations = generations.filter(created_at__lt=datetime.fromtimestamp(before, UTC))
        if params.get("start_after_history_item_id"):
            anchor = generation_of(request, params["start_after_history_item_id"])
            past = "lt" if descending else "gt"
            generations = generations.filter(
                Q(**{f"created_at__{past}": anchor.created_at}) | Q(created_at=anchor.created_at, **{f"id__{past}": anchor.id})
            )
        items = list(generations[: size + 1])
        page = items[:size]
        return Response(
            {
                "history": [history_item(g) for g in page],
                "last_history_item_id": str(page[-1].id) if page else None,
                "has_more": len(items) > size,
            }
        )


class HistoryItemView(ElevenLabsView):
    """GET (history:read) and DELETE (history:write) one item."""

    def get_permissions(self):
        scope = ApiKey.Scope.HISTORY_WRITE if self.request.method == "DELETE" else ApiKey.Scope.HISTORY_READ
        return [HasScope.of(scope)()]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_history_get", summary="ElevenLabs: one history item", parameters=[HISTORY_ITEM_ID],
        responses={200: JSON_OBJECT, 404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
        examples=ex.ELEVENLABS_HISTORY_GET,
    )
    def get(self, request, history_item_id):
        return Response(history_item(generation_of(request, history_item_id)))

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_history_delete", summary="ElevenLabs: delete a history item", parameters=[HISTORY_ITEM_ID],
        responses={200: JSON_OBJECT, 404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
        examples=ex.ELEVENLABS_HISTORY_DELETE,
    )
    def delete(self, request, history_item_id):
        generation_delete(generation_of(request, history_item_id))
        return Response({"status": "ok"})


class HistoryAudioView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_history_audio", summary="ElevenLabs: a history item's audio", parameters=[HISTORY_ITEM_ID],
        responses={(200, "audio/*"): BINARY_AUDIO, 404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
        examples=ex.ELEVENLABS_HISTORY_AUDIO,
    )
    def get(self, request, history_item_id):
        return audio_file_response(generation_of(request, history_item_id))


class HistoryDownloadSerializer(serializers.Serializer):
    history_item_ids = serializers.ListField(child=StringField(max_length=64), min_length=1, max_length=100)
    output_format = StringField(required=False, allow_null=True, help_text="Accepted and ignored: items keep the format they were made in.")


class HistoryDownloadView(ElevenLabsView):
    """POST /v1/history/download: one item's audio as itself, several as a zip (as ElevenLabs does)."""

    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(
        tags=[ELEVENLABS_TAG],
        operation_id="elevenlabs_history_download",
        summary="ElevenLabs: download history items",
        request=HistoryDownloadSerializer,
        responses={
            (200, "audio/*"): BINARY_AUDIO,
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="Several items: a zip of their audio files."),
            **ELEVENLABS_PARSE_ERROR,
            404: OpenApiResponse(ELEVENLABS_ERROR),
            422: OpenApiResponse(ELEVENLABS_ERROR),
            **ELEVENLABS_READ_ERRORS,
        },
        examples=ex.ELEVENLABS_HISTORY_DOWNLOAD,
    )
    def post(self, request):
        serializer = HistoryDownloadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(serializer.validated_data["history_item_ids"]))
        generations = [generation_of(request, history_item_id) for history_item_id in ids]
        if len(generations) == 1:
            return audio_file_response(generations[0])
        return zip_response(generations)


# --------------------------------------------------------------------------------------------
# Pronunciation dictionaries: /v1/pronunciation-dictionaries (synthesis.services.pronunciation)

PRONUNCIATION_DICTIONARY_ID = OpenApiParameter("pronunciation_dictionary_id", str, OpenApiParameter.PATH)
PRONUNCIATION_VERSION_ID = OpenApiParameter("version_id", str, OpenApiParameter.PATH)
PRONUNCIATION_ERRORS = {
    **ELEVENLABS_PARSE_ERROR,
    400: OpenApiResponse(
        ELEVENLABS_ERROR,
        description="`parse_error`, `invalid_pls` (not a PLS lexicon, or a DTD/entity), `invalid_pronunciation_rule`, "
        "`too_many_pronunciation_rules` or `too_many_pronunciation_dictionaries`.",
    ),
    404: OpenApiResponse(ELEVENLABS_ERROR, description="`pronunciation_dictionary_not_found` (or the version's)."),
    413: OpenApiResponse(ELEVENLABS_ERROR, description="`pls_too_large`: the PLS file is over 1 MB."),
    422: OpenApiResponse(ELEVENLABS_ERROR, description="Invalid body."),
    **ELEVENLABS_READ_ERRORS,
}


def dictionary_metadata(dictionary) -> dict:
    """ElevenLabs' pronunciation dictionary metadata (what the list and GET answer)."""
    version = dictionary.latest_version
    return {
        "id": dictionary.id,
        "latest_version_id": version.id if version else None,
        "latest_version_rules_num": len(version.rules) if version else 0,
        "name": dictionary.name,
        "permission_on_resource": "admin",
        "created_by": str(dictionary.created_by_id or ""),
        "creation_time_unix": unix(dictionary.created_at),
        "archived_time_unix": unix(dictionary.archived_at) if dictionary.archived_at else None,
        "description": dictionary.description or None,
    }


def dictionary_created(dictionary) -> dict:
    """What add-from-file and add-from-rules answer."""
    version = dictionary.latest_version
    return {
        "id": dictionary.id,
        "name": dictionary.name,
        "created_by": str(dictionary.created_by_id or ""),
        "creation_time_unix": unix(dictionary.created_at),
        "version_id": version.id,
        "version_rules_num": len(version.rules),
        "description": dictionary.description or None,
        "permission_on_resource": "admin",
    }


def dictionary_version(version) -> dict:
    """What add-rules and remove-rules answer: the new version."""
    return {"id": version.dictionary_id, "version_id": version.id, "version_rules_num": len(version.rules)}


def acting_user(request):
    return request.user if request.user.is_authenticated else None


_DICTIONARY_ID, _VERSION_ID = "5xM3yVvZQKV0EfqQpLrJ", "Qd8mJ2bXwR4tLk7pZs1N"
PRONUNCIATION_EXAMPLES = {
    "created": {
        "id": _DICTIONARY_ID, "name": "Product names", "created_by": "7", "creation_time_unix": 1765022400,
        "version_id": _VERSION_ID, "version_rules_num": 2, "description": None, "permission_on_resource": "admin",
    },
    "metadata": {
        "id": _DICTIONARY_ID, "latest_version_id": _VERSION_ID, "latest_version_rules_num": 2, "name": "Product names",
        "permission_on_resource": "admin", "created_by": "7", "creation_time_unix": 1765022400,
        "archived_time_unix": None, "description": None,
    },
    "version": {"id": _DICTIONARY_ID, "version_id": _VERSION_ID, "version_rules_num": 3},
}
PRONUNCIATION_NOT_FOUND = ex.response(
    "Not found",
    {"detail": {"status": "pronunciation_dictionary_not_found", "code": "pronunciation_dictionary_not_found",
                "message": "Pronunciation dictionary 'nope' was not found."}},
    404,
)


def pronunciation_schema(
    operation_id, summary, *, request=None, ok=JSON_OBJECT, parameters=(), description="", answers="version"
):
    """The schema of a dictionary route: its success example (`answers`: created, metadata or version) and a 404."""
    return extend_schema(
        tags=[ELEVENLABS_TAG], operation_id=operation_id, summary=summary, description=description,
        parameters=list(parameters), request=request, responses={200: ok, **PRONUNCIATION_ERRORS},
        examples=[ex.response("Done", PRONUNCIATION_EXAMPLES[answers]), PRONUNCIATION_NOT_FOUND],
    )


class PronunciationRuleSerializer(serializers.Serializer):
    """One rule as ElevenLabs sends it (checked in full by synthesis.services.pronunciation)."""

    type = serializers.ChoiceField(choices=["alias", "phoneme"])
    string_to_replace = StringField(max_length=100, trim_whitespace=False)
    alias = StringField(required=False, max_length=500, trim_whitespace=False)
    phoneme = StringField(required=False, max_length=200, trim_whitespace=False)
    alphabet = StringField(required=False, max_length=20)
    case_sensitive = serializers.BooleanField(required=False)
    word_boundaries = serializers.BooleanField(required=False)


class AddFromRulesSerializer(serializers.Serializer):
    name = StringField(max_length=200)
    rules = serializers.ListField(child=serializers.DictField(), max_length=pronunciation.MAX_RULES)
    description = StringField(required=False, allow_null=True, allow_blank=True, max_length=1000)
    workspace_access = StringField(required=False, allow_null=True, help_text="Accepted and ignored.")


class AddFromFileSerializer(serializers.Serializer):
    name = StringField(max_length=200)
    file = serializers.FileField(required=False, help_text="A W3C PLS lexicon (.pls), at most 1 MB.")
    description = StringField(required=False, allow_blank=True, max_length=1000)
    workspace_access = StringField(required=False, allow_blank=True, help_text="Accepted and ignored.")


class AddRulesSerializer(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), max_length=pronunciation.MAX_RULES)


class RemoveRulesSerializer(serializers.Serializer):
    rule_strings = serializers.ListField(child=StringField(max_length=100, trim_whitespace=False), max_length=pronunciation.MAX_RULES)


class PronunciationUpdateSerializer(serializers.Serializer):
    name = StringField(required=False, max_length=200)
    archived = serializers.BooleanField(required=False)
    description = StringField(required=False, allow_blank=True, max_length=1000)


def valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def read_upload(upload) -> bytes:
    """An uploaded file's bytes, reading no more than one byte past the bound (parse_pls refuses it then)."""
    return upload.read(pronunciation.MAX_PLS_BYTES + 1) if upload is not None else b""


class PronunciationAddFromFileView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]
    parser_classes = [MultiPartParser]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_add_from_file", answers="created",
        summary="ElevenLabs: create a pronunciation dictionary from a PLS file",
        request={"multipart/form-data": AddFromFileSerializer},
    )
    def post(self, request):
        body = valid(AddFromFileSerializer, request)
        rules = pronunciation.parse_pls(read_upload(body.get("file")))
        dictionary = pronunciation.dictionary_create(
            organization=request.organization, user=acting_user(request), name=body["name"], rules=rules,
            description=body.get("description"),
        )
        return Response(dictionary_created(dictionary))


class PronunciationAddFromRulesView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_add_from_rules", answers="created",
        summary="ElevenLabs: create a pronunciation dictionary from rules",
        request=AddFromRulesSerializer,
    )
    def post(self, request):
        body = valid(AddFromRulesSerializer, request)
        dictionary = pronunciation.dictionary_create(
            organization=request.organization, user=acting_user(request), name=body["name"],
            rules=pronunciation.rules_from_data(body["rules"]), description=body.get("description"),
        )
        return Response(dictionary_created(dictionary))


class PronunciationListView(ElevenLabsView):
    """Newest first (or by name), paged by an opaque cursor, as ElevenLabs."""

    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_pronunciation_dictionaries_list",
        summary="ElevenLabs: list pronunciation dictionaries",
        parameters=[
            OpenApiParameter("cursor", str), OpenApiParameter("page_size", int, description="1-100, default 30."),
            OpenApiParameter("sort", str, enum=["creation_time_unix", "name"]),
            OpenApiParameter("sort_direction", str, enum=["ascending", "descending"]),
            OpenApiParameter("include_archived", bool),
        ],
        responses={200: JSON_OBJECT, 422: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS},
        examples=[
            ex.response("Dictionaries", {
                "pronunciation_dictionaries": [PRONUNCIATION_EXAMPLES["metadata"]], "next_cursor": None,
                "has_more": False,
            }),
        ],
    )
    def get(self, request):
        params = request.query_params
        size = int_param(params, "page_size", default=30, low=1, high=100)
        start = int_param(params, "cursor", default=0, low=0, high=pronunciation.MAX_DICTIONARIES * 100)
        field = "name" if params.get("sort") == "name" else "created_at"
        descending = params.get("sort_direction", "descending" if field == "created_at" else "ascending") == "descending"
        order = (f"-{field}", "-id") if descending else (field, "id")
        dictionaries = pronunciation.dictionaries_of(request.organization).order_by(*order)
        if params.get("include_archived", "false").lower() not in ("true", "1"):
            dictionaries = dictionaries.filter(archived_at__isnull=True)
        dictionaries = list(dictionaries[start : start + size + 1])
        more = len(dictionaries) > size
        return Response(
            {
                "pronunciation_dictionaries": [dictionary_metadata(d) for d in dictionaries[:size]],
                "next_cursor": str(start + size) if more else None,
                "has_more": more,
            }
        )


class PronunciationDictionaryView(ElevenLabsView):
    """GET: the dictionary and its latest rules. PATCH: rename, describe, archive."""

    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_get", answers="metadata",
        summary="ElevenLabs: one pronunciation dictionary, with its rules",
        parameters=[PRONUNCIATION_DICTIONARY_ID],
    )
    def get(self, request, pronunciation_dictionary_id):
        dictionary = pronunciation.dictionary_get(organization=request.organization, dictionary_id=pronunciation_dictionary_id)
        rules = dictionary.latest_version.rules if dictionary.latest_version else []
        return Response({**dictionary_metadata(dictionary), "rules": rules})

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_update", answers="metadata",
        summary="ElevenLabs: rename or archive a pronunciation dictionary",
        request=PronunciationUpdateSerializer, parameters=[PRONUNCIATION_DICTIONARY_ID],
    )
    def patch(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        body = valid(PronunciationUpdateSerializer, request)
        dictionary = pronunciation.dictionary_update(
            dictionary=dictionary, name=body.get("name"), description=body.get("description"), archived=body.get("archived")
        )
        return Response(dictionary_metadata(dictionary))


class PronunciationAddRulesView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_add_rules", "ElevenLabs: add rules (a new version)",
        request=AddRulesSerializer, parameters=[PRONUNCIATION_DICTIONARY_ID],
        description="A rule for a word the dictionary already has replaces it.",
    )
    def post(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        rules = pronunciation.rules_from_data(valid(AddRulesSerializer, request)["rules"])
        version = pronunciation.dictionary_add_rules(dictionary=dictionary, user=acting_user(request), rules=rules)
        return Response(dictionary_version(version))


class PronunciationSetRulesView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_set_rules", "ElevenLabs: replace all rules (a new version)",
        request=AddRulesSerializer, parameters=[PRONUNCIATION_DICTIONARY_ID],
    )
    def post(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        rules = pronunciation.rules_from_data(valid(AddRulesSerializer, request)["rules"])
        version = pronunciation.dictionary_set_rules(dictionary=dictionary, user=acting_user(request), rules=rules)
        return Response(dictionary_version(version))


class PronunciationRemoveRulesView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @pronunciation_schema(
        "elevenlabs_pronunciation_dictionaries_remove_rules", "ElevenLabs: remove rules by their words (a new version)",
        request=RemoveRulesSerializer, parameters=[PRONUNCIATION_DICTIONARY_ID],
    )
    def post(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        strings = valid(RemoveRulesSerializer, request)["rule_strings"]
        version = pronunciation.dictionary_remove_rules(dictionary=dictionary, user=acting_user(request), rule_strings=strings)
        return Response(dictionary_version(version))


class PronunciationDownloadView(ElevenLabsView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @extend_schema(
        tags=[ELEVENLABS_TAG], operation_id="elevenlabs_pronunciation_dictionaries_download",
        summary="ElevenLabs: download a version as a PLS file",
        parameters=[PRONUNCIATION_DICTIONARY_ID, PRONUNCIATION_VERSION_ID],
        responses={
            (200, pronunciation.PLS_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The PLS lexicon."),
            404: OpenApiResponse(ELEVENLABS_ERROR), **ELEVENLABS_READ_ERRORS,
        },
        examples=[PRONUNCIATION_NOT_FOUND],
    )
    def get(self, request, pronunciation_dictionary_id, version_id):
        dictionary = pronunciation.dictionary_get(organization=request.organization, dictionary_id=pronunciation_dictionary_id)
        version = pronunciation.version_get(dictionary=dictionary, version_id=version_id)
        content = pronunciation.export_pls(pronunciation.version_rules(version))
        response = HttpResponse(content, content_type=pronunciation.PLS_MEDIA_TYPE)
        return as_download(response, f"{dictionary.name[:60] or dictionary.id}.pls")

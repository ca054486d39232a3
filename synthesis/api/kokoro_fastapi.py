"""
Kokoro-FastAPI's own routes on Voicehub (remsky/Kokoro-FastAPI, the most used open Kokoro server):
its voice list and voice combiner, the download of a kept file (X-Download-Path), and its /dev
routes — captioned speech, phonemize, speech from phonemes — with its request fields and response
shapes. Its POST /v1/audio/speech is OpenAI's route (synthesis.api.openai), which takes its fields.

Unlike Kokoro-FastAPI, every route needs a Voicehub API key (`Authorization: Bearer vh_...`), and
synthesis goes through the session like every door: limits, quota, history. Errors are Voicehub's
`{"detail", "code"}`.
"""

from __future__ import annotations

import base64
import io
import json
import uuid

import torch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from synthesis.api.common import (
    ERROR_RESPONSE,
    JSON_LINES,
    IgnoreAccept,
    SynthesisView,
    as_download,
    audio_file_response,
    audio_response,
    history_of,
    output_format,
)
from synthesis.api.errors import APIError
from synthesis.api.serializers import (
    KOKORO_FORMATS,
    KOKORO_LANG_CODES,
    FormatField,
    KokoroFields,
    NumberField,
    StringField,
    kokoro_ignored,
    kokoro_voice,
    pronunciation_locators_field,
)
from synthesis.api.streaming import stream_response
from synthesis.engine.voices import VoiceNotFound
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.session import COMPAT_MAX_SPEED, COMPAT_MIN_SPEED, Caller, Order, session_open
from synthesis.services.voices import available_voices, saved_voices_of, text_phonemes, voice_table

KOKORO_TAG = "Kokoro-FastAPI compatible"
ERRORS = {status: OpenApiResponse(ERROR_RESPONSE) for status in (400, 401, 402, 403, 404, 429, 503)}


def _within_plan(text: str, context, what: str = "") -> str:
    if not text.strip():
        raise serializers.ValidationError("must not be empty or only whitespace.", code="empty_text")
    limit = context["max_characters"]
    if len(text) > limit:
        raise serializers.ValidationError(
            f"is {len(text):,} characters{what}; your plan's limit per request is {limit:,}.", code="max_character_limit_exceeded"
        )
    return text


# --------------------------------------------------------------------------------------------
# GET /v1/download/<filename>: the file X-Download-Path names


class DownloadView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_download",
        summary="Kokoro-FastAPI: download a kept file",
        description="The file a speech request with `return_download_link` named in `X-Download-Path` "
        "(`/download/<history item id>.<ext>`): the organization's history item, once spoken.",
        responses={(200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY), 404: OpenApiResponse(ERROR_RESPONSE)},
        examples=[
            OpenApiExample(
                "not kept", response_only=True, status_codes=["404"],
                value={"detail": "No kept file has this name (it may still be being spoken, or has expired).", "code": "not_found"},
            )
        ],
    )
    def get(self, request, filename):
        stem = filename.rsplit(".", 1)[0]
        try:
            history_id = uuid.UUID(stem)
        except ValueError:
            history_id = None
        # Tenant scope: another organization's id is as unknown as a made-up one.
        generation = history_of(request).filter(id=history_id).first() if history_id else None
        if generation is None:
            raise APIError("No kept file has this name (it may still be being spoken, or has expired).", code="not_found", status_code=404)
        return audio_file_response(generation)


# --------------------------------------------------------------------------------------------
# GET /v1/audio/voices and POST /v1/audio/voices/combine


class VoicesView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_voices_list",
        summary="Kokoro-FastAPI: list voices",
        parameters=[OpenApiParameter("legacy", bool, description="true: the pre-0.3 shape, a list of ids.")],
        responses={200: inline_serializer("KokoroVoices", {"voices": serializers.ListField(child=serializers.JSONField())})},
        examples=[OpenApiExample("voices", value={"voices": [{"id": "af_heart", "name": "af_heart"}]}, response_only=True)],
    )
    def get(self, request):
        # The catalog, then the organization's saved voices (their ids speak on every door).
        ids = sorted(v.id for v in available_voices()) + [v.public_id for v in saved_voices_of(request.organization)]
        if request.query_params.get("legacy", "").lower() in ("1", "true"):
            return Response({"voices": ids})
        return Response({"voices": [{"id": v, "name": v} for v in ids]})


class CombineView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]
    content_negotiation_class = IgnoreAccept

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_voices_combine",
        summary="Kokoro-FastAPI: combine voices into a voice pack",
        description='The body is a JSON string ("af_bella(2)+af_sky(1)") or a list of voice ids (an even mix). '
        "The answer is the mixed (510, 1, 256) style tensor as a PyTorch `.pt` file, as Kokoro-FastAPI sends it; "
        "the same mix can be spoken directly by naming it as the voice.",
        request=OpenApiTypes.ANY,
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY), 400: OpenApiResponse(ERROR_RESPONSE)},
        examples=[OpenApiExample("a list", value=["af_bella", "af_sky"], request_only=True)],
    )
    def post(self, request):
        try:
            spec = kokoro_voice(request.data)
        except serializers.ValidationError:
            raise APIError('Send a JSON string such as "af_bella+af_sky" or a list of voice ids.', code="invalid_voice") from None
        if "+" not in spec:
            raise APIError("Name at least two voices to combine.", code="invalid_voice")
        try:
            table = voice_table(spec)
        except VoiceNotFound:
            raise APIError(
                f"{spec!r} is not a mix of available voices of one language (at most 5, weights 0-100).", code="voice_not_found"
            ) from None
        buffer = io.BytesIO()
        torch.save(torch.from_numpy(table.copy()), buffer)
        return as_download(HttpResponse(buffer.getvalue(), content_type="application/octet-stream"), f"{spec}.pt")


# --------------------------------------------------------------------------------------------
# POST /dev/phonemize


class PhonemizeView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    class Input(serializers.Serializer):
        text = StringField(trim_whitespace=False, max_length=10_000)
        language = StringField(default="a", max_length=16, help_text="Kokoro's language code: a, b, e, f, h, i, j, p or z.")

        def validate_language(self, code):
            language = KOKORO_LANG_CODES.get(code.lower(), code.lower())
            if language not in KOKORO_LANG_CODES.values():
                raise serializers.ValidationError(f"unknown language {code!r}; use one of {', '.join(KOKORO_LANG_CODES)}.")
            return language

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_phonemize",
        summary="Kokoro-FastAPI: text to phonemes",
        description="The phonemes and token ids the engine would speak for `text` (normalization, eSpeak NG), without the model.",
        request=Input,
        responses={200: inline_serializer("KokoroPhonemes", {"phonemes": serializers.CharField(), "tokens": serializers.ListField(child=serializers.IntegerField())}), 400: OpenApiResponse(ERROR_RESPONSE)},
        examples=[
            OpenApiExample("hello", value={"text": "Hello", "language": "a"}, request_only=True),
            OpenApiExample("hello", value={"phonemes": "həlˈoʊ", "tokens": [50, 83, 54, 156, 57, 135]}, response_only=True),
        ],
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        phonemes, tokens = text_phonemes(data.validated_data["text"], data.validated_data["language"])
        if not phonemes:
            raise APIError("The text contains nothing that can be spoken.", code="no_speakable_text")
        return Response({"phonemes": phonemes, "tokens": tokens})


# --------------------------------------------------------------------------------------------
# POST /dev/generate_from_phonemes


class PhonemesSerializer(serializers.Serializer):
    phonemes = StringField(trim_whitespace=False, allow_blank=True, help_text="Kokoro phonemes, as /dev/phonemize gives them.")
    voice = serializers.JSONField(help_text="A Kokoro voice id, a mix (\"af_bella(2)+af_sky(1)\") or a list of ids.")

    def validate_phonemes(self, phonemes):
        return _within_plan(phonemes, self.context, " of phonemes")

    def validate_voice(self, voice):
        return kokoro_voice(voice)


class GenerateFromPhonemesView(SynthesisView):
    content_negotiation_class = IgnoreAccept

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_generate_from_phonemes",
        summary="Kokoro-FastAPI: speech from phonemes (WAV)",
        description="Speaks Kokoro phonemes as given (no normalization, no eSpeak; characters outside the model's "
        "vocabulary are dropped, as Kokoro does). Charged by the characters of `phonemes` as sent, spaces included.",
        request=PhonemesSerializer,
        responses={(200, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY), **ERRORS},
        examples=[OpenApiExample("hello", value={"phonemes": "həlˈoʊ wˈɜːld", "voice": "af_heart"}, request_only=True)],
    )
    def post(self, request):
        data = PhonemesSerializer(data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request})
        data.is_valid(raise_exception=True)
        body = data.validated_data
        order = Order(text=body["phonemes"], voice=body["voice"], fmt=output_format("wav"), phonemes=True)
        session = session_open(caller=Caller.of(request), order=order)
        return audio_response(session.render(), session)


# --------------------------------------------------------------------------------------------
# POST /dev/captioned_speech


class CaptionedSpeechSerializer(KokoroFields):
    model = StringField(default="kokoro", max_length=64)
    input = StringField(trim_whitespace=False, allow_blank=True)
    voice = serializers.JSONField(default="af_heart", help_text="A Kokoro voice id, a mix or a list of ids.")
    response_format = FormatField(default="mp3", help_text=f"One of {', '.join(KOKORO_FORMATS)}.")
    speed = NumberField(default=1.0, field_code="invalid_speed")
    return_timestamps = serializers.BooleanField(default=True)
    pronunciation_dictionary_locators = pronunciation_locators_field()  # ElevenLabs' field, as on /v1/audio/speech

    def validate_input(self, text):
        return _within_plan(text, self.context)

    def validate_voice(self, voice):
        return kokoro_voice(voice)

    def validate_speed(self, speed):
        if not COMPAT_MIN_SPEED <= speed <= COMPAT_MAX_SPEED:
            raise serializers.ValidationError(f"must be between {COMPAT_MIN_SPEED} and {COMPAT_MAX_SPEED}, got {speed}.", code="invalid_speed")
        return speed


CAPTIONED = inline_serializer(
    "KokoroCaptionedSpeech",
    {
        "audio": serializers.CharField(help_text="Base64 audio in `audio_format`."),
        "audio_format": serializers.CharField(help_text="Its media type, e.g. audio/mpeg."),
        "timestamps": serializers.ListField(child=serializers.DictField(), help_text="[{word, start_time, end_time}] in seconds."),
    },
)


def word_stamps(words) -> list[dict]:
    return [{"word": w.text, "start_time": round(w.start, 3), "end_time": round(w.end, 3)} for w in words]


def captioned_lines(body, media_type: str, with_timestamps: bool):
    """Kokoro-FastAPI's streamed captioned speech: one JSON object a line, each a piece of audio and its words.

    Closing this generator (the client went away) closes `body`, which ends the session with what was sent.
    """
    try:
        for data, words in body:
            if data or words:  # the last words may come with no bytes left to send
                line = {"audio": base64.b64encode(data).decode("ascii"), "audio_format": media_type,
                        "timestamps": word_stamps(words) if with_timestamps else None}
                yield (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    finally:
        body.close()


class CaptionedSpeechView(SynthesisView):
    content_negotiation_class = IgnoreAccept

    @extend_schema(
        tags=[KOKORO_TAG],
        operation_id="kokoro_captioned_speech",
        summary="Kokoro-FastAPI: speech with word timestamps",
        description="With `stream` (the default) one JSON object per line (application/x-ndjson) as each piece is spoken: `{audio (base64), "
        "audio_format, timestamps: [{word, start_time, end_time}]}`, times from the start of the whole audio. With "
        "`stream: false` one such object for the whole file. The other fields are those of POST /v1/audio/speech.",
        request=CaptionedSpeechSerializer,
        responses={(200, "application/json"): CAPTIONED, (200, JSON_LINES): CAPTIONED, **ERRORS},
        examples=[
            OpenApiExample("hello", value={"input": "Hello world.", "voice": "af_heart", "stream": False}, request_only=True),
            OpenApiExample(
                "hello",
                value={"audio": "SUQz...", "audio_format": "audio/mpeg",
                       "timestamps": [{"word": "Hello", "start_time": 0.1, "end_time": 0.4}]},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = CaptionedSpeechSerializer(data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request})
        data.is_valid(raise_exception=True)
        body = data.validated_data
        if body["response_format"] not in KOKORO_FORMATS:
            raise APIError(f"Unknown response_format {body['response_format'][:40]!r}; use one of {', '.join(KOKORO_FORMATS)}.",
                           code="unsupported_format")
        fmt = output_format(body["response_format"])
        link = body["return_download_link"]
        kept = output_format(body["download_format"]) if link and body.get("download_format") else None
        order = Order(
            text=body["input"], voice=body["voice"], fmt=fmt, speed=body["speed"],
            normalize=(body.get("normalization_options") or {}).get("normalize", True), store_fmt=kept,
            volume=body["volume_multiplier"], history_id=uuid.uuid4() if link else None, language=body.get("lang_code"),
            foreign_language=True,
            lexicon=lexicon_for(organization=request.organization, locators=body.get("pronunciation_dictionary_locators")),
        )
        session = session_open(caller=Caller.of(request), order=order, streaming=body["stream"], timed=True)
        if body["stream"]:
            lines = captioned_lines(session.encoded_timed(), fmt.media_type, body["return_timestamps"])
            response = stream_response(request, session, lines, JSON_LINES, filename=None)
        else:
            result = session.render_timed()
            response = audio_response(result, session)
            content = {"audio": base64.b64encode(result.content).decode("ascii"), "audio_format": fmt.media_type,
                       "timestamps": word_stamps(result.words) if body["return_timestamps"] else None}
            response.content = json.dumps(content, ensure_ascii=False).encode()
            response["Content-Type"] = "application/json"
            del response["Content-Disposition"]
        if link:
            response["X-Download-Path"] = f"/download/{order.history_id}.{(kept or fmt).extension}"
        ignored = kokoro_ignored(body)
        if ignored:
            response["x-voicehub-ignored"] = ",".join(ignored)
        return response

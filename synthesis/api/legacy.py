"""The HTTP API of the original product: POST /tts and GET /voices."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey, UsageRecord
from accounts.permissions import HasScope
from accounts.quota import QuotaExceeded

from synthesis.api import examples as ex
from synthesis.api.errors import APIError
from synthesis.engine.core import EngineError
from synthesis.engine.voices import VoiceNotFound
from synthesis.api.serializers import TTSRequestSerializer, VoiceSerializer
from synthesis.services.generation import get_voice_library, speech_synthesize, voice_preview

ERROR_RESPONSE = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
}


def voice_not_found(voice_id: str) -> APIError:
    return APIError(
        f"Voice {voice_id!r} was not found. List the available voices with GET /voices.",
        code="voice_not_found",
        status_code=status.HTTP_404_NOT_FOUND,
    )


class TTSView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    @extend_schema(
        operation_id="tts_create",
        summary="Synthesize speech",
        description="Speak `text` with a voice and return a WAV file (24 kHz, 16-bit PCM, mono).",
        request=TTSRequestSerializer,
        responses={
            (200, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="The speech as a WAV file."),
            400: OpenApiResponse(ERROR_RESPONSE, description="Empty text, text over the limit, or a bad speed."),
            401: OpenApiResponse(ERROR_RESPONSE, description="No valid API key or session."),
            402: OpenApiResponse(ERROR_RESPONSE, description="Monthly character quota exceeded (`resets_at` says when it resets)."),
            403: OpenApiResponse(ERROR_RESPONSE, description="The key lacks the `tts` scope, or the plan has no API access."),
            404: OpenApiResponse(ERROR_RESPONSE, description="Unknown voice."),
            415: OpenApiResponse(ERROR_RESPONSE, description="The body is not JSON."),
        },
        examples=[OpenApiExample("Hello", value={"text": "Hello from Voicehub!", "voice": "af", "speed": 1.0}, request_only=True)],
    )
    def post(self, request):
        organization = request.organization
        serializer = TTSRequestSerializer(
            data=request.data, context={"max_characters": organization.plan.max_characters_per_request}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            speech = speech_synthesize(
                organization=organization,
                text=data["text"],
                voice_id=data["voice"],
                speed=data["speed"],
                user=request.user if request.user.is_authenticated else None,
                api_key=request.auth if isinstance(request.auth, ApiKey) else None,
                source=UsageRecord.Source.API if isinstance(request.auth, ApiKey) else UsageRecord.Source.STUDIO,
            )
        except VoiceNotFound:
            raise voice_not_found(data["voice"]) from None
        except QuotaExceeded as error:
            raise APIError(
                str(error), code=error.code, status_code=status.HTTP_402_PAYMENT_REQUIRED, resets_at=error.resets_at
            ) from None
        except EngineError as error:
            raise APIError(str(error), code=error.code) from None
        response = HttpResponse(speech.wav(), content_type="audio/wav")
        response["Content-Disposition"] = 'inline; filename="speech.wav"'
        response["Character-Cost"] = str(speech.characters)
        response["Audio-Duration"] = f"{speech.seconds:.3f}"
        return response


class VoiceListView(APIView):
    @extend_schema(operation_id="voices_list", summary="List voices", responses={200: VoiceSerializer(many=True)}, examples=ex.VOICES_LIST)
    def get(self, request):
        voices = [v for v in get_voice_library().voices.values() if v.available]
        return Response(VoiceSerializer(voices, many=True).data)


def preview_response(voice_id: str) -> HttpResponse:
    """A catalog voice's short MP3 sample: the same few seconds for everyone, cached in storage."""
    voice = get_voice_library().voices.get(voice_id)
    if voice is None or not voice.available:
        raise voice_not_found(voice_id)
    response = HttpResponse(voice_preview(voice), content_type="audio/mpeg")
    response["Cache-Control"] = "public, max-age=86400"
    return response


class VoicePreviewView(APIView):
    """Public, like ElevenLabs' preview_url: an <audio> tag can play it without a key.

    Each voice is synthesized once (54 at most, not charged) and then served from storage.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="voices_preview",
        summary="A voice's short MP3 sample (public, cached)",
        auth=[],
        responses={(200, "audio/mpeg"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)},
        examples=ex.VOICE_PREVIEW,
    )
    def get(self, request, voice_id):
        return preview_response(voice_id)

"""The HTTP API of the original product: POST /tts and GET /voices."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from synthesis.api import examples as ex
from synthesis.api.common import ERROR_RESPONSE, SynthesisView, audio_response, preview_response
from synthesis.api.serializers import TTSRequestSerializer, VoiceSerializer
from synthesis.audio import parse_format
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.session import Caller, Order, session_open
from synthesis.services.voices import available_voices

WAV = parse_format("wav")


class TTSView(SynthesisView):

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
        serializer = TTSRequestSerializer(
            data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session = session_open(
            caller=Caller.of(request), order=Order(
                text=data["text"], voice=data["voice"], fmt=WAV, speed=data["speed"],
                lexicon=lexicon_for(organization=request.organization, locators=data.get("pronunciation_dictionary_locators")),
            ),
        )
        speech = session.render()
        response = audio_response(speech, session)
        response["Audio-Duration"] = f"{speech.seconds:.3f}"
        return response


class VoiceListView(APIView):
    @extend_schema(operation_id="voices_list", summary="List voices", responses={200: VoiceSerializer(many=True)}, examples=ex.VOICES_LIST)
    def get(self, request):
        return Response(VoiceSerializer(available_voices(), many=True).data)


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

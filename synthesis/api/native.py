"""
The native API, /api/v1/…: synthesis in every format, streaming, voices,
history, usage. Every view is scoped to the organization of the credentials.
"""

import base64
from datetime import UTC, datetime, time, timedelta

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from synthesis.api import examples as ex
from synthesis.api.common import (
    ERROR_RESPONSE,
    INVALID_CURSOR,
    SynthesisView,
    api_key_of,
    as_download,
    audio_file_response,
    audio_response,
    history_of,
    output_format,
    preview_response,
    saved_voice_preview_response,
    voice_not_found,
    zip_response,
)
from synthesis.api.errors import APIError
from synthesis.api.serializers import (
    DownloadSerializer,
    GenerationSerializer,
    SavedVoiceCreateSerializer,
    SavedVoiceSerializer,
    SavedVoiceUpdateSerializer,
    SynthesisSerializer,
    UsageSerializer,
    UserInfoSerializer,
    VoiceSerializer,
)
from synthesis.api.streaming import stream_response
from synthesis.services.history import generation_delete, usage_per_day
from synthesis.services.pronunciation import lexicon_for
from synthesis.services.saved_voices import saved_voice_create, saved_voice_delete, saved_voice_update
from synthesis.services.session import Caller, Order, session_open
from synthesis.services.ssml import scripted
from synthesis.services.voices import available_voices, catalog_voice, saved_voice, saved_voices_of

SYNTHESIS_ERRORS = {
    400: OpenApiResponse(ERROR_RESPONSE, description="Invalid body (`parse_error` for hostile JSON): empty text, over the per-request characters or audio (`output_too_long`), bad speed or format."),
    401: OpenApiResponse(ERROR_RESPONSE, description="No valid API key or session."),
    402: OpenApiResponse(ERROR_RESPONSE, description="Monthly character quota exceeded (`resets_at`)."),
    403: OpenApiResponse(ERROR_RESPONSE, description="Missing scope, format not in the plan, or email unverified."),
    404: OpenApiResponse(ERROR_RESPONSE, description="Unknown voice, or `pronunciation_dictionary_not_found` (or its version's)."),
    429: OpenApiResponse(ERROR_RESPONSE, description="`rate_limited` or `concurrency_limited`; see Retry-After."),
    503: OpenApiResponse(ERROR_RESPONSE, description="`overloaded` (the server is at capacity) or `service_unavailable` (a backend is down); see Retry-After."),
}
EXAMPLE = OpenApiExample(
    "Speak in MP3", value={"text": "Hello from Voicehub!", "voice": "af_heart", "format": "mp3", "speed": 1.0}, request_only=True
)


def synthesis_order(request) -> Order:
    """The native body (SynthesisSerializer) as the session's order."""
    serializer = SynthesisSerializer(
        data=request.data, context={"max_characters": request.organization.plan.max_characters_per_request}
    )
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    order = Order(
        text=data["text"], voice=data["voice"], fmt=output_format(data["format"]), speed=data["speed"],
        normalize=data["normalize"] != "off", store=data["store"], language=data.get("language"),
        lexicon=lexicon_for(organization=request.organization, locators=data.get("pronunciation_dictionary_locators")),
    )
    return scripted(order, markup=data["text_type"])


class SynthesizeView(SynthesisView):
    @extend_schema(
        operation_id="v1_tts",
        summary="Synthesize speech",
        description="Returns the whole file in the requested format. Stored in history unless `store` is false.",
        request=SynthesisSerializer,
        responses={(200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The audio file."), **SYNTHESIS_ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request):
        session = session_open(caller=Caller.of(request), order=synthesis_order(request))
        return audio_response(session.render(), session)


class StreamView(SynthesisView):
    @extend_schema(
        operation_id="v1_tts_stream",
        summary="Stream speech as it is synthesized",
        description="The same body as /api/v1/tts. Audio is sent clause by clause as it is synthesized; the stream is a "
        "valid file (WAV with an unknown-length header, MP3 or Opus frames, raw PCM). A client that disconnects stops "
        "synthesis and pays only for the audio it received.",
        request=SynthesisSerializer,
        responses={(200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY), **SYNTHESIS_ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request):
        order = synthesis_order(request)
        session = session_open(caller=Caller.of(request), order=order, streaming=True)
        return stream_response(request, session, session.encoded(), order.fmt.media_type, filename=f"speech.{order.fmt.extension}")


class VoicesView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(
        operation_id="v1_voices_list", summary="List voices",
        description="The catalog, then your organization's saved voices (`saved: true`, with their blend and preview).",
        responses={200: VoiceSerializer(many=True)}, examples=ex.VOICES_LIST,
    )
    def get(self, request):
        saved = SavedVoiceSerializer(saved_voices_of(request.organization), many=True, context={"request": request})
        return Response(VoiceSerializer(available_voices(), many=True).data + saved.data)


class VoiceDetailView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_voices_get", summary="One voice", responses={200: VoiceSerializer, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.VOICE_DETAIL)
    def get(self, request, voice_id):
        voice = catalog_voice(voice_id)
        if voice is None:
            saved = saved_voice(request.organization, voice_id)
            if saved is None:
                raise voice_not_found(voice_id)
            return Response(SavedVoiceSerializer(saved, context={"request": request}).data)
        data = VoiceSerializer(voice).data
        data["preview_url"] = request.build_absolute_uri(reverse("synthesis:voice-preview", kwargs={"voice_id": voice.id}))
        return Response(data)


class VoicePreviewView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_voices_preview", summary="A short MP3 of the voice (free, cached)",
                   responses={(200, "audio/mpeg"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.VOICE_PREVIEW)
    def get(self, request, voice_id):
        if catalog_voice(voice_id) is None and (saved := saved_voice(request.organization, voice_id)) is not None:
            return saved_voice_preview_response(saved)
        return preview_response(voice_id)


SAVED_VOICE_ERRORS = {
    400: OpenApiResponse(
        ERROR_RESPONSE, description="`invalid_voice_mix` (e.g. voices of two languages, with the reason), invalid body."
    ),
    404: OpenApiResponse(
        ERROR_RESPONSE, description="`voice_not_found`: a voice of the blend, or the saved voice in your organization."
    ),
    409: OpenApiResponse(
        ERROR_RESPONSE, description="`voice_name_taken` (unique in an organization, any case), `saved_voice_limit`."
    ),
}


def saved_voice_of(request, saved_voice_id):
    """One of the organization's saved voices; another organization's is a 404 voice_not_found, as an unknown one."""
    voice = saved_voice(request.organization, saved_voice_id)
    if voice is None:
        raise voice_not_found(saved_voice_id)
    return voice


class SavedVoicesView(APIView):
    def get_permissions(self):
        scope = ApiKey.Scope.TTS if self.request.method == "POST" else ApiKey.Scope.VOICES_READ
        return [HasScope.of(scope)()]

    @extend_schema(
        operation_id="v1_saved_voices_list", summary="Your organization's saved voices",
        responses={200: SavedVoiceSerializer(many=True)}, examples=ex.SAVED_VOICES_LIST,
    )
    def get(self, request):
        voices = saved_voices_of(request.organization)
        return Response(SavedVoiceSerializer(voices, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="v1_saved_voices_create", summary="Save a blend of voices as a voice of your own",
        description="A named blend of 2-5 catalog voices of one language (`af_bella(2)+af_sky(1)`), usable as "
        "`voice` on every door. Its preview is synthesized now, once, and charged as a request (the characters of "
        "`preview_text`).",
        request=SavedVoiceCreateSerializer,
        responses={201: SavedVoiceSerializer, **SYNTHESIS_ERRORS, **SAVED_VOICE_ERRORS},
        examples=ex.SAVED_VOICE_CREATE,
    )
    def post(self, request):
        serializer = SavedVoiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        voice = saved_voice_create(
            caller=Caller.of(request), name=data["name"], spec=data["spec"], description=data["description"],
            preview_text=data["preview_text"],
        )
        return Response(SavedVoiceSerializer(voice, context={"request": request}).data, status=status.HTTP_201_CREATED)


class SavedVoiceDetailView(APIView):
    def get_permissions(self):
        scope = ApiKey.Scope.VOICES_READ if self.request.method == "GET" else ApiKey.Scope.TTS
        return [HasScope.of(scope)()]

    @extend_schema(
        operation_id="v1_saved_voices_get", summary="One saved voice",
        responses={200: SavedVoiceSerializer, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.SAVED_VOICE_DETAIL,
    )
    def get(self, request, saved_voice_id):
        voice = saved_voice_of(request, saved_voice_id)
        return Response(SavedVoiceSerializer(voice, context={"request": request}).data)

    @extend_schema(
        operation_id="v1_saved_voices_update", summary="Rename a saved voice or change its description",
        request=SavedVoiceUpdateSerializer, responses={200: SavedVoiceSerializer, **SAVED_VOICE_ERRORS},
        examples=ex.SAVED_VOICE_UPDATE,
    )
    def patch(self, request, saved_voice_id):
        serializer = SavedVoiceUpdateSerializer(data=request.data)  # a hostile body is a 400 whatever the id
        voice = saved_voice_of(request, saved_voice_id)
        serializer.is_valid(raise_exception=True)
        voice = saved_voice_update(voice=voice, **serializer.validated_data)
        return Response(SavedVoiceSerializer(voice, context={"request": request}).data)

    @extend_schema(
        operation_id="v1_saved_voices_delete", summary="Delete a saved voice and its preview",
        description="History and usage keep its id; requests naming it afterwards get 404 `voice_not_found`.",
        responses={204: None, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.SAVED_VOICE_DELETE,
    )
    def delete(self, request, saved_voice_id):
        saved_voice_delete(voice=saved_voice_of(request, saved_voice_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedVoicePreviewView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_saved_voices_preview", summary="A saved voice's preview (MP3)",
                   responses={(200, "audio/mpeg"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)},
                   examples=ex.SAVED_VOICE_PREVIEW)
    def get(self, request, saved_voice_id):
        return saved_voice_preview_response(saved_voice_of(request, saved_voice_id))


class HistoryPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class HistoryListView(ListAPIView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]
    serializer_class = GenerationSerializer
    pagination_class = HistoryPagination

    @extend_schema(
        operation_id="v1_history_list",
        summary="History, newest first",
        parameters=[
            OpenApiParameter("voice", str, description="Only this voice."),
            OpenApiParameter("q", str, description="Text contains (case-insensitive)."),
            OpenApiParameter("source", str, enum=["api", "studio"]),
            OpenApiParameter("from", OpenApiTypes.DATE, description="Created on or after this day (UTC)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Created on or before this day (UTC)."),
        ],
        responses={
            200: GenerationSerializer(many=True),
            400: OpenApiResponse(ERROR_RESPONSE, description="`from` or `to` is not a date (`invalid_date`)."),
            **INVALID_CURSOR,
        },
        examples=ex.HISTORY_LIST,
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        generations = history_of(self.request)
        if params.get("voice"):
            generations = generations.filter(voice=params["voice"])
        if params.get("q"):
            generations = generations.filter(text__icontains=params["q"])
        if params.get("source"):
            generations = generations.filter(source=params["source"])
        for name, lookup, day_time in (("from", "created_at__gte", time.min), ("to", "created_at__lte", time.max)):
            if params.get(name):
                day = parse_date_param(name, params[name])
                generations = generations.filter(**{lookup: datetime.combine(day, day_time, tzinfo=UTC)})
        return generations


def parse_date_param(name, value):
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        raise APIError(f"'{name}' must be a date as YYYY-MM-DD.", code="invalid_date")
    return day


class HistoryDetailView(APIView):
    def get_permissions(self):
        scope = ApiKey.Scope.HISTORY_WRITE if self.request.method == "DELETE" else ApiKey.Scope.HISTORY_READ
        return [HasScope.of(scope)()]

    @extend_schema(operation_id="v1_history_get", summary="One history item", responses={200: GenerationSerializer, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.HISTORY_ITEM)
    def get(self, request, generation_id):
        return Response(GenerationSerializer(get_object_or_404(history_of(request), pk=generation_id)).data)

    @extend_schema(operation_id="v1_history_delete", summary="Delete a history item and its audio", responses={204: None, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.HISTORY_DELETE)
    def delete(self, request, generation_id):
        generation_delete(get_object_or_404(history_of(request), pk=generation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class HistoryAudioView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(operation_id="v1_history_audio", summary="Download a history item's audio", responses={(200, "audio/*"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.HISTORY_AUDIO)
    def get(self, request, generation_id):
        return audio_file_response(get_object_or_404(history_of(request), pk=generation_id))


class HistoryDownloadView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(operation_id="v1_history_download", summary="Several history items as one zip", request=DownloadSerializer,
                   responses={(200, "application/zip"): OpenApiTypes.BINARY,
                              400: OpenApiResponse(ERROR_RESPONSE, description="`ids` missing, empty, too many or not UUIDs."),
                              404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.HISTORY_DOWNLOAD)
    def post(self, request):
        serializer = DownloadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = set(serializer.validated_data["ids"])
        generations = list(history_of(request).filter(pk__in=ids))
        if len(generations) != len(ids):
            # Don't say which: an id of another organization must look like a missing one.
            raise APIError("One or more history items were not found.", code="not_found", status_code=404)
        return zip_response(generations)


class UsageView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.USAGE_READ)]

    @extend_schema(
        operation_id="v1_usage",
        summary="Characters used this period, and per day",
        parameters=[OpenApiParameter("from", OpenApiTypes.DATE), OpenApiParameter("to", OpenApiTypes.DATE)],
        responses={200: UsageSerializer, 400: OpenApiResponse(ERROR_RESPONSE)},
        examples=ex.USAGE,
    )
    def get(self, request):
        organization = request.organization
        organization.refresh_from_db(fields=["characters_used", "bonus_characters", "period_start", "period_end"])
        today = timezone.now().date()
        start = parse_date_param("from", request.query_params["from"]) if "from" in request.query_params else organization.period_start.date()
        end = parse_date_param("to", request.query_params["to"]) if "to" in request.query_params else today
        if end < start or (end - start) > timedelta(days=366):
            raise APIError("'from' must be before 'to', at most a year apart.", code="invalid_date_range")
        return Response(
            {
                "characters_used": organization.characters_used,
                "character_limit": organization.character_limit,
                "period_start": organization.period_start,
                "resets_at": organization.period_end,
                "days": usage_per_day(organization, start=start, end=end),
            }
        )


class UserView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.USAGE_READ)]

    @extend_schema(operation_id="v1_user", summary="Who these credentials belong to", responses={200: UserInfoSerializer}, examples=ex.USER)
    def get(self, request):
        organization = request.organization
        key = api_key_of(request)
        plan = organization.plan
        return Response(
            {
                "user": {"email": request.user.email, "name": request.user.name} if request.user.is_authenticated else None,
                "organization": {"name": organization.name, "slug": organization.slug},
                "api_key": {"name": key.name, "prefix": key.masked, "scopes": key.scopes} if key else None,
                "plan": {
                    "slug": plan.slug, "name": plan.name, "monthly_characters": plan.monthly_characters,
                    "max_characters_per_request": plan.max_characters_per_request,
                    "max_audio_seconds_per_request": plan.max_audio_seconds_per_request,
                    "requests_per_minute": plan.requests_per_minute, "concurrent_requests": plan.concurrent_requests,
                    "allowed_formats": plan.allowed_formats, "history_retention_days": plan.history_retention_days,
                },
            }
        )


def _alignment_schema(name):
    return inline_serializer(
        name,
        {
            "characters": serializers.ListField(child=serializers.CharField()),
            "character_start_times_seconds": serializers.ListField(child=serializers.FloatField()),
            "character_end_times_seconds": serializers.ListField(child=serializers.FloatField()),
        },
    )


class SynthesizeWithTimestampsView(SynthesisView):
    @extend_schema(
        operation_id="v1_tts_with_timestamps",
        summary="Synthesize speech with character timestamps",
        description="The same body as /api/v1/tts. Returns the audio (base64) and when each character is spoken, "
        "from the model's own phoneme durations: `alignment` over the text as sent, `normalized_alignment` over "
        "the text as spoken (numbers and symbols written out), as ElevenLabs' /with-timestamps does.",
        request=SynthesisSerializer,
        responses={
            200: inline_serializer(
                "SpeechWithTimestamps",
                {
                    "audio_base64": serializers.CharField(),
                    "alignment": _alignment_schema("Alignment"),
                    "normalized_alignment": _alignment_schema("NormalizedAlignment"),
                    "history_item_id": serializers.UUIDField(allow_null=True),
                },
            ),
            **SYNTHESIS_ERRORS,
        },
        examples=[EXAMPLE],
    )
    def post(self, request):
        session = session_open(caller=Caller.of(request), order=synthesis_order(request), timed=True)
        result = session.render_timed()
        response = Response(
            {
                "audio_base64": base64.b64encode(result.content).decode("ascii"),
                "alignment": result.alignment,
                "normalized_alignment": result.normalized_alignment,
                "history_item_id": str(result.generation.id) if result.generation is not None else None,
            }
        )
        for name, value in session.headers().items():
            response[name] = value
        return as_download(response)  # JSON, not a file, but the audio is in it

"""
The native API, /api/v1/…: synthesis in every format, streaming, voices,
history, usage. Every view is scoped to the organization of the credentials.
"""

import base64
import io
import zipfile
from datetime import UTC, datetime, time, timedelta


from django.http import FileResponse, Http404, HttpResponse
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

from accounts.models import ApiKey, UsageRecord
from accounts.permissions import HasScope
from accounts.quota import QuotaExceeded

from synthesis.api import examples as ex
from synthesis.api.legacy import ERROR_RESPONSE, preview_response, voice_not_found
from synthesis.api.errors import APIError
from synthesis.audio import UnknownFormat, parse_format
from synthesis.engine.core import EngineError
from synthesis.engine.voices import VoiceNotFound
from synthesis.services.limits import Limited, check_capacity, check_rate, concurrency_slot
from synthesis.api.serializers import (
    DownloadSerializer,
    GenerationSerializer,
    SynthesisSerializer,
    UsageSerializer,
    UserInfoSerializer,
    VoiceSerializer,
)
from synthesis.api.streaming import streaming_response
from synthesis.services.generation import (
    FormatNotAllowed,
    TimestampsUnavailable,
    generation_create,
    generation_stream,
    generation_with_timestamps,
    get_engine,
    get_voice_library,
    generation_delete,
    usage_per_day,
)

SYNTHESIS_ERRORS = {
    400: OpenApiResponse(ERROR_RESPONSE, description="Invalid body: empty text, over the per-request limit, bad speed or format."),
    401: OpenApiResponse(ERROR_RESPONSE, description="No valid API key or session."),
    402: OpenApiResponse(ERROR_RESPONSE, description="Monthly character quota exceeded (`resets_at`)."),
    403: OpenApiResponse(ERROR_RESPONSE, description="Missing scope, format not in the plan, or email unverified."),
    404: OpenApiResponse(ERROR_RESPONSE, description="Unknown voice."),
    429: OpenApiResponse(ERROR_RESPONSE, description="`rate_limited` or `concurrency_limited`; see Retry-After."),
    503: OpenApiResponse(ERROR_RESPONSE, description="`overloaded`: the server is at capacity; see Retry-After."),
}
EXAMPLE = OpenApiExample(
    "Speak in MP3", value={"text": "Hello from Voicehub!", "voice": "af_heart", "format": "mp3", "speed": 1.0}, request_only=True
)


# What a synthesis may raise that is the client's or the plan's doing, not ours.
SYNTHESIS_FAILURES = (QuotaExceeded, FormatNotAllowed, VoiceNotFound, Limited, EngineError)


def limited(error: Limited) -> APIError:
    exc = APIError(error.message, code=error.code, status_code=error.status)
    exc.wait = error.retry_after  # DRF's handler turns `wait` into Retry-After
    return exc


def api_key_of(request):
    return request.auth if isinstance(request.auth, ApiKey) else None


class SynthesisMixin:
    """Validation, limits and error mapping shared by /tts and /tts/stream."""

    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    def parse(self, request):
        organization = request.organization
        serializer = SynthesisSerializer(
            data=request.data, context={"max_characters": organization.plan.max_characters_per_request}
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            data["fmt"] = parse_format(data.pop("format"))
        except UnknownFormat as error:
            raise APIError(str(error), code="unsupported_format") from None
        try:
            get_voice_library().get(data["voice"])
        except VoiceNotFound:
            raise voice_not_found(data["voice"]) from None
        return data

    def kwargs_for(self, request, data):
        return dict(
            organization=request.organization,
            text=data["text"],
            voice_id=data["voice"],
            fmt=data["fmt"],
            speed=data["speed"],
            normalize=data["normalize"] != "off",
            store=data["store"],
            user=request.user if request.user.is_authenticated else None,
            api_key=api_key_of(request),
            source=UsageRecord.Source.API if api_key_of(request) else UsageRecord.Source.STUDIO,
        )

    def limit(self, request):
        try:
            check_capacity(get_engine())
            return check_rate(organization=request.organization, api_key=api_key_of(request))
        except Limited as error:
            raise limited(error) from None

    def synthesize(self, request, data, *, stretch=1.0, run=generation_create):
        """Limits, a concurrency slot and `run` (generation_create or generation_with_timestamps)."""
        rate = self.limit(request)
        try:
            with concurrency_slot(organization=request.organization):
                result = run(**self.kwargs_for(request, data), stretch=stretch)
        except SYNTHESIS_FAILURES as error:
            raise self.translate(error) from None
        return result, rate

    def open_stream(self, request, data, *, stretch=1.0):
        """The byte iterator; the concurrency slot is held until the stream ends or the client leaves."""
        rate = self.limit(request)
        slot = concurrency_slot(organization=request.organization)
        try:
            slot.__enter__()
        except Limited as error:
            raise limited(error) from None
        try:
            body = generation_stream(
                **self.kwargs_for(request, data), stretch=stretch, on_close=lambda: slot.__exit__(None, None, None)
            )
        except SYNTHESIS_FAILURES as error:
            slot.__exit__(None, None, None)
            raise self.translate(error) from None
        except BaseException:
            slot.__exit__(None, None, None)
            raise
        return body, rate

    @staticmethod
    def translate(error):
        if isinstance(error, QuotaExceeded):
            return APIError(str(error), code=error.code, status_code=status.HTTP_402_PAYMENT_REQUIRED, resets_at=error.resets_at)
        if isinstance(error, FormatNotAllowed):
            return APIError(str(error), code=error.code, status_code=status.HTTP_403_FORBIDDEN)
        if isinstance(error, VoiceNotFound):
            return voice_not_found(str(error))
        if isinstance(error, Limited):
            return limited(error)
        return APIError(str(error), code=error.code)


def audio_response(result, rate) -> HttpResponse:
    """A synthesized file with its cost, history id and rate-limit headers."""
    response = HttpResponse(result.content, content_type=result.media_type)
    response["Content-Disposition"] = f'inline; filename="speech.{result.extension}"'
    response["character-cost"] = str(result.characters)
    if result.generation is not None:
        response["history-item-id"] = str(result.generation.id)
    for name, value in rate.headers().items():
        response[name] = value
    return response


class SynthesizeView(SynthesisMixin, APIView):
    @extend_schema(
        operation_id="v1_tts",
        summary="Synthesize speech",
        description="Returns the whole file in the requested format. Stored in history unless `store` is false.",
        request=SynthesisSerializer,
        responses={(200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The audio file."), **SYNTHESIS_ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request):
        result, rate = self.synthesize(request, self.parse(request))
        return audio_response(result, rate)


class StreamView(SynthesisMixin, APIView):
    @extend_schema(
        operation_id="v1_tts_stream",
        summary="Stream speech as it is synthesized",
        description="The same body as /api/v1/tts. Audio is sent sentence by sentence; the stream is a valid file "
        "(WAV with an unknown-length header, MP3 or Opus frames, raw PCM).",
        request=SynthesisSerializer,
        responses={(200, "audio/*"): OpenApiResponse(OpenApiTypes.BINARY), **SYNTHESIS_ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request):
        data = self.parse(request)
        body, rate = self.open_stream(request, data)
        response = streaming_response(request._request, body, data["fmt"].media_type)
        response["character-cost"] = str(len(data["text"]))
        response["Cache-Control"] = "no-store"
        for name, value in rate.headers().items():
            response[name] = value
        return response


class VoicesView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_voices_list", summary="List voices", responses={200: VoiceSerializer(many=True)}, examples=ex.VOICES_LIST)
    def get(self, request):
        voices = [v for v in get_voice_library().voices.values() if v.available]
        return Response(VoiceSerializer(voices, many=True).data)


class VoiceDetailView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_voices_get", summary="One voice", responses={200: VoiceSerializer, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.VOICE_DETAIL)
    def get(self, request, voice_id):
        voice = get_voice_library().voices.get(voice_id)
        if voice is None or not voice.available:
            raise voice_not_found(voice_id)
        data = VoiceSerializer(voice).data
        data["preview_url"] = request.build_absolute_uri(reverse("synthesis:voice-preview", kwargs={"voice_id": voice.id}))
        return Response(data)


class VoicePreviewView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.VOICES_READ)]

    @extend_schema(operation_id="v1_voices_preview", summary="A short MP3 of the voice (free, cached)",
                   responses={(200, "audio/mpeg"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.VOICE_PREVIEW)
    def get(self, request, voice_id):
        return preview_response(voice_id)


class HistoryPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def history_of(request):
    """The organization's history: the only way any history view reaches a Generation."""
    return request.organization.generations.all()


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


def audio_file_response(generation, *, attachment=True) -> FileResponse:
    """A history item's audio from storage (a download unless `attachment` is false), kept by no cache."""
    try:
        audio = generation.audio.open("rb")
    except FileNotFoundError:
        raise Http404("This audio is no longer kept.") from None
    extension = generation.audio.name.rsplit(".", 1)[-1]
    response = FileResponse(
        audio, as_attachment=attachment, filename=f"voicehub-{generation.id}.{extension}", content_type=generation.content_type
    )
    response["Cache-Control"] = "private, no-store"
    return response


class HistoryDownloadView(APIView):
    permission_classes = [HasScope.of(ApiKey.Scope.HISTORY_READ)]

    @extend_schema(operation_id="v1_history_download", summary="Several history items as one zip", request=DownloadSerializer,
                   responses={(200, "application/zip"): OpenApiTypes.BINARY, 404: OpenApiResponse(ERROR_RESPONSE)}, examples=ex.HISTORY_DOWNLOAD)
    def post(self, request):
        serializer = DownloadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = set(serializer.validated_data["ids"])
        generations = list(history_of(request).filter(pk__in=ids))
        if len(generations) != len(ids):
            # Don't say which: an id of another organization must look like a missing one.
            raise APIError("One or more history items were not found.", code="not_found", status_code=404)
        return zip_response(generations)


def zip_response(generations) -> HttpResponse:
    """Several history items' audio as one zip (stored, not deflated: audio is already compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for generation in generations:
            with generation.audio.open("rb") as audio:
                archive.writestr(f"{generation.created_at:%Y%m%d-%H%M%S}-{generation.id}.{generation.audio.name.rsplit('.', 1)[-1]}", audio.read())
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="voicehub-history.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


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
        organization.refresh_from_db(fields=["characters_used", "period_start", "period_end"])
        today = timezone.now().date()
        start = parse_date_param("from", request.query_params["from"]) if "from" in request.query_params else organization.period_start.date()
        end = parse_date_param("to", request.query_params["to"]) if "to" in request.query_params else today
        if end < start or (end - start) > timedelta(days=366):
            raise APIError("'from' must be before 'to', at most a year apart.", code="invalid_date_range")
        return Response(
            {
                "characters_used": organization.characters_used,
                "character_limit": organization.plan.monthly_characters,
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


class SynthesizeWithTimestampsView(SynthesisMixin, APIView):
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
        try:
            result, rate = self.synthesize(request, self.parse(request), run=generation_with_timestamps)
        except TimestampsUnavailable as error:
            raise APIError(str(error), code=error.code, status_code=status.HTTP_503_SERVICE_UNAVAILABLE) from None
        response = Response(
            {
                "audio_base64": base64.b64encode(result.content).decode("ascii"),
                "alignment": result.alignment,
                "normalized_alignment": result.normalized_alignment,
                "history_item_id": str(result.generation.id) if result.generation is not None else None,
            }
        )
        response["character-cost"] = str(result.characters)
        for name, value in rate.headers().items():
            response[name] = value
        return response

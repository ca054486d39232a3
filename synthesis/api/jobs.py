"""
Long-form jobs and webhooks under /api/v1/: create (text or an uploaded
.txt/.md/.epub), list, follow, cancel, download the results; the
organization's webhook URL and its delivery log.

Every view is scoped to the organization of the credentials (another
organization's job is a 404) and needs the `tts` scope.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey, UsageRecord
from accounts.permissions import HasScope, IsOrganizationManager
from synthesis.api import examples as ex
from synthesis.api.common import ERROR_RESPONSE, INVALID_CURSOR, api_key_of, output_format, stored_file_response
from synthesis.api.errors import APIError
from synthesis.api.idempotency import Idempotent
from synthesis.api.parsers import StrictJSONParser
from synthesis.api.serializers import FormatField, NumberField, StringField
from synthesis.audio import parse_format
from synthesis.jobs import service as jobs, webhooks
from synthesis.jobs.documents import DocumentError, chapters_from_input
from synthesis.models import Job, WebhookDelivery

# An upload bigger than this is not a book (the longest novels are ~4 MB of EPUB text).

TTS = [HasScope.of(ApiKey.Scope.TTS)]
NOT_FOUND = {404: OpenApiResponse(ERROR_RESPONSE, description="No such job in your organization.")}
ADMIN_ONLY = {
    401: OpenApiResponse(ERROR_RESPONSE, description="No valid API key or session."),
    403: OpenApiResponse(ERROR_RESPONSE, description="The key lacks the `tts` scope, or neither the signed-in user nor "
                         "the key's creator is an owner or admin of the organization (`admin_required`)."),
}


class JobCreateSerializer(serializers.Serializer):
    text = StringField(required=False, trim_whitespace=False, allow_blank=True,
                       help_text="The text; `#` headings and 'Chapter N' lines start chapters. Or send `file`.")
    file = serializers.FileField(required=False, help_text="A .txt, .md or .epub document (multipart/form-data).")
    title = StringField(required=False, allow_blank=True, max_length=200)
    voice = StringField(default="af", max_length=200)
    speed = NumberField(default=1.0, field_code="invalid_speed")
    format = FormatField(default="mp3")
    normalize = serializers.ChoiceField(choices=["auto", "on", "off"], default="auto")
    # A list in JSON; in multipart/form-data, that list as a JSON string. The versions it names are pinned for the
    # whole job (synthesis.jobs.service.job_create).
    pronunciation_dictionary_locators = serializers.JSONField(
        required=False, allow_null=True,
        help_text="Up to 3 of your pronunciation dictionaries: [{pronunciation_dictionary_id, version_id?}]; the "
        "versions they name when the job starts are used for the whole job.",
    )

    def to_internal_value(self, data):
        # Multipart values are strings: read the speed as a number there.
        if hasattr(data, "getlist") and isinstance(data.get("speed"), str):
            data = data.copy()
            try:
                data["speed"] = float(data["speed"])
            except ValueError:
                raise serializers.ValidationError({"speed": [serializers.ErrorDetail("must be a number.", code="invalid_speed")]}) from None
        return super().to_internal_value(data)

    def validate(self, data):
        if data.get("file") is not None:
            if data.get("text"):
                raise serializers.ValidationError("Send either `text` or `file`, not both.", code="text_or_file")
        elif not (data.get("text") or "").strip():
            raise serializers.ValidationError(
                {"text": [serializers.ErrorDetail("must not be empty or only whitespace (or send a `file`).", code="empty_text")]}
            )
        return data


class ChapterOutSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    title = serializers.CharField()
    characters = serializers.IntegerField()
    audio_seconds = serializers.FloatField()
    audio_url = serializers.CharField(allow_null=True)


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    title = serializers.CharField()
    voice = serializers.CharField()
    speed = serializers.FloatField()
    format = serializers.CharField(source="output_format")
    characters = serializers.IntegerField(help_text="What the job costs in all; charged chunk by chunk.")
    chunks_done = serializers.IntegerField()
    chunks_total = serializers.IntegerField(help_text="0 until a worker has planned the job.")
    progress = serializers.FloatField(help_text="0.0 to 1.0.")
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Estimated seconds left while running.")
    error = serializers.DictField(allow_null=True)
    notice = serializers.DictField(
        allow_null=True,
        help_text="Why an unfinished job is not moving, when known: `{code, detail}`; "
        "`no_worker` when no job worker has been seen lately (start `manage.py jobs_worker`). Null otherwise.",
    )
    audio_seconds = serializers.FloatField()
    audio_url = serializers.CharField(allow_null=True, help_text="The whole book, once succeeded.")
    timing_url = serializers.CharField(allow_null=True, help_text="JSON: when each chapter, chunk and word is spoken.")
    chapters = ChapterOutSerializer(many=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def job_data(job: Job, *, chapters: bool = True, alive: bool | None = None) -> dict:
    """`alive`: jobs.workers_alive(), when a list already asked it once for all its jobs."""
    done = job.status == Job.Status.SUCCEEDED
    return {
        **jobs.job_payload(job),
        "notice": jobs.job_notice(job, alive=alive),
        "voice": job.voice,
        "speed": job.speed,
        "output_format": job.output_format,
        "progress": round(job.spoken_done / job.spoken_total, 4) if job.spoken_total else (1.0 if done else 0.0),
        "audio_seconds": round(job.audio_seconds, 3),
        "audio_url": reverse("api_v1:job-audio", kwargs={"job_id": job.id}) if done and job.audio else None,
        "timing_url": reverse("api_v1:job-timing", kwargs={"job_id": job.id}) if done and job.timing else None,
        "chapters": [
            {"index": c.index, "title": c.title, "characters": len(c.text), "audio_seconds": round(c.audio_seconds, 3),
             "audio_url": reverse("api_v1:job-chapter-audio", kwargs={"job_id": job.id, "index": c.index})
             if done and c.audio else None}
            for c in job.chapters.all()
        ] if chapters else [],
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def jobs_of(request):
    return request.organization.jobs.all()


class JobsView(Idempotent, ListAPIView):
    """GET: the organization's jobs, newest first. POST: start a job (Idempotency-Key honoured, as on synthesis)."""

    permission_classes = TTS
    parser_classes = [StrictJSONParser, MultiPartParser]
    serializer_class = JobSerializer

    class Pagination(CursorPagination):
        ordering = ("-created_at", "-id")
        page_size = 50

    pagination_class = Pagination

    def get_queryset(self):
        return jobs_of(self.request)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        alive = jobs.workers_alive() if any(not j.is_final for j in page) else True
        return self.get_paginated_response([JobSerializer(job_data(j, chapters=False, alive=alive)).data for j in page])

    @extend_schema(operation_id="v1_jobs_list", summary="Long-form jobs, newest first",
                   responses={200: JobSerializer(many=True), **INVALID_CURSOR}, examples=ex.JOBS_LIST)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="v1_jobs_create",
        summary="Start a long-form job (an article, a chapter, a book)",
        description="JSON `{text, voice, speed, format, normalize, title}` or multipart/form-data with `file` "
        "(.txt, .md, .epub) and the same fields. Up to the plan's long-form limit (its monthly characters). "
        "Chapters come from headings. Characters are charged chunk by chunk as audio is produced.",
        request={"application/json": JobCreateSerializer, "multipart/form-data": JobCreateSerializer},
        responses={
            202: JobSerializer,
            400: OpenApiResponse(ERROR_RESPONSE, description="Empty text, over the long-form limit, bad speed, format or document."),
            402: OpenApiResponse(ERROR_RESPONSE, description="Not enough characters left this period for the whole job."),
            403: OpenApiResponse(ERROR_RESPONSE, description="Missing scope, or format not in the plan."),
            404: OpenApiResponse(ERROR_RESPONSE, description="Unknown voice."),
            413: OpenApiResponse(ERROR_RESPONSE, description="Upload larger than 20 MB."),
            429: OpenApiResponse(ERROR_RESPONSE, description="`rate_limited`."),
        },
        examples=ex.JOBS_CREATE,
    )
    def post(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            chapters = chapters_from_input(data.get("text", ""), data.get("file"))
        except DocumentError as error:
            raise APIError(str(error), code=error.code, status_code=413 if error.code == "payload_too_large" else 400) from None
        job = jobs.job_create(
            organization=request.organization, chapters=chapters, voice_id=data["voice"], fmt=output_format(data["format"]),
            speed=data["speed"], normalize=data["normalize"] != "off", title=data.get("title", ""),
            user=request.user if request.user.is_authenticated else None, api_key=api_key_of(request),
            source=UsageRecord.Source.API if api_key_of(request) else UsageRecord.Source.STUDIO,
            pronunciation_dictionary_locators=data.get("pronunciation_dictionary_locators"),
        )
        response = Response(JobSerializer(job_data(job)).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = reverse("api_v1:job", kwargs={"job_id": job.id})
        for name, value in job.rate.headers().items():
            response[name] = value
        return response


class JobDetailView(APIView):
    permission_classes = TTS

    @extend_schema(operation_id="v1_jobs_get", summary="A job: status, progress, time left, results", responses={200: JobSerializer, **NOT_FOUND}, examples=ex.JOB_DETAIL)
    def get(self, request, job_id):
        return Response(JobSerializer(job_data(get_object_or_404(jobs_of(request), pk=job_id))).data)


class JobCancelView(APIView):
    permission_classes = TTS

    @extend_schema(
        operation_id="v1_jobs_cancel", summary="Cancel a queued or running job", request=None,
        description="Chunks already produced stay charged; the rest of the text is never charged.",
        responses={200: JobSerializer, 409: OpenApiResponse(ERROR_RESPONSE, description="The job has already finished."), **NOT_FOUND},
        examples=ex.JOB_CANCEL,
    )
    def post(self, request, job_id):
        job = get_object_or_404(jobs_of(request), pk=job_id)
        try:
            job = jobs.job_cancel(job=job)
        except jobs.JobNotCancellable as error:
            raise APIError(str(error), code=error.code, status_code=status.HTTP_409_CONFLICT) from None
        return Response(JobSerializer(job_data(job)).data)


AUDIO = {(200, "audio/*"): OpenApiTypes.BINARY, 409: OpenApiResponse(ERROR_RESPONSE, description="Not finished."), **NOT_FOUND}


class JobAudioView(APIView):
    permission_classes = TTS

    @extend_schema(operation_id="v1_jobs_audio", summary="The whole job as one audio file", responses=AUDIO, examples=ex.JOB_FILE)
    def get(self, request, job_id):
        job = get_object_or_404(jobs_of(request), pk=job_id)
        return stored_file_response(job.audio, f"voicehub-{job.id}.{parse_format(job.output_format).extension}", job.content_type)


class JobChapterAudioView(APIView):
    permission_classes = TTS

    @extend_schema(operation_id="v1_jobs_chapter_audio", summary="One chapter's audio file", responses=AUDIO, examples=ex.JOB_FILE)
    def get(self, request, job_id, index):
        job = get_object_or_404(jobs_of(request), pk=job_id)
        chapter = get_object_or_404(job.chapters, index=index)
        extension = parse_format(job.output_format).extension
        return stored_file_response(chapter.audio, f"voicehub-{job.id}-chapter-{index + 1}.{extension}", job.content_type)


class JobTimingView(APIView):
    permission_classes = TTS

    @extend_schema(
        operation_id="v1_jobs_timing", summary="When each chapter, chunk and word is spoken (JSON)",
        description="`chapters`: [{index, title, start, end}], `chunks`: [{index, chapter, text, start, end}], "
        "`words`: [[word, start, end]]; seconds on the whole file's timeline; texts as spoken (normalized).",
        responses={(200, "application/json"): OpenApiTypes.OBJECT, 409: OpenApiResponse(ERROR_RESPONSE), **NOT_FOUND},
        examples=ex.JOB_TIMING,
    )
    def get(self, request, job_id):
        job = get_object_or_404(jobs_of(request), pk=job_id)
        return stored_file_response(job.timing, f"voicehub-{job.id}-timing.json", "application/json")


# -- webhooks -------------------------------------------------------------------------------


class WebhookSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="Where job.succeeded, job.failed and job.cancelled are POSTed.")


class WebhookOutSerializer(serializers.Serializer):
    url = serializers.URLField()
    secret = serializers.CharField(help_text="Signs each body: Voicehub-Signature: t=<unix>,v1=HMAC-SHA256(secret, '<t>.' + body).")
    is_active = serializers.BooleanField()


class WebhookView(APIView):
    """The webhook is the organization's, and its secret signs every event: owners and admins only,
    as in the studio (a key acts with its creator's role)."""

    permission_classes = [*TTS, IsOrganizationManager]

    def _endpoint(self, request):
        endpoint = getattr(request.organization, "webhook", None)
        if endpoint is None:
            raise APIError("No webhook is set for your organization.", code="not_found", status_code=404)
        return endpoint

    @extend_schema(operation_id="v1_webhook_get", summary="The organization's webhook", responses={200: WebhookOutSerializer, 404: OpenApiResponse(ERROR_RESPONSE), **ADMIN_ONLY}, examples=ex.WEBHOOK_GET)
    def get(self, request):
        return Response(WebhookOutSerializer(self._endpoint(request)).data)

    @extend_schema(operation_id="v1_webhook_set", summary="Set the webhook URL (a new webhook gets a new secret)",
                   request=WebhookSerializer, responses={200: WebhookOutSerializer, 400: OpenApiResponse(ERROR_RESPONSE), **ADMIN_ONLY},
                   examples=ex.WEBHOOK_SET)
    def put(self, request):
        serializer = WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = webhooks.webhook_set(organization=request.organization, url=serializer.validated_data["url"])
        except webhooks.WebhookURLInvalid as error:
            raise APIError(str(error), code=error.code) from None
        return Response(WebhookOutSerializer(endpoint).data)

    @extend_schema(operation_id="v1_webhook_delete", summary="Remove the webhook", responses={204: None, 404: OpenApiResponse(ERROR_RESPONSE), **ADMIN_ONLY}, examples=ex.WEBHOOK_DELETE)
    def delete(self, request):
        self._endpoint(request).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "job", "url", "event", "status", "attempts", "response_status", "last_error", "next_attempt_at",
                  "created_at", "delivered_at"]


class WebhookDeliveriesView(ListAPIView):
    permission_classes = TTS
    serializer_class = DeliverySerializer

    class Pagination(CursorPagination):
        ordering = ("-created_at", "-id")
        page_size = 50

    pagination_class = Pagination

    def get_queryset(self):
        return self.request.organization.webhook_deliveries.all()

    @extend_schema(operation_id="v1_webhook_deliveries", summary="The webhook delivery log, newest first",
                   responses={200: DeliverySerializer(many=True), **INVALID_CURSOR}, examples=ex.WEBHOOK_DELIVERIES)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


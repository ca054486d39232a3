"""
What every HTTP door shares that is HTTP, not synthesis: the synthesis-door base view, the
audio responses, the error schema. Doors import this module and synthesis.services, never
each other (the room is synthesis.services.session; this is only the doorframe).
"""

from __future__ import annotations

import io
import zipfile

from django.http import FileResponse, Http404, HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from synthesis.api.errors import APIError
from synthesis.api.idempotency import Idempotent
from synthesis.audio import OutputFormat, UnknownFormat, parse_format
from synthesis.services import timings
from synthesis.services.voices import catalog_voice, voice_preview

ERROR_RESPONSE = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
}
# What DRF's CursorPagination answers a `cursor` it did not give out.
INVALID_CURSOR = {404: OpenApiResponse(ERROR_RESPONSE, description="`cursor` is not one this list gave (`not_found`).")}


class SynthesisView(Idempotent, APIView):
    """A door into the synthesis session. The contract matrix (synthesis/tests/test_contract.py) and the
    request log find every synthesis route by this base class, so a new one cannot skip them; so does
    Idempotency-Key (synthesis.api.idempotency)."""

    synthesis_door = True
    permission_classes = [HasScope.of(ApiKey.Scope.TTS)]

    def dispatch(self, request, *args, **kwargs):
        with timings.measured() as measured:
            response = super().dispatch(request, *args, **kwargs)
        if not response.streaming:
            # Where the time went (bench/api_bench.py prints it); a stream's headers leave before its work.
            response["Server-Timing"] = measured.server_timing()
        return response


class IgnoreAccept(DefaultContentNegotiation):
    """Always answer with the JSON renderer, whatever Accept says.

    The SDKs send `Accept: application/octet-stream` (or audio/*) for speech; DRF would answer
    406 because no renderer makes audio. Audio is an HttpResponse made by the view; the renderer
    only ever renders errors.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def output_format(name: str, *, param: str | None = None, status_code: int = 400, code: str = "unsupported_format") -> OutputFormat:
    try:
        return parse_format(name)
    except UnknownFormat as error:
        extra = {"param": param} if param else {}
        raise APIError(str(error), code=code, status_code=status_code, **extra) from None


# A stream of JSON objects, one a line (the timestamp streams): SDKs read the body line by line whatever its
# type, and a client that checks the type should not take the whole body for one JSON document.
JSON_LINES = "application/x-ndjson"

# An organization's audio and files are nobody else's: no shared cache (a CDN, a proxy) may keep them,
# nor the browser's disk cache.
PRIVATE = "private, no-store"
# A voice preview is the same few seconds for everyone and holds nothing of a customer's: caches may keep it.
PUBLIC = "public, max-age=86400"


def as_download(response, filename: str | None = None, *, cache: str = PRIVATE):
    """Every audio or file response of every door: a download named `filename` (an <audio> element or
    fetch() still plays it; a browser that opens the URL saves it rather than render it in our origin),
    kept by no cache unless `cache` says otherwise. Without a filename (an event stream, a JSON body
    carrying audio) only the cache rule is set."""
    if filename is not None:
        # A safe ASCII filename, plus RFC 5987's filename* when it needs more.
        response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = cache
    return response


def audio_response(result, session) -> HttpResponse:
    """A synthesized file with its cost, history id and rate-limit headers."""
    response = as_download(HttpResponse(result.content, content_type=result.media_type), f"speech.{result.extension}")
    for name, value in session.headers().items():
        response[name] = value
    if result.generation is not None:
        response["history-item-id"] = str(result.generation.id)
    return response


def audio_file_response(generation) -> FileResponse:
    """A history item's audio from storage, as a download."""
    try:
        audio = generation.audio.open("rb")
    except FileNotFoundError:
        raise Http404("This audio is no longer kept.") from None
    extension = generation.audio.name.rsplit(".", 1)[-1]
    return as_download(FileResponse(audio, content_type=generation.content_type), f"voicehub-{generation.id}.{extension}")


def zip_response(generations) -> HttpResponse:
    """Several history items' audio as one zip (stored, not deflated: audio is already compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for generation in generations:
            with generation.audio.open("rb") as audio:
                archive.writestr(f"{generation.created_at:%Y%m%d-%H%M%S}-{generation.id}.{generation.audio.name.rsplit('.', 1)[-1]}", audio.read())
    return as_download(HttpResponse(buffer.getvalue(), content_type="application/zip"), "voicehub-history.zip")


def parse_before_lookup(request) -> UnsupportedMediaType | None:
    """Parse a body before the object its URL names is looked up: hostile JSON is a 400 `parse_error` whatever the id
    (it tells nothing of the object). A body of another media type is returned, to raise after the lookup, so that
    another organization's id is still a 404 (as the cross-tenant matrix asks of every credential)."""
    try:
        request.data  # noqa: B018 - parsing is the point
    except UnsupportedMediaType as error:
        return error
    return None


def api_key_of(request):
    return request.auth if isinstance(request.auth, ApiKey) else None


def history_of(request):
    """The organization's history: the only way any history view reaches a Generation."""
    return request.organization.generations.all()


def voice_not_found(voice_id: str) -> APIError:
    return APIError(
        f"Voice {voice_id!r} was not found. List the available voices with GET /api/v1/voices.",
        code="voice_not_found",
        status_code=404,
    )


def preview_response(voice_id: str) -> HttpResponse:
    """A catalog voice's short MP3 sample: the same few seconds for everyone, cached in storage."""
    voice = catalog_voice(voice_id)
    if voice is None:
        raise voice_not_found(voice_id)
    return as_download(HttpResponse(voice_preview(voice), content_type="audio/mpeg"), f"{voice.id}-preview.mp3", cache=PUBLIC)


def saved_voice_preview_response(voice) -> FileResponse:
    """A saved voice's preview from storage: the organization's own, so private (unlike the catalog's)."""
    try:
        audio = voice.preview.open("rb")
    except (FileNotFoundError, ValueError):  # ValueError: no file recorded
        raise Http404("This preview is no longer kept.") from None
    return as_download(FileResponse(audio, content_type="audio/mpeg"), f"{voice.public_id}-preview.mp3")


def stored_file_response(field, filename: str, content_type: str) -> FileResponse:
    """A job's result file (a FieldFile) as a download; 409 while the job has not made it yet."""
    if not field:
        raise APIError("This job has no result yet.", code="job_not_finished", status_code=409)
    return as_download(FileResponse(field.open("rb"), content_type=content_type), filename)

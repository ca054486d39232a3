"""
Every API error is JSON: {"detail": human message, "code": machine-readable}.

Validation errors also carry "errors" (field -> messages) so a client can show
them next to its inputs. A backend outage (database, cache, storage) is 503
`service_unavailable` with Retry-After, never a 500.
"""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler, set_rollback

from synthesis.middleware import wants_json
from synthesis.services.errors import outage_of
from synthesis.services.session import Refused

logger = logging.getLogger(__name__)


class APIError(exceptions.APIException):
    """An error with an explicit status and code, raised from views and services."""

    def __init__(self, detail: str, code: str, status_code: int = status.HTTP_400_BAD_REQUEST, **extra):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.code = code
        self.extra = extra


def _first_error(detail, path=""):
    """The first (field, ErrorDetail) in a nested DRF error structure."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            found = _first_error(value, key if key != "non_field_errors" else path)
            if found:
                return found
    elif isinstance(detail, list):
        for item in detail:
            found = _first_error(item, path)
            if found:
                return found
    elif detail is not None:
        return path, detail
    return None


def refused_response(exc: Refused) -> Response:
    """What the synthesis session refused, with the headers the client needs (RateLimit-*, Retry-After)."""
    response = Response({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def exception_handler(exc, context):
    outage = outage_of(exc)
    if outage is not None:
        # The cause is kept for us (the traceback of the driver's error); the client gets a retry hint.
        logger.warning("%s unavailable: %r", outage.backend or "a backend", exc, exc_info=exc)
        set_rollback()
        return Response(
            {"detail": outage.message, "code": outage.code}, status=outage.status, headers={"Retry-After": str(outage.retry_after)}
        )
    if isinstance(exc, Refused):
        return refused_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large.", "code": "payload_too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, APIError):
        response.data = {"detail": str(exc.detail), "code": exc.code, **exc.extra}
    elif isinstance(exc, exceptions.ValidationError):
        field, error = _first_error(exc.detail) or ("", exceptions.ErrorDetail("Invalid request.", "invalid"))
        message = str(error) if not field else f"{field}: {error}"
        response.data = {"detail": message, "code": getattr(error, "code", "invalid"), "errors": exc.detail}
    elif isinstance(exc, exceptions.NotAuthenticated):
        response.data = {
            "detail": "Authentication required: send an API key as 'Authorization: Bearer <key>' or sign in.",
            "code": "authentication_required",
        }
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": code}
    return response


def page_not_found(request, exception):
    """The 404 of a URL that no route matches (settings: handler404 in voicehub_site.urls).

    On an API path it is JSON like every other API error: a malformed id (`/api/v1/jobs/not-a-uuid`
    matches no route, since ids are UUIDs) must not answer an HTML page to a client that reads JSON.
    """
    if request.path.startswith(("/v1/", "/v2/")):
        return vendor_not_found(request)
    if wants_json(request):
        return JsonResponse({"detail": "Nothing here: check the path and the id in it.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def vendor_not_found(request) -> JsonResponse:
    """A route the vendor APIs' paths (/v1/, /v2/) do not have, in the asking SDK's error shape (so it raises its
    own API error, not a decoding one): ElevenLabs' when the request carries `xi-api-key`, OpenAI's otherwise."""
    message = (
        f"{request.method} {request.path} is not a route of Voicehub's ElevenLabs- or OpenAI-compatible API; "
        "docs/compatibility.md lists the methods that are."
    )
    if "xi-api-key" in request.headers:
        from synthesis.api.elevenlabs import elevenlabs_error  # the door's mapping; it imports this module

        status, body = elevenlabs_error("not_found", 404, message)
    else:
        status, body = 404, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "not_found"}}
    return JsonResponse(body, status=status)

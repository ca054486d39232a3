"""Every response's request id, and backend outages as 503s.

The request log's middleware is the analytics' own: accounts.analytics.middleware.
"""

import logging
import re
import uuid

from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from synthesis.services.errors import outage_of

# A client's own id is kept if it is short and plain; anything else is replaced.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Every response carries `request-id`: the client's X-Request-ID if sane, else a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _CLIENT_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["request-id"] = request.request_id
        return response


logger = logging.getLogger(__name__)


# -- outages -------------------------------------------------------------------------

# Where a client reads JSON: the APIs, the legacy /tts and the landing demo.
_JSON_PATHS = ("/api/", "/v1/", "/v2/", "/tts", "/demo")


def wants_json(request) -> bool:
    """Whether the client reads JSON errors: an API path, or an Accept that asks for JSON."""
    return request.path.startswith(_JSON_PATHS) or "application/json" in request.headers.get("Accept", "")


_OUTAGE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Voicehub is briefly unavailable</title>"
    "<h1>Voicehub is briefly unavailable</h1><p>Part of the service is down. Please try again in a moment.</p>"
)


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """A backend outage in a Django view (the demo, the studio pages) is a 503 with Retry-After, not a 500.

    The same mapping as the API's exception handler (synthesis.api.errors), for
    the views DRF does not handle: JSON `{"detail", "code"}` where the client
    reads JSON, a short page without templates otherwise (rendering ours could
    need the backend that is down).
    """

    def process_exception(self, request, exception):
        outage = outage_of(exception)
        if outage is None:
            return None
        logger.warning("%s unavailable: %r", outage.backend or "a backend", exception, exc_info=exception)
        if wants_json(request):
            response = JsonResponse({"detail": outage.message, "code": outage.code}, status=outage.status)
        else:
            response = HttpResponse(_OUTAGE_PAGE, status=outage.status)
        response["Retry-After"] = str(outage.retry_after)
        return response

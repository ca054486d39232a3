import re
import uuid

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

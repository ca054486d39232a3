"""The one streaming transport of every HTTP door: a session's bytes, sent as they are made.

Under ASGI the body is an async iterator (Django would turn a sync iterator
into a list before the first byte): each step runs in the request's thread,
and a client that leaves (ASGI http.disconnect, which Django turns into a
cancellation) cancels the session, which stops the model call in flight and
settles what was delivered. Under WSGI (and Django's test client) the
session's own generator is the body, and Django closes it.

Either way a response that is never iterated (closed before its first byte)
still ends its session: the reservation is refunded and the slot freed.
"""

from __future__ import annotations

from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

from synthesis.api.common import as_download
from synthesis.services.pump import drain


def stream_response(
    request, session, content: Iterator[bytes], content_type: str, *, filename: str | None
) -> StreamingHttpResponse:
    """Stream `content` (made from `session`, e.g. session.encoded()) with the session's headers, as a
    download named `filename` (None: not a file, e.g. an event stream) that no cache keeps."""
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's

    def abandon() -> None:
        session.end(outcome="client_closed", error_code="client_closed", charge=True)

    if isinstance(request, ASGIRequest):
        response = StreamingHttpResponse(content_type=content_type)

        async def body():
            completed = False
            try:
                async for data in drain(content, cancel=lambda: session.cancel("client_closed"), on_close=abandon):
                    yield data
                completed = True
            finally:
                if not completed:
                    # Django does not close a response whose client left mid-stream: run its closers
                    # (the request log) here; its own close() later finds nothing left to run.
                    await sync_to_async(_run_closers)(response)

        response.streaming_content = body()
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response._resource_closers.append(abandon)
    for name, value in session.headers().items():
        response[name] = value
    return as_download(response, filename)


def _run_closers(response) -> None:
    closers, response._resource_closers = list(response._resource_closers), []
    for closer in closers:
        closer()

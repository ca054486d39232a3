"""Serving a synchronous byte generator as it is produced, under ASGI and WSGI alike."""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_DONE = object()


def _next(iterator):
    return next(iterator, _DONE)


async def _as_async(generator: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Django's ASGI handler would turn a sync iterator into a list before
    # sending the first byte. Each step runs in the request's own thread
    # (thread_sensitive), so the generator's database work stays on one
    # connection; closing it there too stops synthesis when the client leaves.
    step = sync_to_async(_next, thread_sensitive=True)
    try:
        while (item := await step(generator)) is not _DONE:
            yield item
    finally:
        await sync_to_async(generator.close, thread_sensitive=True)()


def streaming_response(request, generator: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    if not isinstance(request, ASGIRequest):
        return StreamingHttpResponse(generator, content_type=content_type)  # Django closes it
    response = StreamingHttpResponse(_as_async(generator), content_type=content_type)
    # An async generator that never started ignores aclose(), and Django only
    # registers close() methods: make sure the response's close reaches ours.
    response._resource_closers.append(generator.close)
    return response

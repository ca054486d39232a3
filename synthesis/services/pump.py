"""Driving a session's synchronous iterator from async code (the ASGI stream, the websocket).

The session runs synchronously (the model, the encoder, the ledger's
queries); each step runs in a thread so the event loop stays free. When the
async side goes away in the middle of a step (a client that disconnects, a
socket that closes), the session is cancelled first, which aborts the model
call in flight (synthesis.engine.core.CancelToken), then the step is awaited
and the iterator closed on the thread side: a generator must never be closed
while another thread runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from asgiref.sync import sync_to_async

_DONE = object()


def _next(iterator):
    return next(iterator, _DONE)


async def drain(
    iterator: Iterator, *, cancel: Callable[[], None], on_close: Callable[[], None] | None = None,
    thread_sensitive: bool = True, step_wrapper: Callable[..., Callable[[Iterator], Awaitable[object]]] = sync_to_async,
) -> AsyncIterator:
    """Yield the items of `iterator`, each produced in a thread; close it (and call `on_close`) at the end, whatever ends it.

    `thread_sensitive`: run every step in the caller's one sync thread (an
    ASGI request's, so its database connection is the one its view used).
    `step_wrapper`: channels' database_sync_to_async for a consumer, which
    closes stale database connections around each step.
    """
    step = step_wrapper(_next, thread_sensitive=thread_sensitive)
    pending = None
    try:
        while True:
            pending = asyncio.ensure_future(step(iterator))
            # Shielded: if this task is cancelled the thread still owns the iterator (see finally).
            item = await asyncio.shield(pending)
            pending = None
            if item is _DONE:
                return
            yield item
    finally:
        if pending is not None:
            cancel()  # stops the model call the thread is waiting on, within one call
            await asyncio.gather(pending, return_exceptions=True)
        await step_wrapper(iterator.close, thread_sensitive=thread_sensitive)()
        if on_close is not None:
            await step_wrapper(on_close, thread_sensitive=thread_sensitive)()

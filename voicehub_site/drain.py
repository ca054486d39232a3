"""
Graceful drain: what a process does between SIGTERM and its exit (docs/reliability.md).

A web process (voicehub_site.serve) on SIGTERM:

1. stops listening: a new connection is refused, so a load balancer (or a client that retries a refused
   connect) sends it to another process; nothing that had not started is lost;
2. says so: /readyz answers 503 `draining`, and every HTTP response carries `Connection: close`, so a
   kept-alive connection is not reused; idle kept-alive connections are closed at once;
3. lets what is in flight finish: a stream goes on to its end, a studio socket finishes the generation it
   is running and is then closed with 1012 (service restart; an idle one is closed at once);
4. at the grace period's end (VOICEHUB_DRAIN_SECONDS) ends what is left: every live synthesis session is
   cancelled with the reason `shutdown`, which charges the characters whose audio was delivered and refunds
   the rest, like any other ending;
5. exits once nothing is in flight. A second SIGTERM exits at once (what it cuts is settled by the sweep).

A job worker (manage.py jobs_worker, or the embedded one) finishes the chunk it is rendering, commits it,
and hands the rest of the job back to the queue, where another worker (or this one, restarted) goes on.

This module holds the process-wide state the application reads (draining or not, the hooks that run when
the drain begins); the server side lives in voicehub_site.serve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# The reason a session is cancelled with when the grace period ends (synthesis.engine.core.CancelToken).
SHUTDOWN = "shutdown"


class DrainState:
    """Whether this process is draining, and since when; hooks to run when it begins. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: float | None = None  # time.monotonic() of the SIGTERM
        self.deadline: float | None = None  # when in-flight work is cut
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0
        # Set when the drain begins: a job worker finishes its chunk and stops taking more.
        self.stopping = threading.Event()

    @property
    def draining(self) -> bool:
        return self.started is not None

    def begin(self, grace: float) -> bool:
        """Start draining (`grace` seconds for what is in flight); False if it already had."""
        with self._lock:
            if self.started is not None:
                return False
            self.started = time.monotonic()
            self.deadline = self.started + grace
            hooks = list(self._hooks.values())
        self.stopping.set()
        for hook in hooks:
            try:
                hook()
            except Exception:  # one socket's trouble must not stop the drain
                log.exception("a drain hook failed")
        return True

    def on_drain(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` (from the thread that begins the drain) when the drain begins, or now if it has.

        Returns a function that removes it. A hook must be quick and must not block (a socket's schedules
        its close on its own event loop).
        """
        with self._lock:
            key = self._next
            self._next += 1
            self._hooks[key] = hook
            started = self.started is not None
        if started:
            hook()

        def remove() -> None:
            with self._lock:
                self._hooks.pop(key, None)

        return remove

    def reset(self) -> None:
        """Back to serving (tests only: a real process never stops draining)."""
        with self._lock:
            self.started = self.deadline = None
            self._hooks.clear()
        self.stopping.clear()


STATE = DrainState()


def draining() -> bool:
    return STATE.draining

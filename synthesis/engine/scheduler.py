"""
Who runs the next model call, and on how many threads.

Measured on 2 cores (ARCHITECTURE.md, bench/stream_bench.py): one request
alone is fastest on every core (RTF 0.32 on 2 threads vs 0.54 on 1), while
two 1-thread calls side by side make 1.29-1.34x the audio of one 2-thread
call at a time. So the scheduler runs a call *wide* (the solo session, all
its threads) when it is the only work there is, and *narrow* (one thread
each, `slots` of them side by side) when several streams are waiting.

The order is earliest deadline first. A stream's chunk i is due when the
audio queued ahead of it would run out for a listener who started at the
stream's arrival (`deadline`); a first chunk is due at once and goes ahead
of every later chunk (`first`), and a background chunk (long-form jobs) only
runs when no stream is waiting. One stream's chunks run one at a time, in
order. A first chunk never waits behind a long call: when every slot is busy
it runs on one extra thread (the cores are oversubscribed for a fraction of a
second, which costs the running calls far less than the newcomer would wait).

No Django, no onnxruntime: a task is any callable taking `wide` (bool).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

FIRST, STREAM, BACKGROUND = 0, 1, 2  # priority classes, in order


@dataclass(frozen=True)
class Shape:
    """How many model calls run side by side, and on how many threads each."""

    slots: int  # narrow calls side by side when several streams wait
    threads: int  # threads of each narrow call
    solo_threads: int  # threads of a call that runs alone

    @classmethod
    def default(cls, cores: int | None = None) -> Shape:
        """What measures best on 2 cores, scaled to `cores` (os.cpu_count()).

        Narrow calls get one thread each up to 4 cores and two beyond (a
        1-thread call on a big machine leaves too many calls' working memory
        in flight); a solo call uses every core up to 8, past which
        onnxruntime's intra-op scaling for this model stops paying.
        """
        cores = max(1, cores or os.cpu_count() or 1)
        threads = 1 if cores <= 4 else 2
        return cls(slots=max(1, cores // threads), threads=threads, solo_threads=min(cores, 8))


@dataclass(order=True)
class _Task:
    key: tuple
    fn: Callable[[bool], object] = field(compare=False)
    stream: object = field(compare=False)
    future: Future = field(compare=False)


class Scheduler:
    """A bounded set of worker threads running tasks by priority, deadline and arrival."""

    def __init__(self, slots: int, *, name: str = "kokoro", wide: bool = True):
        self.slots = max(1, slots)
        self.wide = wide  # whether a solo session exists (else every call is narrow)
        self._cond = threading.Condition()
        self._queue: list[_Task] = []
        self._running_streams: set = set()
        self._running = 0  # tasks running, urgent extra included
        self._wide_running = False
        self._seq = itertools.count()
        self._closed = False
        self.peak_running = 0  # the most tasks that ran at once (tests, benchmarks)
        # One thread per slot, plus one that only takes first chunks when every slot is busy.
        self._workers = [
            threading.Thread(target=self._work, args=(i == self.slots,), name=f"{name}-{i}", daemon=True)
            for i in range(self.slots + 1)
        ]
        for worker in self._workers:
            worker.start()

    # -- the public side -------------------------------------------------------------

    def submit(self, fn: Callable[[bool], object], *, stream: object, deadline: float, priority: int = STREAM) -> Future:
        """Queue `fn(wide)`; its Future resolves to what it returns (or raises)."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is shut down")
            self._queue.append(_Task((priority, deadline, next(self._seq)), fn, stream, future))
            self._cond.notify_all()
        return future

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = True) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                for task in self._queue:
                    task.future.cancel()
                self._queue.clear()
            self._cond.notify_all()
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    # -- the workers -----------------------------------------------------------------

    def _pick(self, urgent_only: bool) -> tuple[_Task, bool] | None:
        """The next task this worker may start, and whether it runs wide; None to keep waiting. Under the lock."""
        # Drop what nobody waits for any more.
        self._queue = [t for t in self._queue if not t.future.cancelled()]
        ready = [t for t in self._queue if t.stream not in self._running_streams]
        if not ready:
            return None
        task = min(ready)
        first = task.key[0] == FIRST
        if urgent_only:
            # The extra thread: only a first chunk, and only when every slot is busy.
            if not first or self._running < self.slots:
                return None
        elif self._running >= self.slots or (self._wide_running and not first):
            return None  # a wide call holds every core: later chunks wait for it
        # (min() already put any stream that can start ahead of background work.)
        alone = self._running == 0 and all(t.stream is task.stream for t in self._queue)
        return task, self.wide and alone

    def _work(self, urgent_only: bool) -> None:
        while True:
            with self._cond:
                picked = None
                while not self._closed and (picked := self._pick(urgent_only)) is None:
                    self._cond.wait()
                if picked is None:
                    return
                task, wide = picked
                self._queue.remove(task)
                if not task.future.set_running_or_notify_cancel():
                    continue
                self._running_streams.add(task.stream)
                self._running += 1
                self.peak_running = max(self.peak_running, self._running)
                self._wide_running = self._wide_running or wide
            try:
                result = task.fn(wide)
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                task.future.set_exception(error)
            else:
                task.future.set_result(result)
            finally:
                with self._cond:
                    self._running_streams.discard(task.stream)
                    self._running -= 1
                    if wide:
                        self._wide_running = False
                    self._cond.notify_all()

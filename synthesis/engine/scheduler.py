"""
Who runs the next model call, and on how many threads.

Measured on 2 cores (ARCHITECTURE.md, bench/stream_bench.py): one request
alone is fastest on every core (RTF 0.32 on 2 threads vs 0.54 on 1), while
two 1-thread calls side by side make 1.29-1.34x the audio of one 2-thread
call at a time. So the scheduler runs a call *wide* (the solo session, all
its threads) when it is the only work there is, and *narrow* (one thread
each, `slots` of them side by side) when several streams are waiting.

The order: a first chunk goes ahead of every later chunk (`first`), and a
background chunk (long-form jobs) only runs when no stream is waiting. Within
a class, tenants (organizations) share the calls fairly, weighted by plan;
within a tenant, earliest deadline first (a stream's chunk i is due when the
audio queued ahead of it would run out for a listener who started at the
stream's arrival). One stream's chunks run one at a time, in order.

Why fair and not earliest deadline first across everyone: when the machine
is overloaded, the streams already running fall behind and their deadlines
slip into the past, so a newcomer's second chunk (due a second after it
arrived) waited behind every late chunk of every older stream: with one
organization's 8 long streams on 2 cores, tens of calls. Fairness is
per-tenant virtual time (start-time fair queueing): each call started
charges its tenant `cost / weight`; the tenant with the least charged goes
next; a tenant that had nothing queued comes back level with the least
charged busy tenant (no credit saved up while idle, no debt kept either). A first chunk never waits behind a long call: when every slot is busy
it runs on one extra thread (the cores are oversubscribed for a fraction of a
second, which costs the running calls far less than the newcomer would wait).

The slot threads run at a lower CPU priority (SLOT_NICE) than the extra one:
when a first chunk shares the cores with running calls, the kernel should
give it a core of its own instead of a third of two. bench/fairness_bench.py
measures a newcomer's first audio under load with and without it, in one run
(not yet measured on a quiet machine: docs/reliability.md). Nothing else
changes: with no first chunk waiting, the slots have the cores.

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
# How much nicer (lower CPU priority, as nice(1)) the slot threads are than the extra thread that
# takes first chunks when every slot is busy. Linux gives each thread its own nice value;
# raising it needs no privilege. Where that fails (another OS), every thread keeps the process's.
SLOT_NICE = 5


def _be_nicer(by: int) -> None:
    """Lower this thread's CPU priority by `by` nice steps, where the OS allows it per thread."""
    if by <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + by))
    except OSError:
        pass



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
    key: tuple  # (priority class, deadline, arrival): the order within a tenant (and overall when not fair)
    fn: Callable[[bool], object] = field(compare=False)
    stream: object = field(compare=False)
    future: Future = field(compare=False)
    tenant: object = field(default=None, compare=False)
    cost: float = field(default=1.0, compare=False)


@dataclass
class _Tenant:
    """What the scheduler knows of a tenant while it has tasks queued or running (then forgotten)."""

    weight: float = 1.0
    charged: float = 0.0  # virtual time: the cost of the calls it started, divided by its weight
    queued: int = 0
    running: int = 0


class Scheduler:
    """A bounded set of worker threads running tasks by priority class, fair share of tenant, deadline and arrival."""

    def __init__(
        self, slots: int, *, name: str = "kokoro", wide: bool = True, fair: bool = True, slot_nice: int = SLOT_NICE
    ):
        """`fair=False`: the order before tenants, (class, deadline, arrival) across everyone (benchmarks compare)."""
        self.slots = max(1, slots)
        self.wide = wide  # whether a solo session exists (else every call is narrow)
        self.fair = fair
        self._cond = threading.Condition()
        self._queue: list[_Task] = []
        self._tenants: dict[object, _Tenant] = {}
        self._running_streams: set = set()
        self._running = 0  # tasks running, urgent extra included
        self._wide_running = False
        self._seq = itertools.count()
        self._closed = False
        self.peak_running = 0  # the most tasks that ran at once (tests, benchmarks)
        self.slot_nice = slot_nice
        # One thread per slot, plus one that only takes first chunks when every slot is busy. Each sets
        # its priority before the constructor returns (so no call runs at the wrong one).
        started = threading.Barrier(self.slots + 2)
        self._workers = [
            threading.Thread(target=self._work, args=(i == self.slots, started), name=f"{name}-{i}", daemon=True)
            for i in range(self.slots + 1)
        ]
        for worker in self._workers:
            worker.start()
        started.wait()

    # -- the public side -------------------------------------------------------------

    def submit(
        self, fn: Callable[[bool], object], *, stream: object, deadline: float, priority: int = STREAM,
        tenant: object = None, weight: float = 1.0, cost: float = 1.0,
    ) -> Future:
        """Queue `fn(wide)`; its Future resolves to what it returns (or raises).

        `tenant`: whose call it is (None: one shared tenant); `weight`: its share against other tenants
        (2.0 gets twice the calls of 1.0 when both have more waiting than they can run); `cost`: what
        the call charges its tenant (any unit, the same for everyone: the engine passes estimated seconds).
        """
        if not (weight > 0 and cost >= 0):
            raise ValueError(f"weight must be positive and cost not negative, got {weight} and {cost}")
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is shut down")
            account = self._tenants.get(tenant)
            if account is None:
                # Back from idle (or new): level with the least charged busy tenant.
                level = min((t.charged for t in self._tenants.values()), default=0.0)
                account = self._tenants[tenant] = _Tenant(charged=level)
            account.weight = weight
            account.queued += 1
            self._queue.append(_Task((priority, deadline, next(self._seq)), fn, stream, future, tenant, cost))
            self._cond.notify_all()
        return future

    def shares(self) -> dict[object, float]:
        """Each busy tenant's virtual time (cost charged / weight), for tests and /status."""
        with self._cond:
            return {tenant: account.charged for tenant, account in self._tenants.items()}

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = True) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                for task in self._queue:
                    task.future.cancel()
                    self._dequeued(task)
                self._queue.clear()
            self._cond.notify_all()
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    # -- the workers -----------------------------------------------------------------

    def _dequeued(self, task: _Task) -> None:
        """`task` left the queue without starting: forget its tenant once it has nothing queued or running."""
        account = self._tenants[task.tenant]
        account.queued -= 1
        self._forget_if_idle(task.tenant, account)

    def _forget_if_idle(self, tenant: object, account: _Tenant) -> None:
        if account.queued == 0 and account.running == 0:
            del self._tenants[tenant]

    def _next(self, ready: list[_Task]) -> _Task:
        """The task to start: the most urgent class present; in it, the least charged tenant (on a tie, the one
        with fewer calls running, then fewer queued: the lighter user, typically the newcomer); within that
        tenant, earliest deadline then arrival."""
        if not self.fair:
            return min(ready)
        urgent = min(t.key[0] for t in ready)
        candidates = [t for t in ready if t.key[0] == urgent]

        def share(task: _Task) -> tuple[float, int, int]:
            account = self._tenants[task.tenant]
            return account.charged, account.running, account.queued

        best = min(share(t) for t in candidates)
        return min(t for t in candidates if share(t) == best)

    def _pick(self, urgent_only: bool) -> tuple[_Task, bool] | None:
        """The next task this worker may start, and whether it runs wide; None to keep waiting. Under the lock."""
        # Drop what nobody waits for any more.
        for task in self._queue:
            if task.future.cancelled():
                self._dequeued(task)
        self._queue = [t for t in self._queue if not t.future.cancelled()]
        ready = [t for t in self._queue if t.stream not in self._running_streams]
        if not ready:
            return None
        task = self._next(ready)
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

    def _work(self, urgent_only: bool, started: threading.Barrier) -> None:
        if not urgent_only:
            _be_nicer(self.slot_nice)
        started.wait()
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
                    self._dequeued(task)
                    continue
                account = self._tenants[task.tenant]
                account.queued -= 1
                account.running += 1
                account.charged += task.cost / account.weight
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
                    account = self._tenants[task.tenant]
                    account.running -= 1
                    self._forget_if_idle(task.tenant, account)
                    self._running_streams.discard(task.stream)
                    self._running -= 1
                    if wide:
                        self._wide_running = False
                    self._cond.notify_all()

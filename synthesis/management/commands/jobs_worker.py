"""
`manage.py jobs_worker`: a job worker (django-tasks-db's db_worker on every queue) plus the recovery sweep.

Run as many as you like, on as many machines as share the database: each
takes one task at a time. The database backend never re-delivers a task whose
worker died mid-way, so each worker also runs synthesis.jobs.service.jobs_recover()
every VOICEHUB_JOB_SWEEP_SECONDS in a background thread: jobs whose heartbeat
is older than the lease get a new task and resume from their last chunk. The
same thread finishes the usage rows that a dead web or worker process left
reserved (accounts.quota.quota_sweep_stale), so no charge stays pending.

SIGTERM (or Ctrl+C) stops it gracefully (voicehub_site.drain): the chunk being rendered is finished and
committed, the rest of its job goes back to the queue at once, and the worker exits. A second SIGTERM
exits at once; the sweep resumes the job after the lease.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.crypto import get_random_string

from voicehub_site.drain import STATE as drain_state

log = logging.getLogger(__name__)


def _sweep_reservations() -> None:
    from accounts.quota import quota_sweep_stale

    result = quota_sweep_stale(older_than=timedelta(seconds=settings.VOICEHUB_RESERVATION_STALE_SECONDS))
    if result.finished:
        log.info(
            "reservation sweep: %d settled at the characters delivered, %d refunded", result.settled, result.refunded
        )


def _guarded(name: str, sweep: Callable[[], object]) -> None:
    try:
        close_old_connections()
        sweep()
    except Exception:  # the sweep must outlive a database hiccup, and one sweep's failure must not skip the other
        log.warning("%s failed", name, exc_info=True)
    finally:
        close_old_connections()


def _sweep_forever(stop: threading.Event, every: float, worker_id: str = "") -> None:
    from synthesis.jobs.service import jobs_recover, worker_heartbeat

    while not stop.is_set():
        if worker_id:
            # "A worker is alive": without it the job pages say no worker is running (code no_worker).
            _guarded("worker heartbeat", lambda: worker_heartbeat(worker_id=worker_id))
        _guarded("job recovery sweep", jobs_recover)
        _guarded("reservation sweep", _sweep_reservations)
        stop.wait(every)


def start_sweep(every: float | None = None, *, worker_id: str = "") -> threading.Event:
    """Start the recovery sweep (and the worker's heartbeat) in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    every = settings.VOICEHUB_JOB_SWEEP_SECONDS if every is None else every
    threading.Thread(target=_sweep_forever, args=(stop, every, worker_id), name="jobs-sweep", daemon=True).start()
    return stop


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{get_random_string(8)}"


def start_in_process_worker() -> threading.Event:
    """The embedded default: a worker and the sweep as daemon threads of the `up` process.

    One process, so the model is loaded once and shared with web requests
    (through the engine's bounded pool) and progress reaches the in-memory
    channel layer the websocket consumers listen on.
    """
    from django_tasks_db.management.commands.db_worker import Worker

    worker_id = default_worker_id()
    worker = Worker(
        queue_names=["*"], interval=1, batch=False, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id=worker_id, excluded_queue_names=[],
    )
    stop = start_sweep(worker_id=worker_id)
    threading.Thread(target=worker.run, name="jobs-worker", daemon=True).start()

    def stopper():
        stop.wait()
        worker.running = False

    threading.Thread(target=stopper, daemon=True).start()
    return stop


class Command(BaseCommand):
    help = "Run a long-form job worker (all task queues) with the recovery sweep for jobs whose worker died."

    def add_arguments(self, parser):
        parser.add_argument("--worker-id", default=None, help="Unique across the pool (default: host name + random).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls of an empty queue.")
        parser.add_argument("--sweep-interval", type=float, default=None,
                            help="Seconds between recovery sweeps (default: VOICEHUB_JOB_SWEEP_SECONDS).")
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit (benchmarks, cron).")

    def handle(self, *args, worker_id, interval, sweep_interval, batch, **options):
        worker_id = worker_id or default_worker_id()
        start_sweep(sweep_interval, worker_id=worker_id)
        if options.get("verbosity", 1):
            self.stdout.write(f"jobs_worker {worker_id}: all queues, lease {settings.VOICEHUB_JOB_LEASE_SECONDS} s")
        from django_tasks_db.management.commands.db_worker import Command as DbWorker

        # db_worker's own command, with a worker that also stops the job it runs after the chunk in hand.
        DbWorker(stdout=self.stdout, stderr=self.stderr).configure_logging(options.get("verbosity", 1))
        worker = stopping_worker_class()(
            queue_names=["*"], interval=interval, batch=batch, backend_name="default", startup_delay=False,
            max_tasks=None, worker_id=worker_id, excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()


def stopping_worker_class():
    from django_tasks_db.management.commands.db_worker import Worker

    class StoppingWorker(Worker):
        """db_worker's Worker (finish the current task, then exit), telling the task to stop after its chunk."""

        def shutdown(self, signum, frame):
            drain_state.stopping.set()
            super().shutdown(signum, frame)

    return StoppingWorker

"""The job worker's background sweeps: each runs every round, and neither failure stops the thread."""

import logging
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import UsageRecord
from accounts.quota import quota_reserve
from synthesis.management.commands import jobs_worker


@pytest.mark.django_db
def test_the_worker_refunds_a_reservation_a_dead_process_left(cast, settings):
    settings.VOICEHUB_RESERVATION_STALE_SECONDS = 300
    dead = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    UsageRecord.objects.filter(pk=dead.pk).update(created_at=timezone.now() - timedelta(days=1))
    live = quota_reserve(organization=cast.org_a, characters=80, voice="af", user=cast.alice)

    jobs_worker._sweep_reservations()

    assert UsageRecord.objects.get(pk=dead.pk).status == "refunded"
    assert UsageRecord.objects.get(pk=live.pk).status == "reserved"


def test_a_failing_sweep_is_logged_and_the_other_still_runs(monkeypatch, caplog):
    stop, ran = threading.Event(), []

    def jobs_recover():
        ran.append("jobs")
        raise ConnectionError("database went away")

    def sweep_reservations():
        ran.append("reservations")
        stop.set()  # one round is enough
        raise ConnectionError("database went away")

    monkeypatch.setattr("synthesis.jobs.service.jobs_recover", jobs_recover)
    monkeypatch.setattr(jobs_worker, "_sweep_reservations", sweep_reservations)
    monkeypatch.setattr(jobs_worker, "close_old_connections", lambda: None)  # fake sweeps: no database in this test

    with caplog.at_level(logging.WARNING, logger=jobs_worker.__name__):
        jobs_worker._sweep_forever(stop, every=0)  # returns only because `stop` was set: it did not die

    assert ran == ["jobs", "reservations"]
    assert [r.getMessage() for r in caplog.records] == ["job recovery sweep failed", "reservation sweep failed"]


@pytest.mark.django_db
def test_every_sweep_round_records_that_the_worker_is_alive(monkeypatch):
    """The job pages tell "no worker is running" from this row (synthesis.jobs.service.workers_alive)."""
    from synthesis.jobs.service import workers_alive
    from synthesis.models import JobWorker

    stop = threading.Event()
    monkeypatch.setattr("synthesis.jobs.service.jobs_recover", stop.set)  # one round is enough
    monkeypatch.setattr(jobs_worker, "_sweep_reservations", lambda: None)
    monkeypatch.setattr(jobs_worker, "close_old_connections", lambda: None)  # the test's transaction stays open
    assert not workers_alive()

    jobs_worker._sweep_forever(stop, every=0, worker_id="host-1-abcdefgh")

    assert list(JobWorker.objects.values_list("worker_id", flat=True)) == ["host-1-abcdefgh"]
    assert workers_alive()


@pytest.mark.django_db
def test_workers_gone_for_a_day_are_forgotten():
    import time_machine

    from synthesis.jobs.service import worker_heartbeat
    from synthesis.models import JobWorker

    with time_machine.travel("2026-11-25 09:30:00Z", tick=False) as clock:
        worker_heartbeat(worker_id="old")
        clock.shift(timedelta(days=1, seconds=1))
        worker_heartbeat(worker_id="new")
    assert list(JobWorker.objects.values_list("worker_id", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker's threads see committed rows
def test_the_worker_manage_py_up_runs_in_its_process_takes_a_job_to_the_end(cast, fake_engine, isolated_media):
    """The README's one command (`manage.py up`) needs no second process for long-form jobs: its worker thread reads them."""
    from django_tasks.signals import task_finished

    from synthesis.audio import parse_format
    from synthesis.jobs.documents import Chapter
    from synthesis.jobs.service import job_create, workers_alive
    from synthesis.models import Job

    finished = threading.Event()

    def on_finished(sender, task_result, **kwargs):
        if task_result.task.name == "run_job" and task_result.return_value == Job.Status.SUCCEEDED:
            finished.set()

    task_finished.connect(on_finished)
    stop = jobs_worker.start_in_process_worker()
    try:
        job = job_create(
            organization=cast.org_a, chapters=[Chapter("One", "The boats came in at dawn.")], voice_id="af_heart",
            fmt=parse_format("mp3"), user=cast.alice,
        )
        assert finished.wait(120), "the in-process worker never finished the job"  # the timeout only turns a hang into a failure
    finally:
        stop.set()
        task_finished.disconnect(on_finished)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.audio
    assert workers_alive()  # it beat: the job pages do not say "no worker is running"

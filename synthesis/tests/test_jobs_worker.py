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

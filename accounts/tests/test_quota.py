"""The character ledger is exact under concurrency, on SQLite and on PostgreSQL."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from accounts import quota
from accounts.models import ApiKey, Organization, Plan, UsageRecord
from accounts.quota import (
    KeyCapExceeded,
    QuotaExceeded,
    SweepResult,
    quota_progress,
    quota_refund,
    quota_reserve,
    quota_settle,
    quota_sweep_stale,
)
from accounts.services import api_key_create
from accounts.tests.helpers import race
from voicehub_site.testing import database_url

ROOT = Path(__file__).resolve().parents[2]


def race_across_processes(org_id, *, processes, threads, characters, naive=False):
    """The race in this process and `processes` others (accounts/tests/race_worker.py), all started together."""
    env = dict(os.environ, DATABASE_URL=database_url(), VOICEHUB_NO_BOOTSTRAP="1")
    command = [sys.executable, "-m", "accounts.tests.race_worker", "--org", str(org_id), "--threads", str(threads),
               "--characters", str(characters)] + (["--naive"] if naive else [])
    children = [subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(processes)]

    def everyone_ready():
        # Each child says "ready" when its threads are loaded, then waits for a line: no start time on the clock.
        # (Nothing follows "ready" until it reads "go", so communicate() below loses nothing readline buffered.)
        for child in children:
            line = child.stdout.readline()
            while line and line.strip() != "ready":
                line = child.stdout.readline()
            assert line, f"a race worker died before the start: {child.stderr.read()[-2000:]}"
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()

    try:
        total = race(org_id, threads, characters, on_ready=everyone_ready, naive=naive)
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err[-2000:]
            total += json.loads(out.strip().splitlines()[-1])["successes"]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return total


@pytest.fixture
def tiny_org(cast):
    plan = Plan.objects.create(
        slug="tiny", name="Tiny", monthly_characters=100, max_characters_per_request=100, requests_per_minute=1000,
        concurrent_requests=100, history_retention_days=1, allowed_formats=["wav"], api_access=True,
    )
    Organization.objects.filter(pk=cast.org_a.pk).update(plan=plan)
    cast.org_a.refresh_from_db()
    return cast.org_a


def ledger(organization):
    organization.refresh_from_db()
    rows = UsageRecord.objects.filter(organization=organization)
    return organization.characters_used, rows.count(), rows.aggregate(total=Sum("characters"))["total"] or 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_forty_concurrent_requests_spend_a_hundred_characters_exactly(tiny_org):
    # 4 processes x 10 threads, 10 characters each, at a 100-character quota.
    successes = race_across_processes(tiny_org.pk, processes=3, threads=10, characters=10)

    assert successes == 10
    assert ledger(tiny_org) == (100, 10, 100)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_naive_read_then_write_ledger_overspends_under_the_same_race(tiny_org):
    # The mutant: if this ever passed the exact test, the test would be blind.
    successes = race_across_processes(tiny_org.pk, processes=3, threads=10, characters=10, naive=True)
    used, rows, charged = ledger(tiny_org)

    assert successes > 10 or used != charged


@pytest.mark.django_db
def test_a_refund_gives_the_characters_back_once(tiny_org):
    record = quota_reserve(organization=tiny_org, characters=40, voice="af")
    quota_refund(record=record, error_code="boom")
    quota_refund(record=record, error_code="boom")

    assert ledger(tiny_org)[0] == 0
    record.refresh_from_db()
    assert (record.status, record.error_code) == ("refunded", "boom")


@pytest.mark.django_db
def test_a_settled_charge_stays_and_records_the_audio(tiny_org):
    record = quota_reserve(organization=tiny_org, characters=40, voice="af")
    quota_settle(record=record, audio_seconds=2.5)
    quota_refund(record=record, error_code="late")  # too late: already settled

    record.refresh_from_db()
    assert (record.status, record.audio_seconds) == ("succeeded", 2.5)
    assert ledger(tiny_org)[0] == 40


@pytest.mark.django_db
def test_over_quota_charges_nothing_and_says_when_it_resets(tiny_org):
    quota_reserve(organization=tiny_org, characters=95, voice="af")

    with pytest.raises(QuotaExceeded) as error:
        quota_reserve(organization=tiny_org, characters=10, voice="af")

    assert error.value.resets_at == tiny_org.period_end
    assert ledger(tiny_org) == (95, 1, 95)


@pytest.mark.django_db
def test_a_new_billing_period_starts_from_zero(tiny_org):
    quota_reserve(organization=tiny_org, characters=100, voice="af")
    Organization.objects.filter(pk=tiny_org.pk).update(
        period_start=tiny_org.period_start - (tiny_org.period_end - tiny_org.period_start),
        period_end=tiny_org.period_start,
    )
    tiny_org.refresh_from_db()

    quota_reserve(organization=tiny_org, characters=100, voice="af")

    tiny_org.refresh_from_db()
    assert tiny_org.characters_used == 100
    assert tiny_org.period_end > tiny_org.period_start


@pytest.mark.django_db
def test_a_key_cap_limits_the_key_and_rolls_back_the_organization_charge(tiny_org, cast):
    key = api_key_create(organization=tiny_org, created_by=cast.alice, name="capped", monthly_character_cap=30).key
    quota_reserve(organization=tiny_org, characters=30, voice="af", api_key=key)

    with pytest.raises(KeyCapExceeded):
        quota_reserve(organization=tiny_org, characters=1, voice="af", api_key=key)

    assert ledger(tiny_org) == (30, 1, 30)


@pytest.mark.django_db
@pytest.mark.parametrize("cap", [None, 30])
def test_a_keys_count_starts_from_zero_in_a_new_period(tiny_org, cast, cap):
    key = api_key_create(organization=tiny_org, created_by=cast.alice, name="old", monthly_character_cap=cap).key
    last_period = tiny_org.period_start - (tiny_org.period_end - tiny_org.period_start)
    ApiKey.objects.filter(pk=key.pk).update(period_start=last_period, characters_used=30)

    quota_reserve(organization=tiny_org, characters=20, voice="af", api_key=key)
    quota_reserve(organization=tiny_org, characters=5, voice="af", api_key=key)

    key.refresh_from_db()
    assert (key.period_start, key.characters_used) == (tiny_org.period_start, 25)


@pytest.mark.django_db
def test_a_request_over_a_keys_cap_in_a_new_period_leaves_the_key_as_it_was(tiny_org, cast):
    key = api_key_create(organization=tiny_org, created_by=cast.alice, name="old", monthly_character_cap=30).key
    last_period = tiny_org.period_start - (tiny_org.period_end - tiny_org.period_start)
    ApiKey.objects.filter(pk=key.pk).update(period_start=last_period, characters_used=30)

    with pytest.raises(KeyCapExceeded) as error:
        quota_reserve(organization=tiny_org, characters=31, voice="af", api_key=key)

    assert (error.value.limit, error.value.used) == (30, 0)  # nothing used yet this period
    key.refresh_from_db()
    assert (key.period_start, key.characters_used) == (last_period, 30)
    assert ledger(tiny_org) == (0, 0, 0)


# -- no usage row stays reserved ----------------------------------------------------------

STALE = timedelta(seconds=300)


def silent_for(record, seconds):
    """The moment `seconds` after the record's last sign of life: the sweep is given it, no one waits for it."""
    record.refresh_from_db()
    return (record.heartbeat_at or record.created_at) + timedelta(seconds=seconds)


def used(organization):
    organization.refresh_from_db()
    return organization.characters_used


@pytest.mark.django_db
def test_a_stale_reservation_with_nothing_delivered_is_refunded(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    assert used(cast.org_a) == 120

    result = quota_sweep_stale(older_than=STALE, now=silent_for(record, 301))

    assert result == SweepResult(settled=0, refunded=1)
    assert used(cast.org_a) == 0
    record.refresh_from_db()
    assert (record.status, record.error_code) == ("refunded", "interrupted")


@pytest.mark.django_db
def test_a_stale_reservation_is_charged_exactly_the_characters_delivered(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    quota_progress(record=record, characters_delivered=45, audio_seconds=3.2)

    result = quota_sweep_stale(older_than=STALE, now=silent_for(record, 301))

    assert result == SweepResult(settled=1, refunded=0)
    assert used(cast.org_a) == 45
    record.refresh_from_db()
    assert (record.status, record.characters, record.audio_seconds) == ("succeeded", 45, 3.2)
    assert record.error_code == "interrupted"
    # Its duration ends at its last sign of life, not minutes later at the sweep.
    assert record.finished_at == record.heartbeat_at


@pytest.mark.django_db
def test_a_fresh_reservation_is_left_alone(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)

    assert quota_sweep_stale(older_than=STALE, now=silent_for(record, 299)) == SweepResult()

    record.refresh_from_db()
    assert record.status == "reserved" and used(cast.org_a) == 120


@pytest.mark.django_db
def test_a_long_request_that_keeps_heartbeating_is_left_alone(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    UsageRecord.objects.filter(pk=record.pk).update(created_at=record.created_at - timedelta(hours=1))
    quota_progress(record=record, characters_delivered=60, audio_seconds=4.0)

    assert quota_sweep_stale(older_than=STALE, now=silent_for(record, 299)) == SweepResult()

    record.refresh_from_db()
    assert record.status == "reserved" and used(cast.org_a) == 120


@pytest.mark.django_db
def test_a_reservation_settled_meanwhile_is_untouched(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    quota_progress(record=record, characters_delivered=30, audio_seconds=2.0)
    quota_settle(record=record, audio_seconds=8.0)

    assert quota_sweep_stale(older_than=STALE, now=silent_for(record, 10_000)) == SweepResult()

    record.refresh_from_db()
    assert (record.status, record.characters, record.audio_seconds, record.error_code) == ("succeeded", 120, 8.0, "")
    assert used(cast.org_a) == 120


@pytest.mark.django_db
def test_sweeping_twice_changes_nothing_the_second_time(cast):
    cut = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    quota_progress(record=cut, characters_delivered=70, audio_seconds=5.0)
    dead = quota_reserve(organization=cast.org_a, characters=80, voice="af", user=cast.alice)
    later = max(silent_for(cut, 301), silent_for(dead, 301))

    assert quota_sweep_stale(older_than=STALE, now=later) == SweepResult(settled=1, refunded=1)
    rows = list(UsageRecord.objects.order_by("pk").values())
    assert used(cast.org_a) == 70

    assert quota_sweep_stale(older_than=STALE, now=later) == SweepResult()
    assert list(UsageRecord.objects.order_by("pk").values()) == rows
    assert used(cast.org_a) == 70


@pytest.mark.django_db
def test_two_sweepers_at_once_finish_a_reservation_once(cast, monkeypatch):
    kept = quota_reserve(organization=cast.org_a, characters=200, voice="af", user=cast.alice)
    quota_settle(record=kept, audio_seconds=12.0)
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    now = silent_for(record, 301)
    finish, other = quota._finish, []

    def another_sweeper_gets_there_first(**kwargs):
        # Between this sweeper's read and its UPDATE, another sweeper does the whole job.
        if not other:
            other.append(None)
            other[0] = quota_sweep_stale(older_than=STALE, now=now)
        return finish(**kwargs)

    monkeypatch.setattr(quota, "_finish", another_sweeper_gets_there_first)

    assert quota_sweep_stale(older_than=STALE, now=now) == SweepResult()
    assert other == [SweepResult(refunded=1)]
    assert used(cast.org_a) == 200  # refunded once, not twice


@pytest.mark.django_db
def test_a_request_that_heartbeats_while_the_sweep_decides_keeps_its_reservation(cast, monkeypatch):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    now = silent_for(record, 301)
    finish = quota._finish

    def heartbeat_first(**kwargs):
        # The request was only slow: its next chunk lands between the sweep's read and its UPDATE.
        quota_progress(record=record, characters_delivered=50, audio_seconds=4.0)
        return finish(**kwargs)

    monkeypatch.setattr(quota, "_finish", heartbeat_first)

    assert quota_sweep_stale(older_than=STALE, now=now) == SweepResult()
    record.refresh_from_db()
    assert (record.status, record.characters_delivered) == ("reserved", 50)
    assert used(cast.org_a) == 120


@pytest.mark.django_db
def test_the_sweep_corrects_the_keys_count_too(cast):
    key = api_key_create(organization=cast.org_a, created_by=cast.alice, name="backend").key
    cut = quota_reserve(organization=cast.org_a, characters=120, voice="af", api_key=key)
    quota_progress(record=cut, characters_delivered=40, audio_seconds=3.0)
    dead = quota_reserve(organization=cast.org_a, characters=80, voice="af", api_key=key)
    assert ApiKey.objects.get(pk=key.pk).characters_used == 200

    quota_sweep_stale(older_than=STALE, now=max(silent_for(cut, 301), silent_for(dead, 301)))

    assert ApiKey.objects.get(pk=key.pk).characters_used == 40
    assert used(cast.org_a) == 40


@pytest.mark.django_db
def test_progress_never_reports_more_than_was_reserved(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)

    quota_progress(record=record, characters_delivered=999, audio_seconds=9.0)

    record.refresh_from_db()
    assert record.characters_delivered == 120 and record.heartbeat_at is not None


@pytest.mark.django_db
def test_progress_does_nothing_on_a_settled_row(cast):
    record = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    quota_settle(record=record, audio_seconds=8.0, characters=100)

    quota_progress(record=record, characters_delivered=60, audio_seconds=4.0)

    record.refresh_from_db()
    assert (record.characters_delivered, record.heartbeat_at, record.audio_seconds) == (0, None, 8.0)
    assert used(cast.org_a) == 100


@pytest.mark.django_db
def test_the_sweep_reservations_command_finishes_what_a_dead_process_left_and_says_so(cast):
    dead = quota_reserve(organization=cast.org_a, characters=120, voice="af", user=cast.alice)
    UsageRecord.objects.filter(pk=dead.pk).update(created_at=timezone.now() - timedelta(days=1))
    live = quota_reserve(organization=cast.org_a, characters=80, voice="af", user=cast.alice)
    out = StringIO()

    call_command("sweep_reservations", stdout=out)

    assert "0 settled at the characters delivered, 1 refunded" in out.getvalue()
    assert UsageRecord.objects.get(pk=dead.pk).status == "refunded"
    assert UsageRecord.objects.get(pk=live.pk).status == "reserved"
    assert used(cast.org_a) == 80

"""The character ledger is exact under concurrency, on SQLite and on PostgreSQL."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection, connections
from django.db.models import Sum

from accounts.models import Organization, Plan, UsageRecord
from accounts.quota import KeyCapExceeded, QuotaExceeded, quota_refund, quota_reserve, quota_settle
from accounts.services import api_key_create

ROOT = Path(__file__).resolve().parents[2]


def naive_reserve(*, organization, characters, voice, **kwargs):
    """The mutant the race test must kill: read, check, then write."""
    organization = Organization.objects.get(pk=organization.pk)
    if organization.characters_used + characters > organization.plan.monthly_characters:
        raise QuotaExceeded(limit=organization.plan.monthly_characters, used=organization.characters_used, resets_at=organization.period_end)
    time.sleep(0.02)  # the window in which another request reads the same figure
    Organization.objects.filter(pk=organization.pk).update(characters_used=organization.characters_used + characters)
    return UsageRecord.objects.create(organization=organization, voice=voice, characters=characters, period_start=organization.period_start)


def race(org_id, threads, characters, start, *, naive=False):
    """`threads` simultaneous reservations; returns how many succeeded."""
    reserve = naive_reserve if naive else quota_reserve
    successes = []
    lock = threading.Lock()

    def attempt():
        try:
            organization = Organization.objects.select_related("plan").get(pk=org_id)
            time.sleep(max(0.0, start - time.time()))
            reserve(organization=organization, characters=characters, voice="af")
        except QuotaExceeded:
            pass
        else:
            with lock:
                successes.append(1)
        finally:
            close_old_connections()
            connection.close()

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(successes)


def database_url():
    settings = connections["default"].settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def race_across_processes(org_id, *, processes, threads, characters, naive=False):
    start = time.time() + 3.0  # time for every process to start and connect
    env = dict(os.environ, DATABASE_URL=database_url(), VOICEHUB_NO_BOOTSTRAP="1")
    command = [sys.executable, "-m", "accounts.tests.race_worker", "--org", str(org_id), "--threads", str(threads),
               "--characters", str(characters), "--start", str(start)] + (["--naive"] if naive else [])
    children = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    local = race(org_id, threads, characters, start, naive=naive)
    total = local
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        total += json.loads(out.strip().splitlines()[-1])["successes"]
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

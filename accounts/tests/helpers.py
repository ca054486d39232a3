"""Plain helpers of accounts' tests: a signed-in client, analytics rows (request logs and usage records at a
given time), and the ledger race shared by test_quota.py and the processes it starts (race_worker.py)."""

import threading
import time

from django.db import close_old_connections, connection
from django.test import Client

from accounts.models import Organization, UsageRecord
from accounts.quota import QuotaExceeded, quota_reserve


def signed_in(user) -> Client:
    """A browser of its own, signed in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def make_request_log(org, when, *, status=200, code="", ttfb=100, total=200, voice="af_heart", source="api", key=None):
    """A request-log row of a native TTS call at `when`, as the middleware writes one."""
    from accounts.analytics.models import RequestLog

    return RequestLog.objects.create(
        organization=org, plan_id=org.plan_id if org else None, api_key=key, source=source, route="api_v1:tts",
        path="/api/v1/tts", method="POST", status_code=status, error_code=code, voice=voice, characters=10,
        ttfb_ms=ttfb, total_ms=total, ttfb_bucket=RequestLog.bucket_of(ttfb), total_bucket=RequestLog.bucket_of(total),
        created_at=when,
    )


def make_usage(org, when, characters, seconds, voice="af_heart"):
    """A succeeded usage record dated `when`."""
    record = UsageRecord.objects.create(
        organization=org, voice=voice, characters=characters, status=UsageRecord.Status.SUCCEEDED,
        audio_seconds=seconds, period_start=org.period_start,
    )
    UsageRecord.objects.filter(pk=record.pk).update(created_at=when)  # auto_now_add ignores a given value
    return record


def naive_reserve(*, organization, characters, voice, **kwargs):
    """The mutant the race test must kill: read, check, then write."""
    organization = Organization.objects.get(pk=organization.pk)
    if organization.characters_used + characters > organization.plan.monthly_characters:
        raise QuotaExceeded(limit=organization.plan.monthly_characters, used=organization.characters_used, resets_at=organization.period_end)
    # Part of the mutant, not a wait: the window in which another request reads the same figure.
    time.sleep(0.02)
    Organization.objects.filter(pk=organization.pk).update(characters_used=organization.characters_used + characters)
    return UsageRecord.objects.create(organization=organization, voice=voice, characters=characters, period_start=organization.period_start)


def race(org_id, threads, characters, *, on_ready, naive=False):
    """`threads` simultaneous reservations; returns how many succeeded.

    Every thread first loads the organization, then waits at a gate. Once all of them wait,
    `on_ready()` is called (it returns when the other processes of the race are ready too) and
    the gate opens for all at once: the race starts on an event, not at a time on the clock.
    """
    reserve = naive_reserve if naive else quota_reserve
    successes = []
    lock = threading.Lock()
    loaded = threading.Barrier(threads + 1)
    go = threading.Event()

    def attempt():
        try:
            try:
                organization = Organization.objects.select_related("plan").get(pk=org_id)
            except BaseException:
                loaded.abort()
                raise
            loaded.wait()
            go.wait()
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
    try:
        loaded.wait()
        on_ready()
    finally:
        go.set()  # on failure too, so no thread is left waiting
        for worker in workers:
            worker.join()
    return len(successes)

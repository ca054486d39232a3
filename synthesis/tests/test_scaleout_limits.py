"""
Limits hold across server processes sharing PostgreSQL and Redis.

Two real ASGI servers (daphne) run against the test database and Redis; a
burst at twice the plan's requests-per-minute gets only 200s and 429s, never
more successes than the limit, and the character ledger adds up.
"""

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.core.cache import cache

from accounts.models import Plan, UsageRecord

pytestmark = [pytest.mark.model, pytest.mark.scaleout]


def post(url, secret, text):
    request = urllib.request.Request(
        url + "/api/v1/tts",
        data=json.dumps({"text": text, "format": "wav", "store": False}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_burst_at_twice_the_rate_across_two_servers_never_overspends(cast, servers):
    cache.clear()
    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=4, concurrent_requests=8)
    secret = cast.key(cast.alice)
    # Two server processes: no fake clock reaches them. None is needed: the window
    # slides, so a burst that straddles a minute boundary is refused all the same.
    results = []
    lock = threading.Lock()

    def fire(index):
        status, body = post(servers[index % 2], secret, "Hi there.")
        with lock:
            results.append((status, body))

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {200, 429}, results
    assert statuses.count(200) == 4
    assert all(json.loads(body)["code"] == "rate_limited" for status, body in results if status == 429)
    cast.org_a.refresh_from_db()
    succeeded = UsageRecord.objects.filter(organization=cast.org_a, status="succeeded")
    assert succeeded.count() == 4
    assert cast.org_a.characters_used == 4 * len("Hi there.") == sum(r.characters for r in succeeded)

import datetime as dt

import pytest
import time_machine
from django.test import RequestFactory

from synthesis.services.limits import Limited, check_rate, client_ip


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        (0, "1.1.1.1", "10.0.0.9"),  # no proxy configured: the header is the client's to forge
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),  # a forged entry left of ours is ignored
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.2", "1.1.1.1"),
        (2, "1.1.1.1", "10.0.0.9"),  # fewer entries than proxies: not from our proxies
        (1, "", "10.0.0.9"),
        (1, "6.6.6.6, not-an-address", "10.0.0.9"),  # our proxy writes an address: this is not its entry
        (1, "6.6.6.6, 2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


# -- requests per minute: a sliding window, read through the clock seam ----------------------------------

# Windows are aligned to the epoch: this is the start of a minute.
NINE = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def at(fresh_cache):
    """Stop the clock `seconds` into the minute that starts at NINE; move it with .shift(seconds)."""
    travellers = []

    def stop(seconds: float):
        traveller = time_machine.travel(NINE + dt.timedelta(seconds=seconds), tick=False)
        travellers.append(traveller)
        return traveller.start()

    yield stop
    for traveller in reversed(travellers):
        traveller.stop()


def admitted(n, **who) -> int:
    """How many of `n` requests, all at this instant, pass."""
    passed = 0
    for _ in range(n):
        try:
            check_rate(**who)
            passed += 1
        except Limited:
            pass
    return passed


def refusal(**who) -> Limited:
    with pytest.raises(Limited) as refused:
        check_rate(**who)
    return refused.value


def test_the_plans_rate_passes_and_the_next_request_is_429_with_retry_after(cast, at):
    rate = cast.org_a.plan.requests_per_minute
    at(30)

    states = [check_rate(organization=cast.org_a) for _ in range(rate)]
    refused = refusal(organization=cast.org_a)

    assert [s.remaining for s in states] == list(range(rate - 1, -1, -1))
    assert all(s.limit == rate for s in states)
    assert (refused.code, refused.status, refused.limit) == ("rate_limited", 429, rate)
    assert refused.retry_after >= 1


def test_a_burst_straddling_a_minute_boundary_is_refused(cast, at):
    rate = cast.org_a.plan.requests_per_minute
    clock = at(59.9)
    assert admitted(rate, organization=cast.org_a) == rate

    clock.shift(0.2)  # 0.1 s into the next minute: a fixed window would start counting from zero

    assert admitted(rate, organization=cast.org_a) == 0


@pytest.mark.parametrize("second", [0, 17.25, 30, 59.9])
def test_retry_after_is_honest_a_request_after_it_passes_and_one_a_second_sooner_does_not(cast, at, second):
    rate = cast.org_a.plan.requests_per_minute
    clock = at(second)
    admitted(rate, organization=cast.org_a)
    wait = refusal(organization=cast.org_a).retry_after

    clock.shift(wait - 1)
    assert refusal(organization=cast.org_a).retry_after == 1
    clock.shift(1)
    check_rate(organization=cast.org_a)


def test_refused_requests_do_not_count_so_a_client_that_keeps_retrying_is_not_locked_out(cast, at):
    rate = cast.org_a.plan.requests_per_minute
    clock = at(30)
    admitted(rate, organization=cast.org_a)
    wait = refusal(organization=cast.org_a).retry_after

    for _ in range(wait - 1):  # one refused try every second
        clock.shift(1)
        assert admitted(5, organization=cast.org_a) == 0
    clock.shift(1)

    check_rate(organization=cast.org_a)


def test_after_the_announced_reset_of_quiet_the_whole_rate_passes_again(cast, at):
    rate = cast.org_a.plan.requests_per_minute
    clock = at(20)
    last = [check_rate(organization=cast.org_a) for _ in range(rate)][-1]
    assert last.reset <= 2 * 60  # the previous minute slides out of the window in at most two

    clock.shift(last.reset)

    assert admitted(rate + 1, organization=cast.org_a) == rate


def test_two_organizations_do_not_share_counts(cast, at):
    at(30)
    assert admitted(cast.org_a.plan.requests_per_minute, organization=cast.org_a) == cast.org_a.plan.requests_per_minute
    refusal(organization=cast.org_a)

    state = check_rate(organization=cast.org_b)

    assert state.remaining == cast.org_b.plan.requests_per_minute - 1


def test_two_keys_of_one_organization_share_its_rate(cast, at):
    from accounts.services import api_key_create

    rate = cast.org_a.plan.requests_per_minute
    first, second = (api_key_create(organization=cast.org_a, created_by=cast.alice, name=n).key for n in ("one", "two"))
    at(30)
    assert admitted(rate // 2, organization=cast.org_a, api_key=first) == rate // 2
    assert admitted(rate - rate // 2, organization=cast.org_a, api_key=second) == rate - rate // 2

    assert refusal(organization=cast.org_a, api_key=first).code == "rate_limited"
    assert refusal(organization=cast.org_a, api_key=second).code == "rate_limited"
    assert refusal(organization=cast.org_a).code == "rate_limited"  # the studio, without a key


def test_two_requests_racing_for_the_last_place_one_passes_even_when_their_counts_interleave(cast, at, monkeypatch):
    """A counts its organization, B counts it too (one over), B's key count lands before A's.

    Counting every subject before deciding refused both (A's key count was one over because
    of B's, given back only afterwards): a burst got fewer than the plan's rate through.
    Counting stops at the first subject that refuses, so B never touches the key and A passes.
    The threads are ordered by events, not by sleeping.
    """
    import threading

    from accounts.services import api_key_create
    from synthesis.services import limits

    organization = cast.org_a
    rate = organization.plan.requests_per_minute  # read now: the threads don't touch the database
    key = api_key_create(organization=organization, created_by=cast.alice, name="racing").key
    at(30)
    assert admitted(rate - 1, organization=organization, api_key=key) == rate - 1

    a_counted_org, b_counted_key_or_done, a_counted_key = (threading.Event() for _ in range(3))
    real_count = limits.count_in_window

    def ordered_count(cache_key, timeout):
        who = threading.current_thread().name
        if who == "A" and cache_key.startswith("rl:org:"):
            value = real_count(cache_key, timeout)
            a_counted_org.set()
        elif who == "B" and cache_key.startswith("rl:org:"):
            assert a_counted_org.wait(30)
            value = real_count(cache_key, timeout)
        elif who == "A":
            assert b_counted_key_or_done.wait(30)
            value = real_count(cache_key, timeout)
            a_counted_key.set()
        else:  # B's key count, which only the old limiter made: hold its give-back until A has counted
            value = real_count(cache_key, timeout)
            b_counted_key_or_done.set()
            assert a_counted_key.wait(30)
        return value

    monkeypatch.setattr(limits, "count_in_window", ordered_count)
    outcome = {}

    def request(who):
        try:
            check_rate(organization=organization, api_key=key)
            outcome[who] = "passed"
        except Limited:
            outcome[who] = "refused"
        finally:
            if who == "B":
                b_counted_key_or_done.set()

    threads = [threading.Thread(target=request, args=(who,), name=who) for who in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcome == {"A": "passed", "B": "refused"}
    monkeypatch.undo()
    assert refusal(organization=organization, api_key=key).code == "rate_limited"  # the rate is spent, exactly


@pytest.mark.django_db
def test_slots_leaked_by_a_crashed_process_are_forgotten_once_the_counter_expires(cast, settings):
    """CONCURRENCY_TTL: a process that dies holding slots never gives them back; the counter heals itself.

    On the local-memory cache, whose expiry reads time.time(), which time-machine moves (Redis keeps its own
    clock); the counter's TTL is the same call on either.
    """
    from synthesis.services import limits

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ttl-test"}}
    organization = cast.org_a
    with time_machine.travel(NINE, tick=False) as traveller:
        for _ in range(organization.plan.concurrent_requests):
            limits.concurrency_acquire(organization=organization)  # never released: its process was killed
        with pytest.raises(Limited) as refused:
            limits.concurrency_acquire(organization=organization)
        assert refused.value.code == "concurrency_limited"

        traveller.shift(limits.CONCURRENCY_TTL - 1)
        with pytest.raises(Limited):  # a long request may still hold its slot: not forgotten early
            limits.concurrency_acquire(organization=organization)
        traveller.shift(2)
        slots = [limits.concurrency_acquire(organization=organization) for _ in range(organization.plan.concurrent_requests)]
        for slot in slots:
            slot.release()

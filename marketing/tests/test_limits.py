"""The anonymous limits (demo, events, lead form) slide like the API's: no double burst at a window boundary."""

import datetime as dt
import math

import pytest
import time_machine

from marketing import limits
from synthesis.services.limits import Limited

pytestmark = pytest.mark.usefixtures("fresh_cache")

# Windows are aligned to the epoch: the start of an hour (and of a minute).
NINE = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
MESSAGE = "You have used it {limit} times this hour. Try again in {minutes} min."


def tries(n, name="lead_client", subject="client-1") -> list[Limited | None]:
    outcomes = []
    for _ in range(n):
        try:
            limits.hit(name, subject=subject, code="lead_limited", message=MESSAGE)
            outcomes.append(None)
        except Limited as refused:
            outcomes.append(refused)
    return outcomes


def test_a_burst_straddling_the_hour_is_refused(settings):
    settings.VOICEHUB_LEADS_PER_CLIENT_PER_HOUR = 5
    with time_machine.travel(NINE - dt.timedelta(seconds=1), tick=False) as clock:
        assert tries(5).count(None) == 5
        clock.shift(2)  # a fixed hourly window would start again from zero

        refused = tries(5)

    assert refused.count(None) == 0
    assert refused[0].code == "lead_limited" and refused[0].status == 429
    assert refused[0].message == f"You have used it 5 times this hour. Try again in {math.ceil(refused[0].retry_after / 60)} min."


def test_retry_after_is_honest_and_other_clients_are_not_held_up(settings):
    settings.VOICEHUB_LEADS_PER_CLIENT_PER_HOUR = 5
    with time_machine.travel(NINE + dt.timedelta(minutes=40), tick=False) as clock:
        tries(5)
        wait = tries(1)[0].retry_after
        assert tries(1, subject="client-2") == [None]

        clock.shift(wait - 1)
        assert tries(1)[0] is not None
        clock.shift(1)
        assert tries(1) == [None]

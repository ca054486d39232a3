"""The studio on a phone and its usage chart: history rows are cards at 480 px and less (every player and button
on screen), and the usage chart has a dated axis, a scale in whole characters and voices by their names."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import UsageRecord
from synthesis.models import SavedVoice
from synthesis.tests.helpers import make_generation

pytestmark = pytest.mark.usefixtures("isolated_media")


def _record(org, user, characters, voice, days_ago=0, status=UsageRecord.Status.SUCCEEDED, error_code=""):
    row = UsageRecord.objects.create(
        organization=org,
        user=user,
        voice=voice,
        characters=characters,
        status=status,
        error_code=error_code,
        period_start=org.period_start,
        source=UsageRecord.Source.STUDIO,
    )
    UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def test_the_usage_chart_has_dates_a_whole_number_scale_and_voices_by_name(client, cast):
    org = cast.org_a
    start = timezone.now() - timedelta(days=9)
    type(org).objects.filter(pk=org.pk).update(period_start=start, period_end=start + timedelta(days=30))
    org.refresh_from_db()
    saved = SavedVoice.objects.create(
        organization=org, name="Narrator", language="en-us", spec="af_heart(2)+bm_george(1)"
    )
    _record(org, cast.alice, 17, "af_heart", days_ago=3)
    _record(org, cast.alice, 545, saved.public_id)
    _record(org, cast.alice, 5, "bm_george", status=UsageRecord.Status.REFUNDED, error_code="no_speakable_text")
    client.force_login(cast.alice)
    html = client.get("/studio/usage/").content.decode()

    chart = re.search(r'<svg class="chart".*?</svg>', html, flags=re.S)[0]
    scale = re.findall(r'<text class="y-tick"[^>]*>([^<]*)</text>', chart)
    assert scale and all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in scale), scale
    assert scale[0] == "0" and int(scale[-1].replace(",", "")) >= 545
    dates = re.findall(r'<text class="x-tick"[^>]*>([^<]*)</text>', chart)
    assert dates[0] == f"{start:%b} {start.day}" and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", d) for d in dates)

    voices = re.search(r'<table id="top-voices">.*?</table>', html, flags=re.S)[0]
    assert re.search(r"<td>Narrator\b", voices) and re.search(r"<td>Heart\b", voices), voices
    errors = re.search(r'<table id="recent-errors">.*?</table>', html, flags=re.S)[0]
    assert "<td>George</td>" in errors


def _sign_in(page, live_asgi, user):
    session = Client()
    session.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])


# Each control of a history row, and where it sits on the screen.
CONTROLS = """() => Array.from(document.querySelectorAll('#history-results tbody tr')).flatMap((row) =>
    Array.from(row.querySelectorAll('a, button, audio')).map((e) => {
        const r = e.getBoundingClientRect();
        return {row: row.id, what: e.textContent.trim() || e.tagName, left: r.left, right: r.right, width: r.width};
    }))"""


@pytest.mark.browser
def test_history_rows_are_cards_with_every_control_on_a_phone_screen(page, live_asgi, cast):
    for text in ["A short take.", "A much longer take that wraps over several lines on a phone " * 3]:
        make_generation(cast.org_a, text=text, voice="af_heart", user=cast.alice)
    _sign_in(page, live_asgi, cast.alice)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/studio/history/")
    controls = page.evaluate(CONTROLS)
    assert len(controls) == 6  # a player, Download and Delete in each row
    outside = [c for c in controls if c["left"] < 0 or c["right"] > 390 or c["width"] == 0]
    assert outside == [], outside
    assert page.evaluate("document.querySelector('#history-results .table-wrap').scrollWidth <= 390")
    # On a desktop it is still a table with its headings.
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("getComputedStyle(document.querySelector('.history thead')).position") != "absolute"
    assert page.evaluate("getComputedStyle(document.querySelector('.history tr')).display") == "table-row"

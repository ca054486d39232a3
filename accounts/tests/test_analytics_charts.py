"""The admin's analytics charts and tables as an operator reads them: dated axes, whole-number ticks for
counts, organizations by their full names, and tables without rows of zeros."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization, User
from accounts.tests.helpers import make_request_log, make_usage

DASHBOARD = "admin:accounts_requestlog_dashboard"
LONG_NAME = "Worldwide Audiobook Publishers Cooperative of the North"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="ops@voicehub.test", password="correct horse battery staple")


@pytest.fixture
def two_busy_days(cast):
    """17 requests today and 3 two days ago (17 halves to 8.5 on a naive scale), 1,125 characters; the rest empty."""
    org = cast.org_a
    Organization.objects.filter(pk=org.pk).update(name=LONG_NAME)
    now = timezone.now()
    for i in range(17):
        make_request_log(org, now - timedelta(minutes=i))
    for i in range(3):
        make_request_log(org, now - timedelta(days=2, minutes=i))
    make_usage(org, now, 1125, 3.0)
    make_usage(org, now - timedelta(days=2), 40, 3.0)
    return org


def _svgs(html):
    """The analytics charts of a page (not the admin's icons)."""
    return re.findall(r'<svg\b[^>]*class="vh-chart.*?</svg>', html, flags=re.S)


def _ticks(svg, axis):
    return re.findall(rf'<text class="{axis}-tick"[^>]*>([^<]*)</text>', svg)


def _rows(html, table):
    body = re.search(rf'<table data-table="{table}">.*?<tbody>(.*?)</tbody>', html, flags=re.S)[1]
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def test_count_charts_have_whole_number_ticks_and_dated_axes(client, staff, two_busy_days):
    client.force_login(staff)
    html = client.get(reverse(DASHBOARD)).content.decode()
    requests, characters, _ = _svgs(html)[:3]
    for svg in (requests, characters):
        ticks = _ticks(svg, "y")
        assert len(ticks) >= 3, svg[:300]
        assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in ticks), ticks  # never 8.50 nor 562.00
        assert int(ticks[-1].replace(",", "")) >= {requests: 17, characters: 1125}[svg]
    dates = _ticks(requests, "x")
    assert 4 <= len(dates) <= 8 and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", d) for d in dates), dates
    start = timezone.now().date() - timedelta(days=29)
    assert dates[0] == f"{start:%b} {start.day}"
    assert "day (UTC)" in requests


def test_the_series_table_lists_only_days_with_something_in_them(client, staff, two_busy_days):
    client.force_login(staff)
    html = client.get(reverse(DASHBOARD)).content.decode()
    rows = _rows(html, "series")
    assert len(rows) == 2, f"{len(rows)} rows for 2 busy days out of 30"


def test_top_organizations_are_charted_under_their_full_names(client, staff, two_busy_days):
    client.force_login(staff)
    html = client.get(reverse(DASHBOARD)).content.decode()
    section = re.search(r'<section class="vh-table" id="table-organizations">(.*?)</section>', html, flags=re.S)[1]
    (chart,) = _svgs(section)
    assert f">{LONG_NAME}</text>" in chart


def test_the_organization_page_has_a_dated_chart_and_no_empty_days(client, staff, two_busy_days):
    client.force_login(staff)
    html = client.get(reverse("admin:accounts_organization_overview", args=[two_busy_days.pk])).content.decode()
    assert len(_rows(html, "usage")) == 2
    (chart,) = _svgs(html)
    dates = _ticks(chart, "x")
    assert dates and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", d) for d in dates), dates
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in _ticks(chart, "y"))


def test_the_funnel_lists_only_days_with_events(client, staff, cast):
    from marketing.models import FunnelEvent

    FunnelEvent.objects.create(kind=FunnelEvent.Kind.PAGE_VIEW, visitor="v1", path="/")
    client.force_login(staff)
    html = client.get(reverse("admin:accounts_requestlog_funnel")).content.decode()
    assert len(_rows(html, "days")) == 1


def test_nice_ticks_are_round_and_cover_the_top():
    from accounts.analytics.charts import date_label, nice_ticks, tick_label

    assert nice_ticks(17) == [0, 5, 10, 15, 20]
    assert nice_ticks(562) == [0, 200, 400, 600]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(0.3, integer=False)[-1] >= 0.3
    assert [tick_label(t) for t in nice_ticks(2400)] == ["0", "1,000", "2,000", "3,000"]
    assert date_label("2026-12-06") == "Dec 6" and date_label("2026-12-01", "month") == "Dec 2026"

"""The operator's analytics: the dashboard's numbers, its access rules, the roll-up, the audit trail."""

import csv
import io
import math
from datetime import datetime, time, timedelta
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.analytics.dashboard import dashboard
from accounts.analytics.funnel import FUNNEL_STEPS, funnel
from accounts.analytics.measures import MEASURES, Filters
from accounts.analytics.models import LatencyDaily, RequestLog, UsageDaily, UsageRollupDay
from accounts.models import ApiKey, AuditLog, Organization, Plan, UsageRecord, User
from accounts.tests.helpers import make_request_log as _log, make_usage as _usage

DASHBOARD = "admin:accounts_requestlog_dashboard"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser(email="ops@voicehub.test", password="correct horse battery staple")


def _nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


class _Tables(HTMLParser):
    """The cells of each <table data-table=…> of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-table" in attrs:
            self.current = self.tables.setdefault(attrs["data-table"], [])
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.current.append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None


def _html_tables(response):
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


# -- who may look --------------------------------------------------------------------------------


def test_staff_see_the_dashboard_and_the_funnel(client, staff):
    client.force_login(staff)
    assert client.get(reverse(DASHBOARD)).status_code == 200
    assert client.get(reverse("admin:accounts_requestlog_funnel")).status_code == 200


def test_a_customer_is_sent_to_the_admin_login(client, cast):
    client.force_login(cast.alice)
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_api_key_does_not_open_the_admin(client, cast):
    key = cast.key(cast.alice)
    response = client.get(reverse(DASHBOARD), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_the_view_permission_are_refused(client, db):
    clerk = User.objects.create_user(email="clerk@voicehub.test", password="x" * 20, is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse(DASHBOARD)).status_code == 403


# -- the numbers ---------------------------------------------------------------------------------


@pytest.fixture
def known_rows(cast):
    """Today: 20 successes with known latencies, two 4xx, one 429, one 5xx; 300 characters charged."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = max(now - timedelta(hours=1), datetime.combine(now.date(), time.min, tzinfo=now.tzinfo))
    ttfbs = [13 * i + 7 for i in range(20)]
    totals = [t * 3 for t in ttfbs]
    for i, (t, total) in enumerate(zip(ttfbs, totals)):
        _log(cast.org_a, start + timedelta(seconds=10 * i), ttfb=t, total=total)
    _log(cast.org_a, start, status=401, code="invalid_api_key", ttfb=2, total=2)
    _log(cast.org_a, start, status=400, code="empty_text", ttfb=3, total=3)
    _log(cast.org_a, start, status=429, code="rate_limited", ttfb=1, total=1)
    _log(cast.org_b, start, status=503, code="overloaded", ttfb=4, total=4)
    _usage(cast.org_a, start, 200, 12.0)
    _usage(cast.org_b, start, 100, 6.0)
    return {"ttfb": ttfbs, "total": totals}


def test_the_dashboard_adds_up_the_rows_of_today_with_exact_percentiles(cast, known_rows):
    today = timezone.now().date()
    data = dashboard(start=today, end=today)
    t = data.totals
    assert (t["requests"], t["ok"], t["client_errors"], t["rate_limited"], t["server_errors"]) == (24, 20, 2, 1, 1)
    assert t["characters"] == 300 and t["audio_minutes"] == 0.3
    assert data.percentiles_exact
    for metric in ("ttfb", "total"):
        for p in (50, 95, 99):
            assert data.percentiles[metric][p] == _nearest_rank(known_rows[metric], p)
    # The successes are 10 s apart and short; the first starts with the four errors.
    assert data.peak_concurrency == 5
    assert {(e["status_code"], e["error_code"]) for e in data.errors} == {
        (401, "invalid_api_key"), (400, "empty_text"), (429, "rate_limited"), (503, "overloaded")
    }
    assert [o["name"] for o in data.top_organizations] == ["Acme", "Globex"]


def test_the_peak_counts_overlapping_requests_only(cast):
    now = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    _log(cast.org_a, now, total=10_000)
    _log(cast.org_a, now + timedelta(seconds=1), total=10_000)
    _log(cast.org_a, now + timedelta(seconds=2), total=1_000)  # three at once from 2 s to 3 s
    _log(cast.org_a, now + timedelta(seconds=10), total=1_000)  # starts as the first ends: not concurrent with it
    today = timezone.now().date()
    assert dashboard(start=today, end=today).peak_concurrency == 3


def test_rolled_up_days_give_the_same_totals_and_close_percentiles(cast, staff):
    yesterday = timezone.now().date() - timedelta(days=1)
    start = datetime.combine(yesterday, time(12), tzinfo=timezone.get_current_timezone())
    ttfbs = [50 + 37 * i for i in range(40)]
    for i, ttfb in enumerate(ttfbs):
        _log(cast.org_a if i % 2 else cast.org_b, start + timedelta(seconds=i), ttfb=ttfb, total=ttfb * 2,
             voice="af_sky" if i % 3 else "bm_lewis")
    _log(cast.org_a, start, status=429, code="rate_limited", ttfb=1, total=1)
    _usage(cast.org_a, start, 500, 30.0)
    raw = dashboard(start=yesterday, end=yesterday)
    assert not raw.from_rollup
    call_command("rollup_usage", "--day", yesterday.isoformat())
    rolled = dashboard(start=yesterday, end=yesterday)
    assert rolled.from_rollup and not rolled.percentiles_exact
    for name in MEASURES:
        assert rolled.totals[name] == pytest.approx(raw.totals[name]), name
    for p in (50, 95, 99):
        exact = raw.percentiles["ttfb"][p]
        assert exact == _nearest_rank(ttfbs, p)
        assert RequestLog.bucket_of(rolled.percentiles["ttfb"][p]) == RequestLog.bucket_of(exact)
    # One filter still reads the roll-up, and agrees with the raw rows.
    for filters in (Filters(voice="af_sky"), Filters(organization=cast.org_a.pk),
                    Filters(plan=cast.org_a.plan_id), Filters(source="api")):
        from_rollup = dashboard(start=yesterday, end=yesterday, filters=filters)
        UsageRollupDay.objects.all().delete()
        from_raw = dashboard(start=yesterday, end=yesterday, filters=filters)
        call_command("rollup_usage", "--day", yesterday.isoformat())
        assert from_rollup.from_rollup and not from_raw.from_rollup
        for name in ("requests", "ok", "rate_limited", "characters", "busy_ms", "peak_concurrency"):
            assert from_rollup.totals[name] == from_raw.totals[name], (filters, name)
        assert from_rollup.errors == from_raw.errors
        assert from_rollup.top_voices is None  # a ranking inside a filter is not rolled up
    unfiltered = dashboard(start=yesterday, end=yesterday)
    UsageRollupDay.objects.all().delete()
    assert unfiltered.top_voices == dashboard(start=yesterday, end=yesterday).top_voices


def test_the_rollup_command_is_idempotent(cast):
    yesterday = timezone.now().date() - timedelta(days=1)
    when = datetime.combine(yesterday, time(8), tzinfo=timezone.get_current_timezone())
    for i in range(5):
        _log(cast.org_a, when + timedelta(minutes=i), ttfb=100 + i)
    _usage(cast.org_a, when, 42, 3.0)

    def snapshot():
        return (
            sorted(UsageDaily.objects.values_list("dimension", "value", "requests", "characters", "peak_concurrency")),
            sorted(LatencyDaily.objects.values_list("dimension", "value", "metric", "bucket", "count")),
        )

    call_command("rollup_usage", "--day", yesterday.isoformat())
    first = snapshot()
    call_command("rollup_usage", "--day", yesterday.isoformat())
    assert snapshot() == first
    assert ("all", "", 5, 42, 1) in first[0]


def test_the_csv_export_is_the_table(client, staff, known_rows):
    client.force_login(staff)
    page = client.get(reverse(DASHBOARD), {"bucket": "hour", "from": timezone.now().date().isoformat()})
    tables = _html_tables(page)
    for name in ("series", "summary", "organizations", "voices", "errors"):
        exported = client.get(reverse(DASHBOARD), {"bucket": "hour", "from": timezone.now().date().isoformat(),
                                                   "format": "csv", "table": name})
        assert exported["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.content.decode())))
        assert rows == tables[name], name
    summary = dict(tables["summary"][1:])
    assert summary["requests"] == "24" and summary["characters"] == "300"


def test_the_funnel_counts_each_step_and_converts(client, staff, cast):
    from marketing.models import FunnelEvent

    Kind = FunnelEvent.Kind
    for visitor in ("v1", "v2", "v3", "v4"):
        FunnelEvent.objects.create(kind=Kind.PAGE_VIEW, visitor=visitor, path="/")
    FunnelEvent.objects.create(kind=Kind.PAGE_VIEW, visitor="v1", path="/pricing")  # same visitor, same day
    FunnelEvent.objects.create(kind=Kind.DEMO_PLAYED, visitor="v1")
    FunnelEvent.objects.create(kind=Kind.DEMO_PLAYED, visitor="v2")
    FunnelEvent.objects.create(kind=Kind.CTA_CLICKED, visitor="v1", cta="hero")
    FunnelEvent.objects.create(kind=Kind.SIGNUP_STARTED, visitor="v1", cta="hero")
    FunnelEvent.objects.create(kind=Kind.SIGNUP_COMPLETED, user=cast.alice)
    FunnelEvent.objects.create(kind=Kind.SIGNUP_COMPLETED, user=cast.charlie)
    FunnelEvent.objects.create(kind=Kind.EMAIL_VERIFIED, user=cast.alice)
    FunnelEvent.objects.create(kind=Kind.FIRST_GENERATION, organization=cast.org_a)
    paid = Plan.objects.filter(price_monthly_cents__gt=0).first()
    Organization.objects.filter(pk=cast.org_a.pk).update(plan=paid)
    today = timezone.now().date()
    steps = {s["key"]: s for s in funnel(start=today, end=today).steps}
    assert [steps[k]["count"] for k, _ in FUNNEL_STEPS] == [4, 2, 1, 2, 1, 1, 1]
    assert steps["demo_played"]["conversion"] == 50.0
    client.force_login(staff)
    tables = _html_tables(client.get(reverse("admin:accounts_requestlog_funnel")))
    assert tables["ctas"][1] == ["hero", "1", "1", "100.00"]


# -- the organization page and its audited actions -------------------------------------------------


def test_each_action_on_an_organization_is_audited(client, staff, cast):
    client.force_login(staff)
    url = reverse("admin:accounts_organization_overview", args=[cast.org_a.pk])
    secret = cast.key(cast.alice)
    key = ApiKey.objects.get(organization=cast.org_a)
    page = client.get(url)
    assert page.status_code == 200
    assert key.masked in page.content.decode() and key.secret_hash not in page.content.decode()
    assert secret not in page.content.decode()
    pro = Plan.objects.exclude(pk=cast.org_a.plan_id).first()
    before_plan = cast.org_a.plan.slug
    client.post(url, {"action": "change_plan", "plan": pro.pk})
    client.post(url, {"action": "grant_characters", "characters": "5000"})
    client.post(url, {"action": "suspend"})
    client.post(url, {"action": "reactivate"})
    client.post(url, {"action": "revoke_key", "key": key.pk})
    cast.org_a.refresh_from_db()
    key.refresh_from_db()
    assert cast.org_a.plan == pro and cast.org_a.bonus_characters == 5000 and cast.org_a.suspended_at is None
    assert key.revoked_at is not None
    audit = list(AuditLog.objects.filter(organization=cast.org_a).order_by("id"))
    assert [a.action for a in audit] == ["change_plan", "grant_characters", "suspend", "reactivate", "revoke_key"]
    assert all(a.actor == staff for a in audit)
    assert audit[0].before == {"plan": before_plan} and audit[0].after == {"plan": pro.slug}
    assert audit[1].after["bonus_characters"] == 5000


def test_the_audit_log_is_append_only(client, staff, cast):
    from accounts import operator

    entry = operator.organization_suspend(actor=staff, organization=cast.org_a)
    entry.target = "tampered"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(target="tampered")
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()
    client.force_login(staff)
    assert client.get(reverse("admin:accounts_auditlog_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_auditlog_add")).status_code == 403
    assert client.post(reverse("admin:accounts_auditlog_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditLog.objects.get(pk=entry.pk).target == f"organization:{cast.org_a.slug}"


def test_granted_characters_raise_the_quota(cast):
    from accounts.quota import QuotaExceeded, quota_reserve

    Organization.objects.filter(pk=cast.org_a.pk).update(characters_used=cast.org_a.plan.monthly_characters)
    cast.org_a.refresh_from_db()
    with pytest.raises(QuotaExceeded):
        quota_reserve(organization=cast.org_a, characters=10, voice="af")
    Organization.objects.filter(pk=cast.org_a.pk).update(bonus_characters=10)
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_left == 10
    quota_reserve(organization=cast.org_a, characters=10, voice="af")


def test_a_suspended_organization_is_refused_synthesis(client, cast, fresh_cache):
    key = cast.key(cast.alice)
    Organization.objects.filter(pk=cast.org_a.pk).update(suspended_at=timezone.now())
    response = client.post("/api/v1/tts", {"text": "Hello"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403 and response.json()["code"] == "organization_suspended"
    log = RequestLog.objects.get()
    assert (log.status_code, log.error_code, log.organization_id) == (403, "organization_suspended", cast.org_a.pk)
    client.force_login(cast.alice)
    response = client.post("/api/v1/tts", {"text": "Hello"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "organization_suspended"
    # The ledger refuses too (the websocket studio and jobs charge through it).
    from accounts.quota import QuotaExceeded, quota_reserve

    cast.org_a.refresh_from_db()
    with pytest.raises(QuotaExceeded) as refused:
        quota_reserve(organization=cast.org_a, characters=5, voice="af")
    assert refused.value.code == "organization_suspended"


# -- the request log -----------------------------------------------------------------------------


def test_the_middleware_records_a_401_and_a_400(client, cast, fresh_cache):
    client.post("/api/v1/tts", {"text": "Hello"}, content_type="application/json")
    key = cast.key(cast.alice)
    client.post("/api/v1/tts", {"text": "   "}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    client.get("/api/v1/voices", HTTP_AUTHORIZATION=f"Bearer {key}")  # not a synthesis: not logged
    rows = list(RequestLog.objects.order_by("id").values_list("status_code", "error_code", "organization_id", "source"))
    assert rows == [(401, "authentication_required", None, "api"), (400, "empty_text", cast.org_a.pk, "api")]


@pytest.mark.model
def test_the_middleware_times_a_stream_and_records_a_429(client, cast, engine, fresh_cache, isolated_media, frozen_clock):
    key = cast.key(cast.alice)
    Plan.objects.filter(pk=cast.org_a.plan_id).update(requests_per_minute=1)
    response = client.post("/api/v1/tts/stream", {"text": "Hi there.", "format": "wav"}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert not RequestLog.objects.exists()  # written when the stream ends, not before
    b"".join(response.streaming_content)
    refused = client.post("/api/v1/tts", {"text": "Hi again."}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 429
    ok, limited = RequestLog.objects.order_by("id")
    assert (ok.status_code, ok.error_code, ok.route, ok.voice, ok.characters) == (200, "", "api_v1:tts-stream", "af", 9)
    assert ok.api_key.organization == cast.org_a
    assert 0 < ok.ttfb_ms <= ok.total_ms
    assert (limited.status_code, limited.error_code) == (429, "rate_limited")


@pytest.mark.model
# serialized_rollback: its teardown then leaves the content types to the next
# serialized test (test_quota's races), which would otherwise insert them twice.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_middleware_times_a_stream_served_over_asgi(live_asgi, cast, engine, fresh_cache, isolated_media,
                                                       finished_requests):
    import urllib.request

    key = cast.key(cast.alice)
    request = urllib.request.Request(
        f"{live_asgi.url}/api/v1/tts/stream", data=b'{"text": "Hello there.", "format": "mp3"}', method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and len(response.read()) > 0
    finished_requests.wait()  # the row is written by response.close(), just after the last byte
    log = RequestLog.objects.get()
    assert (log.status_code, log.route, log.source, log.organization_id) == (200, "api_v1:tts-stream", "api", cast.org_a.pk)
    assert 0 < log.ttfb_ms <= log.total_ms and log.error_code == ""


def test_the_funnel_reads_the_same_from_its_roll_up(cast):
    from marketing.models import FunnelEvent

    yesterday = timezone.now().date() - timedelta(days=1)
    for visitor, kind, cta in (("a", "page_view", ""), ("b", "page_view", ""), ("a", "cta_clicked", "hero"),
                               ("a", "signup_started", "hero"), ("b", "demo_played", "")):
        FunnelEvent.objects.create(kind=kind, visitor=visitor, cta=cta)
    FunnelEvent.objects.create(kind="signup_completed", user=cast.alice)
    FunnelEvent.objects.update(created_at=datetime.combine(yesterday, time(9), tzinfo=timezone.get_current_timezone()))
    raw = funnel(start=yesterday, end=yesterday)
    call_command("rollup_usage", "--day", yesterday.isoformat())
    FunnelEvent.objects.all().delete()  # the roll-up alone must now give the same page
    rolled = funnel(start=yesterday, end=yesterday)
    assert rolled == raw
    assert [s["count"] for s in raw.steps] == [2, 1, 1, 1, 0, 0, 0]
    assert raw.ctas == [{"cta": "hero", "clicks": 1, "signups_started": 1, "conversion": 100.0}]


# -- the hourly and per-organization roll-ups ---------------------------------------------------------


@pytest.fixture
def yesterdays_rows(cast):
    """Yesterday, over three hours: both organizations, two voices, api and studio, successes and failures."""
    yesterday = timezone.now().date() - timedelta(days=1)
    start = datetime.combine(yesterday, time(8), tzinfo=timezone.get_current_timezone())
    for i in range(30):
        when = start + timedelta(minutes=7 * i, seconds=i)
        org = cast.org_a if i % 3 else cast.org_b
        status, code = ((429, "rate_limited") if i % 10 == 3 else (400, "empty_text") if i % 10 == 7 else (200, ""))
        _log(org, when, status=status, code=code, ttfb=40 + 11 * i, total=900 + 300 * (i % 4),
             voice="af_sky" if i % 2 else "bm_lewis", source="studio" if i % 5 == 0 else "api")
        if status == 200:
            _usage(org, when, 10 * (i + 1), 0.5 * (i + 1), voice="af_sky" if i % 2 else "bm_lewis")
    _usage(cast.org_b, start + timedelta(hours=2, minutes=5), 77, 4.0, voice="am_adam")  # a job: no request row
    return yesterday


def _numbers(data):
    """Each bucket's measures (audio seconds rounded: a sum of floats depends on the order of its terms)."""
    return [
        {name: round(row[name], 6) for name in MEASURES} | {"bucket": row["bucket"]} for row in data.series
    ]


def test_hourly_buckets_read_the_same_numbers_from_the_roll_up(cast, yesterdays_rows):
    day = yesterdays_rows
    filters = [Filters(), Filters(voice="af_sky"), Filters(source="studio"),
               Filters(plan=cast.org_a.plan_id)]
    raw = [dashboard(start=day, end=day, bucket="hour", filters=f) for f in filters]
    call_command("rollup_usage", "--day", day.isoformat())
    for f, from_raw in zip(filters, raw):
        rolled = dashboard(start=day, end=day, bucket="hour", filters=f)
        assert rolled.from_rollup and not from_raw.from_rollup, f
        assert _numbers(rolled) == _numbers(from_raw), f
        assert rolled.totals["requests"] > 0, f
    # Characters charged without a request (a job) are in their hour too.
    assert [r["characters"] for r in _numbers(rolled) if r["bucket"].endswith(" 10")] != [0]
    # An organization is not rolled up per hour: its hourly buckets read the raw rows.
    by_org = dashboard(start=day, end=day, bucket="hour", filters=Filters(organization=cast.org_a.pk))
    assert not by_org.from_rollup and by_org.totals["requests"] == 20


def test_top_organizations_read_the_same_from_the_organization_roll_up(cast, yesterdays_rows):
    from accounts.analytics.models import OrganizationDaily

    day = yesterdays_rows
    raw = dashboard(start=day, end=day)
    raw_on_plan = dashboard(start=day, end=day, filters=Filters(plan=cast.org_b.plan_id))
    call_command("rollup_usage", "--day", day.isoformat())
    rolled = dashboard(start=day, end=day)
    assert rolled.from_rollup
    assert rolled.top_organizations == raw.top_organizations
    assert [o["name"] for o in raw.top_organizations] == ["Acme", "Globex"]
    assert dashboard(start=day, end=day, filters=Filters(plan=cast.org_b.plan_id)).top_organizations == (
        raw_on_plan.top_organizations
    )
    rows = {r.organization_id: r for r in OrganizationDaily.objects.filter(day=day)}
    for org in (cast.org_a, cast.org_b):
        logs = RequestLog.objects.filter(organization=org)
        charged = UsageRecord.objects.filter(organization=org, status=UsageRecord.Status.SUCCEEDED)
        assert rows[org.pk].requests == logs.count()
        assert rows[org.pk].ok == logs.filter(status_code__lt=400).count()
        assert rows[org.pk].characters == sum(charged.values_list("characters", flat=True))
        assert rows[org.pk].plan_id == org.plan_id


def test_a_day_rolled_up_by_an_older_version_is_read_from_raw_rows(cast, yesterdays_rows):
    day = yesterdays_rows
    call_command("rollup_usage", "--day", day.isoformat())
    UsageRollupDay.objects.update(version=1)  # e.g. rolled up before the hourly table existed
    data = dashboard(start=day, end=day, bucket="hour")
    assert not data.from_rollup and data.totals["requests"] == 30


def test_the_admin_pages_link_to_the_analytics(client, staff, cast):
    client.force_login(staff)
    dashboard_url, funnel_url = reverse(DASHBOARD), reverse("admin:accounts_requestlog_funnel")
    for page in (reverse("admin:index"), reverse("admin:app_list", args=["accounts"]), reverse("admin:accounts_requestlog_changelist"),
                 reverse("admin:accounts_organization_changelist")):
        html = client.get(page).content.decode()
        assert f'href="{dashboard_url}"' in html and f'href="{funnel_url}"' in html, page
    overview = reverse("admin:accounts_organization_overview", args=[cast.org_a.pk])
    assert f'href="{overview}"' in client.get(reverse("admin:accounts_organization_changelist")).content.decode()
    assert f'href="{overview}"' in client.get(reverse("admin:accounts_organization_change", args=[cast.org_a.pk])).content.decode()

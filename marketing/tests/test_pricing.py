import re

import pytest

from accounts.models import Plan
from marketing.middleware import SESSION_PLAN_KEY
from marketing.models import FunnelEvent

pytestmark = pytest.mark.django_db


def plan_columns(html: str) -> list[str]:
    head = re.search(r'<table id="plan-table">.*?<thead>(.*?)</thead>', html, re.S).group(1)
    return re.findall(r'<th scope="col">([^<]+)</th>', head)


def test_pricing_shows_exactly_the_public_plans_in_their_order(visitor):
    expected = list(Plan.objects.filter(is_public=True).order_by("sort_order", "id").values_list("name", flat=True))
    assert len(expected) >= 2
    html = visitor.get("/pricing").content.decode()
    assert plan_columns(html) == expected
    for plan in Plan.objects.filter(is_public=True):
        assert f'href="/accounts/signup/?plan={plan.slug}&amp;cta=pricing_{plan.slug}"' in html


def plan_row(html: str, label: str) -> list[str]:
    row = re.search(rf'<tr><th scope="row">{label}</th>(.*?)</tr>', html, re.S).group(1)
    return re.findall(r"<td>([^<]*)</td>", row)


def test_pricing_shows_how_much_audio_one_request_may_produce(visitor):
    html = visitor.get("/pricing").content.decode()
    # Free, Starter, Creator, Pro (Enterprise is not public): the seeded ceilings.
    assert plan_row(html, "Audio per request") == ["up to 5 min", "up to 10 min", "up to 15 min", "up to 15 min"]

    Plan.objects.filter(slug="free").update(max_audio_seconds_per_request=90)

    assert plan_row(visitor.get("/pricing").content.decode(), "Audio per request")[0] == "up to 1 min 30 s"


def test_a_new_hidden_or_reordered_plan_changes_the_page(visitor):
    Plan.objects.create(
        slug="studio-max", name="Studio Max", sort_order=0, price_monthly_cents=4900, monthly_characters=1_234_567,
        max_characters_per_request=3000, requests_per_minute=90, concurrent_requests=4, history_retention_days=60,
        allowed_formats=["wav"], api_access=True,
    )
    Plan.objects.filter(slug="starter").update(is_public=False)
    html = visitor.get("/pricing").content.decode()
    columns = plan_columns(html)
    assert "Studio Max" in columns and "Starter" not in columns
    assert "1,234,567" in html and "$49" in html
    assert "Studio Max" in visitor.get("/").content.decode()  # the landing's summary reads the same rows


def test_changing_a_plan_in_the_admin_changes_the_pricing_page(client, visitor):
    from accounts.models import User

    admin = User.objects.create_superuser(email="ops@voicehub.test", password="correct horse battery staple")
    client.force_login(admin)
    plan = Plan.objects.get(slug="pro")
    assert "$99" in visitor.get("/pricing").content.decode()

    change = client.get(f"/admin/accounts/plan/{plan.pk}/change/")
    assert change.status_code == 200
    form = {
        "slug": plan.slug, "name": "Pro Plus", "sort_order": plan.sort_order, "price_monthly_cents": 12900,
        "monthly_characters": 750_000, "max_characters_per_request": plan.max_characters_per_request,
        "max_audio_seconds_per_request": 1200,
        "requests_per_minute": plan.requests_per_minute, "concurrent_requests": plan.concurrent_requests,
        "history_retention_days": plan.history_retention_days, "allowed_formats": '["wav", "mp3"]',
        "api_access": "on", "is_public": "on",
    }
    response = client.post(f"/admin/accounts/plan/{plan.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]

    html = visitor.get("/pricing").content.decode()
    assert "Pro Plus" in plan_columns(html)
    assert "$129" in html and "750,000" in html and "$99" not in html
    assert plan_row(html, "Audio per request")[plan_columns(html).index("Pro Plus")] == "up to 20 min"

    # Unticking "is public" in the changelist's editable column hides it.
    changelist = client.get("/admin/accounts/plan/").content.decode()
    rows = re.findall(r'name="(form-\d+)-id" value="(\d+)"', changelist)
    assert rows
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows)), "_save": "Save"}
    for prefix, pk in rows:
        data[f"{prefix}-id"] = pk
        if int(pk) != plan.pk and Plan.objects.get(pk=pk).is_public:
            data[f"{prefix}-is_public"] = "on"
    assert client.post("/admin/accounts/plan/", data).status_code == 302
    columns = plan_columns(visitor.get("/pricing").content.decode())
    assert "Pro Plus" not in columns and "Free" in columns


def test_a_plan_cta_preselects_the_plan_and_records_signup_started(visitor):
    response = visitor.get("/accounts/signup/?plan=pro&cta=pricing_pro")
    assert response.status_code == 200
    assert visitor.session[SESSION_PLAN_KEY] == "pro"
    event = FunnelEvent.objects.get(kind=FunnelEvent.Kind.SIGNUP_STARTED)
    assert event.cta == "pricing_pro" and event.path == "/accounts/signup/" and len(event.visitor) == 32


def test_an_unknown_or_hidden_plan_is_not_remembered(visitor):
    Plan.objects.filter(slug="starter").update(is_public=False)
    visitor.get("/accounts/signup/?plan=starter")
    visitor.get("/accounts/signup/?plan=platinum")
    assert SESSION_PLAN_KEY not in visitor.session
    assert not FunnelEvent.objects.filter(kind=FunnelEvent.Kind.SIGNUP_STARTED).exists()


def test_a_plain_visit_to_the_signup_page_is_not_a_funnel_step(visitor):
    visitor.get("/accounts/signup/")
    assert not FunnelEvent.objects.exists()

import json
from datetime import date

import pytest
from django.test import RequestFactory

from marketing.funnel import visitor_id
from marketing.models import FunnelEvent

from .conftest import BROWSER_UA

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def send(client, payload, **headers):
    return client.post("/events", json.dumps(payload), content_type="application/json", **headers)


def test_a_page_view_a_scroll_depth_and_a_cta_click_are_stored(visitor):
    assert send(visitor, {"kind": "page_view", "path": "/pricing"}).status_code == 204
    assert send(visitor, {"kind": "scroll", "path": "/", "value": 75}).status_code == 204
    assert send(visitor, {"kind": "cta_clicked", "path": "/", "cta": "hero_signup"}).status_code == 204
    events = {e.kind: e for e in FunnelEvent.objects.all()}
    assert set(events) == {"page_view", "scroll", "cta_clicked"}
    assert events["page_view"].path == "/pricing"
    assert events["scroll"].value == 75
    assert events["cta_clicked"].cta == "hero_signup"
    assert len({e.visitor for e in events.values()}) == 1  # the same visitor all day


def test_the_query_string_of_the_path_is_never_stored(visitor):
    send(visitor, {"kind": "page_view", "path": "/news/confirm/abc?email=a@b.test"})
    assert FunnelEvent.objects.get().path == "/news/confirm/abc"


@pytest.mark.parametrize("header", ["HTTP_DNT", "HTTP_SEC_GPC"])
def test_do_not_track_and_global_privacy_control_store_nothing(visitor, header):
    response = send(visitor, {"kind": "page_view", "path": "/"}, **{header: "1"})
    assert response.status_code == 204
    assert not FunnelEvent.objects.exists()
    visitor.get("/accounts/signup/?plan=pro", **{header: "1"})  # nor does the server-side sign-up start
    assert not FunnelEvent.objects.exists()


@pytest.mark.parametrize(
    "user_agent",
    ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0", "python-requests/2.32", ""],
)
def test_bots_and_scripts_are_not_counted(client, user_agent):
    response = send(client, {"kind": "page_view", "path": "/"}, HTTP_USER_AGENT=user_agent)
    assert response.status_code == 204
    assert not FunnelEvent.objects.exists()


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"kind": "purchase", "path": "/"}, "invalid_kind"),
        ({"kind": "signup_completed", "path": "/"}, "invalid_kind"),  # only the server records it
        ({"path": "/"}, "invalid_kind"),
        ({"kind": "page_view"}, "invalid_path"),
        ({"kind": "page_view", "path": "https://evil.test/"}, "invalid_path"),
        ({"kind": "page_view", "path": "//evil.test/"}, "invalid_path"),
        ({"kind": "scroll", "path": "/", "value": 33}, "invalid_value"),
        ({"kind": "scroll", "path": "/", "value": "50"}, "invalid_value"),
        ({"kind": "scroll", "path": "/"}, "invalid_value"),
        ({"kind": "page_view", "path": "/", "value": 50}, "invalid_value"),
        ({"kind": "cta_clicked", "path": "/"}, "invalid_cta"),
        ({"kind": "cta_clicked", "path": "/", "cta": "<script>"}, "invalid_cta"),
        ({"kind": "cta_clicked", "path": "/", "cta": "x" * 65}, "invalid_cta"),
        (["page_view"], "parse_error"),
    ],
)
def test_bad_input_is_a_400_with_a_code(visitor, payload, code):
    response = send(visitor, payload)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["detail"]
    assert not FunnelEvent.objects.exists()


def test_a_body_that_is_not_json_is_refused(visitor):
    response = visitor.post("/events", "kind=page_view", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    response = visitor.post("/events", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_events_from_another_origin_are_refused(visitor):
    response = send(visitor, {"kind": "page_view", "path": "/"}, HTTP_ORIGIN="https://elsewhere.test")
    assert response.status_code == 403 and response.json()["code"] == "cross_origin"
    assert send(visitor, {"kind": "page_view", "path": "/"}, HTTP_ORIGIN="http://testserver").status_code == 204


def test_the_endpoint_is_rate_limited_per_client(visitor, settings, frozen_clock):
    settings.VOICEHUB_EVENTS_PER_CLIENT_PER_MINUTE = 3
    statuses = [send(visitor, {"kind": "page_view", "path": "/"}).status_code for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    assert FunnelEvent.objects.count() == 3
    response = send(visitor, {"kind": "page_view", "path": "/"})
    assert response.json()["code"] == "rate_limited" and int(response["Retry-After"]) >= 1
    other = send(visitor, {"kind": "page_view", "path": "/"}, REMOTE_ADDR="198.51.100.9")
    assert other.status_code == 204  # another client has its own count


def test_the_visitor_id_rotates_every_day_and_never_contains_the_address(visitor):
    ip = "203.0.113.77"
    request = RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER_UA)
    monday, tuesday = visitor_id(request, day=date(2025, 3, 3)), visitor_id(request, day=date(2025, 3, 4))
    assert monday != tuesday
    assert visitor_id(request, day=date(2025, 3, 3)) == monday  # stable within a day
    other = RequestFactory().get("/", REMOTE_ADDR="203.0.113.78", HTTP_USER_AGENT=BROWSER_UA)
    assert visitor_id(other, day=date(2025, 3, 3)) != monday

    send(visitor, {"kind": "page_view", "path": "/"}, REMOTE_ADDR=ip)
    stored = FunnelEvent.objects.get().visitor
    assert stored == visitor_id(request) and len(stored) == 32
    assert ip not in stored and "203" not in stored.split(".")
    assert all(ip not in str(value) for value in FunnelEvent.objects.values().get().values())

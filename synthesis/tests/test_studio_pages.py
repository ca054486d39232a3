"""The studio pages (studio, history, API keys, usage) through Django's test client."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Membership, UsageRecord, User
from accounts.services import (
    KEY_PATTERN,
    OrganizationError,
    api_key_authenticate,
    api_key_revoke,
    organization_create_personal,
)
from synthesis.models import Generation

pytestmark = pytest.mark.usefixtures("isolated_media")

PAGES = ["/studio/", "/studio/history/", "/studio/keys/", "/studio/usage/", "/studio/plan/"]
FIRST_PAINT_BUDGET = 100 * 1024


def make_generation(organization, user, text, *, voice="af_heart", source=Generation.Source.STUDIO, api_key=None):
    generation = Generation(
        organization=organization, user=user, api_key=api_key, source=source, text=text, voice=voice,
        output_format="wav", characters=len(text), content_type="audio/wav", audio_seconds=1.5,
        expires_at=timezone.now() + timedelta(days=7),
    )
    generation.audio.save("audio.wav", ContentFile(b"RIFF-fake-audio-" + text.encode()), save=False)
    generation.save()
    return generation


@pytest.fixture
def alice_client(client, cast):
    client.force_login(cast.alice)
    return client


@pytest.mark.parametrize("url", PAGES)
def test_each_page_requires_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [*PAGES, "/organizations/team/", "/accounts/email/"])
def test_each_page_renders_for_alice_with_the_studio_navigation(alice_client, url):
    response = alice_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    nav = html[html.index('aria-label="Studio"'):]
    for label in ("Studio", "History", "API keys", "Usage", "Plan", "Team"):
        assert f">{label}</a>" in nav
    if url.startswith("/studio/"):
        assert f'href="{url}" aria-current="page"' in html


def test_the_studio_offers_the_plans_formats_limit_and_the_voice_catalog(alice_client, cast):
    response = alice_client.get("/studio/")
    html = response.content.decode()
    plan = cast.org_a.plan
    assert f'data-max-chars="{plan.max_characters_per_request}"' in html
    assert f'data-left="{cast.org_a.characters_left}"' in html
    options = re.findall(r'<select id="format" name="format">(.*?)</select>', html, re.S)[0]
    assert re.findall(r'value="(\w+)"', options) == plan.allowed_formats
    assert 'value="af_heart" checked' in html
    assert 'id="v-bm_george"' in html and 'aria-label="Preview George"' in html
    assert re.search(r'<option>English \(UK\)</option>', html)


def test_the_studios_bar_holds_generate_stop_the_count_and_the_player(alice_client, cast):
    html = alice_client.get("/studio/").content.decode()
    bar = html[html.index('id="studio-bar"'):]
    bar = bar[:bar.index("</section>")]

    assert '<button id="generate"' in bar and ">Stop</button>" in bar
    limit = cast.org_a.plan.max_characters_per_request
    assert re.search(rf'<span id="count">0</span> / {limit}\b', bar)
    assert 'id="play"' in bar and 'aria-label="Play"' in bar
    # The waveform is a slider keyboard users can seek with, and the position is shown beside it.
    assert re.search(r'<canvas id="waveform"[^>]*role="slider"[^>]*aria-valuenow="0"', bar)
    assert 'id="position"' in bar and "0:00 / 0:00" in bar


def test_the_studio_lists_its_keyboard_shortcuts(alice_client):
    html = alice_client.get("/studio/").content.decode()
    shortcuts = html[html.index('<ul id="shortcuts">'):]
    shortcuts = shortcuts[:shortcuts.index("</ul>")]

    assert "<summary>Keyboard shortcuts</summary>" in html
    for keys, action in ((("Ctrl", "Enter"), "Generate"), (("Esc",), "Stop"), (("Space",), "Play or pause")):
        assert all(f"<kbd>{key}</kbd>" in shortcuts for key in keys) and action in shortcuts


def test_the_studio_keys_its_saved_form_by_the_user_and_organization(client, cast):
    client.force_login(cast.alice)
    alices = client.get("/studio/").content.decode()
    client.force_login(cast.bob)
    bobs = client.get("/studio/").content.decode()

    assert f'data-user="{cast.alice.pk}" data-organization="{cast.org_a.pk}"' in alices
    assert f'data-user="{cast.bob.pk}" data-organization="{cast.org_a.pk}"' in bobs


def test_the_studio_offers_an_ssml_checkbox(alice_client):
    html = alice_client.get("/studio/").content.decode()

    assert re.search(r'<input type="checkbox" id="ssml" name="ssml"[^>]*>\s*<label for="ssml">SSML</label>', html)


def test_the_studio_tells_an_unverified_user_why_generating_will_be_refused(client, db):
    user = User.objects.create_user(email="new@example.test", password="x")
    organization_create_personal(user=user)
    client.force_login(user)
    assert "Verify your email address to start generating" in client.get("/studio/").content.decode()


def test_a_verified_user_sees_no_such_warning(alice_client):
    assert "Verify your email address" not in alice_client.get("/studio/").content.decode()


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.urls.append(attrs["href"])


def test_the_studios_first_paint_is_under_100_kb(alice_client):
    page = alice_client.get("/studio/")
    parser = _Assets()
    parser.feed(page.content.decode())
    assert any(url.endswith("studio/studio.js") for url in parser.urls)
    assert any(url.endswith("studio/studio.css") for url in parser.urls)
    total = len(page.content)
    for url in parser.urls:
        assert url.startswith("/"), f"{url} leaves the site"
        asset = alice_client.get(url)
        assert asset.status_code == 200, url
        total += len(b"".join(asset.streaming_content) if asset.streaming else asset.content)
    assert total < FIRST_PAINT_BUDGET, f"first paint is {total} bytes"


def test_history_lists_only_the_active_organizations_items(client, cast):
    mine = make_generation(cast.org_a, cast.alice, "Hello from Acme")
    make_generation(cast.org_a, None, "Made through the API", source=Generation.Source.API,
                    api_key=ApiKey.objects.get(prefix=KEY_PATTERN.match(cast.key(cast.bob))["prefix"]))
    theirs = make_generation(cast.org_b, cast.charlie, "Globex plans")
    client.force_login(cast.alice)
    html = client.get("/studio/history/").content.decode()
    assert "Hello from Acme" in html and "Made through the API" in html
    assert "Globex plans" not in html and str(theirs.id) not in html
    assert f"/studio/history/{mine.id}/audio" in html

    client.force_login(cast.charlie)
    html = client.get("/studio/history/").content.decode()
    assert "Globex plans" in html and "Hello from Acme" not in html
    assert client.get(f"/studio/history/{mine.id}/audio").status_code == 404
    assert client.get(f"/studio/history/{mine.id}/delete").status_code == 404
    assert client.post(f"/studio/history/{mine.id}/delete").status_code == 404
    assert Generation.objects.filter(pk=mine.pk).exists()


def test_history_is_newest_first_searchable_and_filtered_by_voice_and_member(alice_client, cast):
    older = make_generation(cast.org_a, cast.alice, "The older one about cats", voice="am_adam")
    Generation.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    make_generation(cast.org_a, cast.bob, "Bob's newer one about dogs")
    html = alice_client.get("/studio/history/").content.decode()
    assert html.index("newer one about dogs") < html.index("older one about cats")
    assert "about dogs" not in alice_client.get("/studio/history/?q=CATS").content.decode()
    assert "about cats" not in alice_client.get("/studio/history/?voice=af_heart").content.decode()
    by_bob = alice_client.get(f"/studio/history/?member={cast.bob.pk}").content.decode()
    assert "about dogs" in by_bob and "about cats" not in by_bob
    # htmx asks for the results alone
    htmx = {"HX-Request": "true", "HX-Target": "history-results"}
    partial = alice_client.get("/studio/history/?q=dogs", headers=htmx)
    body = partial.content.decode()
    assert "about dogs" in body and "about cats" not in body and "<html" not in body


def test_history_is_paginated(alice_client, cast):
    for n in range(23):
        make_generation(cast.org_a, cast.alice, f"Item number {n:02d}")
    first = alice_client.get("/studio/history/").content.decode()
    assert "Page 1 of 2" in first and "23 generations" in first
    second = alice_client.get("/studio/history/?page=2").content.decode()
    assert second.count('<tr id="generation-') == 3
    searched = alice_client.get("/studio/history/?q=Item+number").content.decode()
    assert "?page=2&amp;q=Item+number" in searched


def test_history_audio_is_private_and_downloads_as_an_attachment(alice_client, cast):
    # The page's <audio> plays it all the same: a media element ignores Content-Disposition.
    generation = make_generation(cast.org_a, cast.alice, "Listen")
    response = alice_client.get(f"/studio/history/{generation.id}/audio")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"] == f'attachment; filename="voicehub-{generation.id}.wav"'
    assert b"".join(response.streaming_content) == b"RIFF-fake-audio-Listen"


def test_deleting_asks_first_then_removes_the_item_and_its_file(alice_client, cast):
    generation = make_generation(cast.org_a, cast.bob, "Delete me")
    name = generation.audio.name
    confirm = alice_client.get(f"/studio/history/{generation.id}/delete")
    assert confirm.status_code == 200 and "Yes, delete" in confirm.content.decode()
    assert Generation.objects.filter(pk=generation.pk).exists()
    response = alice_client.post(f"/studio/history/{generation.id}/delete")
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert not default_storage.exists(name)


def test_deleting_through_htmx_answers_with_the_row(alice_client, cast):
    generation = make_generation(cast.org_a, cast.alice, "Row to go")
    response = alice_client.post(f"/studio/history/{generation.id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'role="status">Deleted' in response.content.decode()


def test_creating_a_key_shows_the_secret_once_then_only_the_prefix(alice_client, cast):
    response = alice_client.post(
        "/studio/keys/", {"name": "website", "scopes": ["tts", "voices:read"], "monthly_character_cap": "5000"}
    )
    # POST/redirect/GET, and the secret is not in the URL it redirects to.
    assert response.status_code == 302 and response["Location"] == "/studio/keys/"
    response = alice_client.get(response["Location"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    html = response.content.decode()
    secret = re.search(r'<code id="secret">(vh_[^<]+)</code>', html)[1]
    assert "will not be shown again" in html
    key = api_key_authenticate(secret)
    assert key.organization == cast.org_a and key.created_by == cast.alice
    assert key.scopes == ["tts", "voices:read"] and key.monthly_character_cap == 5000
    again = alice_client.get("/studio/keys/").content.decode()
    # The list shows the public prefix only (vh_<prefix>_…); none of the 43 secret characters.
    # (The secret may itself contain "_": split on the pattern, not on underscores.)
    assert 'id="secret"' not in again and "will not be shown again" not in again
    assert KEY_PATTERN.match(secret)["secret"] not in again
    assert key.masked == f"vh_{KEY_PATTERN.match(secret)['prefix']}_…" and key.masked in again


def test_refreshing_the_page_after_creating_a_key_creates_no_second_key(alice_client, cast):
    before = cast.org_a.api_keys.count()
    response = alice_client.post("/studio/keys/", {"name": "website", "scopes": ["tts"]}, follow=True)
    assert response.redirect_chain == [("/studio/keys/", 302)]
    assert 'id="secret"' in response.content.decode()
    # What a browser's refresh repeats is the GET it was redirected to, not the POST.
    refreshed = alice_client.get(response.request["PATH_INFO"])
    assert 'id="secret"' not in refreshed.content.decode()
    assert cast.org_a.api_keys.filter(name="website").count() == 1
    assert cast.org_a.api_keys.count() == before + 1


def test_an_invalid_key_form_is_a_400_with_the_errors(alice_client):
    response = alice_client.post("/studio/keys/", {"name": "", "scopes": ["nope"]})
    assert response.status_code == 400
    assert 'id="secret"' not in response.content.decode()
    assert not ApiKey.objects.exists()


def _key_of(cast, user):
    return ApiKey.objects.get(prefix=KEY_PATTERN.match(cast.key(user))["prefix"])


def test_a_member_cannot_revoke_someone_elses_key(client, cast):
    alices = _key_of(cast, cast.alice)
    client.force_login(cast.bob)
    assert alices.masked not in client.get("/studio/keys/").content.decode()
    assert client.post(f"/studio/keys/{alices.pk}/revoke").status_code == 404
    alices.refresh_from_db()
    assert alices.revoked_at is None
    bob_membership = cast.org_a.memberships.get(user=cast.bob)
    with pytest.raises(OrganizationError):
        api_key_revoke(key=alices, actor=bob_membership)
    alices.refresh_from_db()
    assert alices.revoked_at is None


def test_a_member_revokes_their_own_key_and_an_owner_revokes_a_members(client, cast):
    bobs_first, bobs_second = _key_of(cast, cast.bob), _key_of(cast, cast.bob)
    client.force_login(cast.bob)
    confirm = client.get(f"/studio/keys/{bobs_first.pk}/revoke", headers={"HX-Request": "true"})
    assert "Yes, revoke" in confirm.content.decode() and "<html" not in confirm.content.decode()
    assert client.post(f"/studio/keys/{bobs_first.pk}/revoke").status_code == 302
    client.force_login(cast.alice)
    assert bobs_second.masked in client.get("/studio/keys/").content.decode()
    assert client.post(f"/studio/keys/{bobs_second.pk}/revoke").status_code == 302
    assert ApiKey.objects.filter(pk__in=[bobs_first.pk, bobs_second.pk], revoked_at__isnull=False).count() == 2


def test_an_outsider_cannot_revoke_an_organizations_key(client, cast):
    alices = _key_of(cast, cast.alice)
    client.force_login(cast.charlie)
    assert client.post(f"/studio/keys/{alices.pk}/revoke").status_code == 404
    with pytest.raises(OrganizationError):
        api_key_revoke(key=alices, actor=cast.org_b.memberships.get(user=cast.charlie))
    alices.refresh_from_db()
    assert alices.revoked_at is None


def test_usage_matches_the_ledger(alice_client, cast):
    org = cast.org_a
    start = timezone.now() - timedelta(days=2)
    type(org).objects.filter(pk=org.pk).update(
        period_start=start, period_end=start + timedelta(days=30), characters_used=430
    )
    org.refresh_from_db()

    def record(characters, voice, status, days_ago=0, error_code="", organization=org):
        row = UsageRecord.objects.create(
            organization=organization, user=cast.alice, voice=voice, characters=characters, status=status,
            error_code=error_code, period_start=organization.period_start, source=UsageRecord.Source.STUDIO,
        )
        UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))

    ok, refunded = UsageRecord.Status.SUCCEEDED, UsageRecord.Status.REFUNDED
    record(300, "af_heart", ok, days_ago=2)
    record(100, "am_adam", ok)
    record(30, "af_heart", ok)
    record(70, "bm_george", refunded, error_code="no_speakable_text")
    record(9999, "af_heart", ok, organization=cast.org_b)

    response = alice_client.get("/studio/usage/")
    context, html = response.context, response.content.decode()
    assert (context["used"], context["limit"]) == (430, org.plan.monthly_characters)
    days = {d["date"]: d["characters"] for d in context["days"]}
    today = timezone.now().date()
    assert days == {today - timedelta(days=2): 300, today - timedelta(days=1): 0, today: 130}
    top = [(v["voice"], v["characters"], v["requests"]) for v in context["top_voices"]]
    assert top == [("af_heart", 330, 2), ("am_adam", 100, 1)]
    assert [(e.error_code, e.characters) for e in context["errors"]] == [("no_speakable_text", 70)]
    assert f"<td>{today:%Y-%m-%d}</td><td>130</td>" in html
    assert html.count("<rect x=") == 3  # a bar per day (the quota bar is a rect too, without x)
    assert "<code>no_speakable_text</code>" in html and "9999" not in html


def _figures(html, element_id):
    return int(re.search(rf'id="{element_id}">([\d,]+)<', html)[1].replace(",", ""))


def test_after_a_grant_the_usage_page_the_studio_and_the_admin_show_the_same_limit(client, cast):
    from accounts.operator import organization_grant_characters

    org = cast.org_a
    type(org).objects.filter(pk=org.pk).update(characters_used=1000)
    staff = User.objects.create_superuser(email="ops@voicehub.test", password="correct horse battery staple")
    organization_grant_characters(actor=staff, organization=org, characters=5000)
    limit = org.plan.monthly_characters + 5000

    client.force_login(cast.alice)
    usage = client.get("/studio/usage/").content.decode()
    assert _figures(usage, "quota-limit") == limit
    studio = client.get("/studio/").content.decode()
    assert _figures(studio, "left") == limit - 1000
    client.force_login(staff)
    admin = client.get(reverse("admin:accounts_organization_overview", args=[org.pk])).content.decode()
    assert f"1000 of {limit} characters" in admin


def test_a_long_form_job_counts_one_request_on_the_usage_page(alice_client, cast, fake_engine):
    from synthesis.audio import parse_format
    from synthesis.jobs import service as jobs
    from synthesis.jobs.documents import Chapter

    chapters = [Chapter("One", "One.\nThe boats came in at dawn."), Chapter("Two", "Two.\nBy noon they were gone."),
                Chapter("Three", "Three.\nNobody saw them again.")]
    job = jobs.job_create(organization=cast.org_a, chapters=chapters, voice_id="af_heart", fmt=parse_format("wav"),
                          user=cast.alice)
    assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"
    job.refresh_from_db()
    assert job.chunks_total == 3 and UsageRecord.objects.filter(job_chunk__job=job).count() == 3
    UsageRecord.objects.create(organization=cast.org_a, user=cast.alice, voice="af_heart", characters=12,
                               status=UsageRecord.Status.SUCCEEDED, period_start=cast.org_a.period_start)

    response = alice_client.get("/studio/usage/")
    assert response.context["requests"]["n"] == 2  # the job and the single request
    assert [(v["voice"], v["requests"]) for v in response.context["top_voices"]] == [("af_heart", 2)]
    assert "2 requests this period" in response.content.decode()


def test_the_studio_plays_voice_previews_from_the_public_cached_route(client, cast):
    default_storage.save("previews/af_heart.mp3", ContentFile(b"ID3-cached-preview"))
    client.force_login(cast.bob)
    preview_url = re.search(r'data-preview-url="([^"]+)"', client.get("/studio/").content.decode()).group(1)

    response = client.get(preview_url.replace("VOICE", "af_heart"))

    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    assert response.content == b"ID3-cached-preview"
    assert client.get(preview_url.replace("VOICE", "xx_nobody")).status_code == 404


def test_the_header_switches_organizations_for_people_in_several(client, cast):
    client.force_login(cast.bob)
    assert 'id="org-switch"' not in client.get("/studio/").content.decode()
    Membership.objects.create(organization=cast.org_b, user=cast.bob, role=Membership.Role.MEMBER)
    html = client.get("/studio/").content.decode()
    assert 'id="org-switch"' in html and ">Globex</option>" in html and 'value="acme" selected' in html
    make_generation(cast.org_b, cast.charlie, "Globex plans")
    response = client.post("/organizations/switch/", {"organization": "globex", "next": "/studio/history/"})
    assert response["Location"] == "/studio/history/"
    assert "Globex plans" in client.get("/studio/history/").content.decode()

"""API keys: hashed, shown once, scoped, revocable, and the only tenant an API call has."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, Plan, UsageRecord
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def tts(client, text="Hi.", **headers):
    return client.post("/tts", data=json.dumps({"text": text}), content_type="application/json", **headers)


def test_a_key_is_shown_once_and_only_its_hash_is_stored(cast):
    new = api_key_create(organization=cast.org_a, created_by=cast.alice, name="ci")

    assert new.secret.startswith("vh_") and len(new.secret) >= 3 + 12 + 1 + 43
    row = ApiKey.objects.values().get(pk=new.key.pk)
    stored = json.dumps(row, default=str)
    assert new.secret not in stored
    assert new.secret.split("_", 2)[2] not in stored
    assert new.secret not in str(new.key) and new.secret not in repr(new.key)


def test_a_malformed_key_is_refused_without_a_database_query():
    for raw in ["", "vh_", "sk-abc", "vh_short_secret", "vh_" + "A" * 12 + "_" + "x" * 43, "x" * 10_000]:
        with CaptureQueriesContext(connection) as queries:
            assert api_key_authenticate(raw) is None
        assert len(queries) == 0, raw


def test_a_key_with_a_wrong_secret_is_refused(cast):
    secret = cast.key(cast.alice)
    tampered = secret[:-1] + ("a" if secret[-1] != "a" else "b")

    assert api_key_authenticate(tampered) is None


def test_anonymous_tts_is_401_authentication_required():
    response = tts(APIClient())

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [{"HTTP_AUTHORIZATION": "Bearer vh_nope"}, {"HTTP_AUTHORIZATION": "Basic abc"}, {"HTTP_XI_API_KEY": "nope"}])
def test_an_invalid_key_is_401(header):
    response = tts(APIClient(), **header)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


@pytest.mark.parametrize("param", ["api_key", "xi-api-key", "key"])
def test_a_key_in_the_query_string_is_refused_with_401(cast, param):
    secret = cast.key(cast.alice)

    response = APIClient().post(f"/tts?{param}={secret}", data=json.dumps({"text": "Hi."}), content_type="application/json")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_in_url"


def test_a_key_in_the_body_is_not_accepted(cast):
    secret = cast.key(cast.alice)

    response = APIClient().post("/tts", data=json.dumps({"text": "Hi.", "api_key": secret}), content_type="application/json")

    assert response.status_code == 401


def test_a_revoked_key_is_refused_on_the_next_request(cast):
    new = api_key_create(organization=cast.org_a, created_by=cast.alice, name="ci")
    assert api_key_authenticate(new.secret) is not None

    api_key_revoke(key=new.key)

    assert api_key_authenticate(new.secret) is None
    assert tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {new.secret}").status_code == 401


def test_an_expired_key_is_refused(cast):
    secret = cast.key(cast.alice, expires_at=timezone.now() - timedelta(seconds=1))

    assert tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_a_key_without_the_tts_scope_is_403(cast):
    secret = cast.key(cast.alice, scopes=["history:read"])

    response = tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_a_plan_without_api_access_refuses_keys(cast):
    Plan.objects.filter(pk=cast.org_a.plan_id).update(api_access=False)
    secret = cast.key(cast.alice)

    response = tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 403
    assert response.json()["code"] == "plan_without_api_access"


@pytest.mark.model
def test_a_call_is_charged_to_the_keys_organization_only(cast, engine):
    secret = cast.key(cast.charlie)

    response = tts(APIClient(), "Hello there.", HTTP_XI_API_KEY=secret)

    assert response.status_code == 200
    cast.org_a.refresh_from_db()
    cast.org_b.refresh_from_db()
    assert (cast.org_a.characters_used, cast.org_b.characters_used) == (0, len("Hello there."))
    record = UsageRecord.objects.get()
    assert (record.organization, record.user, record.status, record.voice) == (cast.org_b, cast.charlie, "succeeded", "af")
    assert record.api_key.organization == cast.org_b and record.audio_seconds > 0.3


@pytest.mark.model
def test_last_used_is_recorded(cast, engine):
    new = api_key_create(organization=cast.org_a, created_by=cast.alice, name="ci")

    tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {new.secret}")

    new.key.refresh_from_db()
    assert new.key.last_used_at is not None


def test_over_quota_is_402_with_the_reset_time_and_charges_nothing(cast):
    cast.org_a.characters_used = cast.org_a.plan.monthly_characters - 2
    cast.org_a.save()

    response = tts(APIClient(), "Hello.", HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "quota_exceeded" and body["resets_at"]
    assert not UsageRecord.objects.exists()


def test_over_a_keys_own_cap_is_402_key_quota_exceeded_and_charges_nothing(cast):
    secret = cast.key(cast.alice, monthly_character_cap=10)

    response = tts(APIClient(), "Hello there, more than ten.", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "key_quota_exceeded" and body["detail"] and body["resets_at"]
    assert not UsageRecord.objects.exists()
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0  # the organization's reservation was rolled back with the key's
    # The organization's other keys are not capped by it.
    assert tts(APIClient(), "Hello there, more than ten.", HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}").status_code == 200


def test_an_unknown_voice_charges_nothing(cast):
    response = APIClient().post(
        "/tts", data=json.dumps({"text": "Hi.", "voice": "nobody"}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}",
    )

    assert response.status_code == 404
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0 and not UsageRecord.objects.exists()


@pytest.mark.model
def test_text_with_nothing_to_speak_is_refused_before_anything_is_charged(cast, fake_engine):
    response = tts(APIClient(), "😀", HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")

    assert (response.status_code, response.json()["code"]) == (400, "no_speakable_text")
    cast.org_a.refresh_from_db()
    assert cast.org_a.characters_used == 0
    assert not UsageRecord.objects.exists()


def test_a_session_needs_the_csrf_token(cast):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast.alice)

    response = tts(client)

    assert response.status_code == 403


def test_the_command_prints_a_working_key_alone_on_the_last_line(capsys):
    call_command("create_api_key", "--email", "dev@example.test", "--name", "script")

    last = capsys.readouterr().out.strip().splitlines()[-1]
    key = api_key_authenticate(last)
    assert key is not None and key.name == "script"
    assert key.organization.memberships.get().user.email == "dev@example.test"
    assert key.organization.memberships.get().role == "owner"


def test_the_command_reuses_an_existing_user_and_named_organization(cast, capsys):
    call_command("create_api_key", "--email", "alice@acme.test", "--org", cast.org_a.slug, "--scopes", "tts")

    key = api_key_authenticate(capsys.readouterr().out.strip().splitlines()[-1])
    assert (key.organization, key.created_by, key.scopes) == (cast.org_a, cast.alice, ["tts"])


def test_the_command_refuses_an_organization_the_user_is_not_in(cast):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_key", "--email", "charlie@globex.test", "--org", cast.org_a.slug)


def test_an_unverified_account_gets_no_synthesis(cast):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=cast.alice).update(verified=False)

    response = tts(APIClient(), HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")

    assert response.status_code == 403
    assert response.json()["code"] == "email_unverified"


def test_an_address_verified_meanwhile_counts_from_the_next_request(cast):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=cast.alice).update(verified=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.key(cast.alice)}")
    assert client.get("/api/v1/user").json()["code"] == "email_unverified"

    EmailAddress.objects.filter(user=cast.alice).update(verified=True)

    assert client.get("/api/v1/user").status_code == 200
    EmailAddress.objects.filter(user=cast.alice).update(verified=False)
    assert client.get("/api/v1/user").status_code == 403


def test_the_admin_never_shows_a_key_secret_or_its_hash(cast, admin_client):
    new = api_key_create(organization=cast.org_a, created_by=cast.alice, name="ops")

    pages = [admin_client.get("/admin/accounts/apikey/"), admin_client.get(f"/admin/accounts/apikey/{new.key.pk}/change/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert new.secret not in html and new.key.secret_hash not in html
        assert new.key.prefix in html

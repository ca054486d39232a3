"""
A member cannot do what only owners and admins do, through any door; an admin demoted to member
loses those powers with the next request, in the same session and with the same API keys.

The role model (accounts.models.Membership, accounts.services, accounts.permissions): owners and
admins invite, change roles, remove members, resend and revoke invitations, revoke anyone's API
key, and set the webhook (the studio's forms and PUT/GET/DELETE /api/v1/webhook, whose answer
holds the signing secret). A member leaves, makes keys and revokes their own. A refusal is a 403
with the reason (the team and webhook pages, the API's `admin_required`), except another
member's key, which a member cannot see at all: 404. Nothing changes in the database.
"""

import json
from dataclasses import dataclass

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, Membership
from accounts.services import api_key_create, invitation_create
from accounts.tests.helpers import signed_in
from synthesis.models import WebhookEndpoint
from synthesis.tests.helpers import api

pytestmark = [pytest.mark.security, pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

WEBHOOK_SECRET = "whsec_acme_keep_it"


@dataclass
class Acme:
    """Organization A with something for every admin action to act on."""

    cast: object
    alice_key: ApiKey
    invitation_id: int
    webhook: WebhookEndpoint

    def membership(self, user) -> Membership:
        return self.cast.org_a.memberships.get(user=user)

    def state(self) -> tuple:
        org = self.cast.org_a
        return (
            sorted(org.memberships.values_list("user__email", "role")),
            sorted(org.invitations.values_list("email", "revoked_at", "expires_at")),
            sorted(org.api_keys.values_list("name", "revoked_at")),
            list(WebhookEndpoint.objects.filter(organization=org).values_list("url", "secret")),
            len(mail.outbox),
        )


@pytest.fixture
def acme(cast) -> Acme:
    alice = cast.org_a.memberships.get(user=cast.alice)
    invitation, _ = invitation_create(actor=alice, email="dave@acme.test", role=Membership.Role.MEMBER)
    return Acme(
        cast=cast,
        alice_key=api_key_create(organization=cast.org_a, created_by=cast.alice, name="alice's deploy key").key,
        invitation_id=invitation.pk,
        webhook=WebhookEndpoint.objects.create(organization=cast.org_a, url="https://hooks.acme.test/x", secret=WEBHOOK_SECRET),
    )


def page_action(name, *args, **data):
    def act(acme, session, key):
        return session.post(reverse(name, args=[arg(acme) if callable(arg) else arg for arg in args]), data)

    return act


def api_action(method, path, body=None, *, with_key=False):
    def act(acme, session, key):
        client = key if with_key else session
        payload = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
        return getattr(client, method)(path, **payload)

    return act


def alices_membership(acme):
    return acme.membership(acme.cast.alice).pk


def bobs_membership(acme):
    return acme.membership(acme.cast.bob).pk


def the_invitation(acme):
    return acme.invitation_id


def alices_key(acme):
    return acme.alice_key.pk


NEW_URL = {"url": "https://evil.example/hook"}
# (what an owner or admin may do, how a member tries it, the refusal)
ADMIN_ACTIONS = [
    ("invite someone", page_action("accounts:invite", email="erin@acme.test", role="member"), 403),
    ("demote the owner", page_action("accounts:member_role", alices_membership, role="member"), 403),
    ("promote oneself", page_action("accounts:member_role", bobs_membership, role="admin"), 403),
    ("remove the owner", page_action("accounts:member_remove", alices_membership), 403),
    ("resend an invitation", page_action("accounts:invitation_resend", the_invitation), 403),
    ("revoke an invitation", page_action("accounts:invitation_revoke", the_invitation), 403),
    ("revoke another member's API key", page_action("studio:key_revoke", alices_key), 404),
    ("set the webhook in the studio", page_action("studio:webhook_save", **NEW_URL), 403),
    ("rotate the webhook secret in the studio", page_action("studio:webhook_rotate"), 403),
    ("remove the webhook in the studio", page_action("studio:webhook_delete"), 403),
    ("read the webhook secret through the API, signed in", api_action("get", "/api/v1/webhook"), 403),
    ("set the webhook through the API, signed in", api_action("put", "/api/v1/webhook", NEW_URL), 403),
    ("remove the webhook through the API, signed in", api_action("delete", "/api/v1/webhook"), 403),
    ("read the webhook secret with the member's own key", api_action("get", "/api/v1/webhook", with_key=True), 403),
    ("set the webhook with the member's own key", api_action("put", "/api/v1/webhook", NEW_URL, with_key=True), 403),
    ("remove the webhook with the member's own key", api_action("delete", "/api/v1/webhook", with_key=True), 403),
]


def code_of(response) -> str | None:
    return response.json().get("code") if response.get("Content-Type", "").startswith("application/json") else None


@pytest.mark.parametrize(("action", "expected"), [(act, status) for _, act, status in ADMIN_ACTIONS],
                         ids=[name for name, _, _ in ADMIN_ACTIONS])
def test_a_member_is_refused_what_owners_and_admins_do_and_nothing_changes(acme, action, expected):
    cast = acme.cast
    bob_session, bob_key = signed_in(cast.bob), api(cast.key(cast.bob))
    before = acme.state()

    response = action(acme, bob_session, bob_key)

    assert response.status_code == expected, response.content[:300]
    assert WEBHOOK_SECRET not in response.content.decode()
    if response["Content-Type"].startswith("application/json"):
        assert code_of(response) == "admin_required"
    assert acme.state() == before


def test_an_admin_demoted_to_member_loses_the_powers_with_the_next_request(acme):
    cast = acme.cast
    bob = acme.membership(cast.bob)
    bob.role = Membership.Role.ADMIN
    bob.save()
    bob_session, bob_key = signed_in(cast.bob), api(cast.key(cast.bob))  # a session and a key of an admin
    rotate = page_action("studio:webhook_rotate")
    as_admin = {
        "invite": page_action("accounts:invite", email="erin@acme.test", role="member")(acme, bob_session, bob_key).status_code,
        "webhook, session": api_action("get", "/api/v1/webhook")(acme, bob_session, bob_key).status_code,
        "webhook, key": api_action("get", "/api/v1/webhook", with_key=True)(acme, bob_session, bob_key).status_code,
        "rotate": rotate(acme, bob_session, bob_key).status_code,
    }
    assert as_admin == {"invite": 302, "webhook, session": 200, "webhook, key": 200, "rotate": 200}

    demoted = signed_in(cast.alice).post(reverse("accounts:member_role", args=[bob.pk]), {"role": "member"})
    assert demoted.status_code == 302 and acme.membership(cast.bob).role == Membership.Role.MEMBER
    before = acme.state()

    as_member = {
        "invite": page_action("accounts:invite", email="frank@acme.test", role="member")(acme, bob_session, bob_key).status_code,
        "webhook, session": api_action("get", "/api/v1/webhook")(acme, bob_session, bob_key).status_code,
        "webhook, key": api_action("get", "/api/v1/webhook", with_key=True)(acme, bob_session, bob_key).status_code,
        "rotate": rotate(acme, bob_session, bob_key).status_code,
        "revoke alice's key": page_action("studio:key_revoke", alices_key)(acme, bob_session, bob_key).status_code,
    }
    assert as_member == {"invite": 403, "webhook, session": 403, "webhook, key": 403, "rotate": 403, "revoke alice's key": 404}
    assert acme.state() == before


def test_a_member_still_does_what_members_do(acme):
    cast = acme.cast
    bob_session = signed_in(cast.bob)
    own = api_key_create(organization=cast.org_a, created_by=cast.bob, name="bob's key").key

    assert bob_session.post(reverse("studio:keys"), {"name": "another", "scopes": ApiKey.Scope.values}).status_code == 302
    assert bob_session.post(reverse("studio:key_revoke", args=[own.pk])).status_code == 302
    assert bob_session.get("/api/v1/webhooks/deliveries").status_code == 200
    own.refresh_from_db()
    assert own.revoked_at is not None

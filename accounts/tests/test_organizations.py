"""Organizations: invitations by email, roles, removing and leaving, and switching the active one."""

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, User
from accounts.services import (
    OrganizationError,
    invitation_accept,
    invitation_create,
    invitation_token,
)
from accounts.tenancy import SESSION_KEY, active_membership

pytestmark = pytest.mark.django_db

LINK_IN_MAIL = re.compile(r"https?://testserver(/organizations/invitations/[^/\s]+/accept/)")


def verified_user(email, name=""):
    user = User.objects.create_user(email=email, password="correct horse battery staple", name=name)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def membership(user, organization):
    return Membership.objects.get(user=user, organization=organization)


def logged_in(client, user):
    client.force_login(user)
    return client


def post(client, name, *args, follow=True, **data):
    return client.post(reverse(f"accounts:{name}", args=args), data, follow=follow)


def page_text(response) -> str:
    from html import unescape

    return unescape(response.content.decode())


def invite(cast, email="dave@acme.test", role=Membership.Role.MEMBER):
    """Alice invites `email` into Acme; the invitation and its token."""
    return invitation_create(actor=membership(cast.alice, cast.org_a), email=email, role=role)


def active_membership_of(client, user):
    request = RequestFactory().get("/")
    request.user = user
    request.session = client.session
    return active_membership(request)


# --- Inviting and accepting ------------------------------------------------------


def test_alice_invites_by_email_and_the_invitee_accepts_and_becomes_a_member_with_that_role(cast, client, mailoutbox):
    response = post(logged_in(client, cast.alice), "invite", email="Dave@Acme.test", role="admin")

    assert "Invitation sent to dave@acme.test" in page_text(response)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["dave@acme.test"]
    assert "Acme" in message.subject
    link = LINK_IN_MAIL.search(message.body)[1]

    dave = verified_user("dave@acme.test", "Dave")
    client.force_login(dave)
    page = client.get(link)
    assert page.status_code == 200
    assert "Join Acme" in page_text(page)

    response = client.post(link, follow=True)

    assert response.redirect_chain[-1][0] == reverse("accounts:team")
    assert membership(dave, cast.org_a).role == Membership.Role.ADMIN
    assert active_membership_of(client, dave).organization == cast.org_a
    invitation = cast.org_a.invitations.get()
    assert invitation.accepted_by == dave and invitation.accepted_at is not None


def test_an_invitee_must_sign_in_first_and_comes_back_to_the_invitation(cast, client):
    _, token = invite(cast)
    link = reverse("accounts:invitation_accept", args=[token])

    response = client.get(link)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=" in response["Location"]


# --- A logged-out invitee -------------------------------------------------------------------------

SIGNUP_PASSWORD = "a long enough passphrase 9"
CONFIRM_LINK = re.compile(r"https?://testserver(/accounts/confirm-email/\S+)")


def test_a_logged_out_invitee_is_told_who_invited_them_to_what_on_the_login_page(cast, client):
    _, token = invite(cast)

    response = client.get(reverse("accounts:invitation_accept", args=[token]), follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    text = page_text(response)
    assert "Alice invited dave@acme.test to join Acme on Voicehub as member." in re.sub(r"<[^>]+>", "", text)
    assert "Log in with dave@acme.test to accept." in text
    assert 'value="dave@acme.test"' in text  # the login is filled in with the invited address


def test_the_sign_up_page_reached_from_an_invitation_tells_it_and_locks_the_invited_address(cast, client):
    _, token = invite(cast)
    login = client.get(reverse("accounts:invitation_accept", args=[token]), follow=True)
    signup_url = re.search(r'<a href="(/accounts/signup/[^"]*)">Sign up with that address</a>', page_text(login))[1]

    signup = page_text(client.get(signup_url.replace("&amp;", "&")))

    assert "invited <strong>dave@acme.test</strong> to join <strong>Acme</strong>" in signup
    email_input = re.search(r'<input[^>]*name="email"[^>]*>', signup)[0]
    assert 'value="dave@acme.test"' in email_input and "readonly" in email_input
    # The lock holds on the server too: another address is refused with the reason.
    other = client.post(signup_url.replace("&amp;", "&"),
                        {"email": "eve@example.com", "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD})
    assert other.status_code == 200 and "This invitation is for dave@acme.test" in page_text(other)
    assert not User.objects.filter(email="eve@example.com").exists()


def test_an_invitee_who_signs_up_comes_back_to_the_invitation_once_their_address_is_confirmed(cast, client, mailoutbox):
    _, token = invite(cast)
    accept = reverse("accounts:invitation_accept", args=[token])
    client.get(accept)
    mailoutbox.clear()

    # Through the header's "Sign up" (no `next`): the invitation waits in the session all the same.
    response = client.post(reverse("account_signup"),
                           {"email": "dave@acme.test", "password1": SIGNUP_PASSWORD, "password2": SIGNUP_PASSWORD})
    assert response["Location"] == reverse("account_email_verification_sent")
    confirmed = client.post(CONFIRM_LINK.search(mailoutbox[0].body)[1])

    assert confirmed.status_code == 302 and confirmed["Location"] == accept
    joined = client.post(accept, follow=True)
    assert joined.redirect_chain[-1][0] == reverse("accounts:team")
    dave = User.objects.get(email="dave@acme.test")
    assert membership(dave, cast.org_a).role == Membership.Role.MEMBER
    # Accepted: the next login goes where logins go, not back to a used invitation.
    client.logout()
    again = client.post(reverse("account_login"), {"login": "dave@acme.test", "password": SIGNUP_PASSWORD})
    assert again["Location"] == "/studio/"


def test_an_invitee_with_an_account_logs_in_and_comes_back_to_accept(cast, client):
    _, token = invite(cast)
    verified_user("dave@acme.test")
    accept = reverse("accounts:invitation_accept", args=[token])
    client.get(accept)

    # Even without the login page's `next` (a login opened in another tab), the invitation waits in the session.
    response = client.post(reverse("account_login"), {"login": "dave@acme.test", "password": "correct horse battery staple"})

    assert response.status_code == 302 and response["Location"] == accept
    assert "Join Acme" in page_text(client.get(accept))


@pytest.mark.parametrize(
    "how, reason",
    [
        ("garbage", "This invitation link is not valid; check that it was copied whole."),
        ("expired", "This invitation link has expired; ask for a new one."),
        ("revoked", "This invitation was withdrawn; ask for a new one."),
    ],
)
def test_a_logged_out_visitor_with_a_dead_invitation_link_gets_a_clear_page(cast, client, how, reason):
    invitation, token = invite(cast)
    if how == "garbage":
        token = "not-a-token"
    elif how == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    else:
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())

    response = client.get(reverse("accounts:invitation_accept", args=[token]))

    assert response.status_code == 400
    text = page_text(response)
    assert "This invitation cannot be used" in text and reason in text
    assert f'href="{reverse("account_login")}"' in text
    assert "Acme" not in text and "dave@acme.test" not in text
    # Nothing of it waits for the login page.
    assert "invited" not in page_text(client.get(reverse("account_login")))


def test_an_expired_invitation_cannot_be_accepted(cast, client):
    invitation, token = invite(cast)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    dave = verified_user("dave@acme.test")

    response = logged_in(client, dave).post(reverse("accounts:invitation_accept", args=[token]))

    assert response.status_code == 400
    assert "expired" in page_text(response)
    assert not cast.org_a.memberships.filter(user=dave).exists()


def test_a_link_signed_more_than_seven_days_ago_is_expired_even_if_the_row_is_not(cast):
    invitation, _ = invite(cast)
    with mock.patch("django.core.signing.time.time", return_value=time.time() - timedelta(days=7, minutes=1).total_seconds()):
        old_token = invitation_token(invitation)
    dave = verified_user("dave@acme.test")

    with pytest.raises(OrganizationError) as refused:
        invitation_accept(user=dave, token=old_token)

    assert refused.value.code == "expired"
    assert not cast.org_a.memberships.filter(user=dave).exists()


def test_a_tampered_token_is_refused(cast, client):
    _, token = invite(cast)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    dave = verified_user("dave@acme.test")

    response = logged_in(client, dave).post(reverse("accounts:invitation_accept", args=[tampered]))

    assert response.status_code == 400
    assert "not valid" in page_text(response)
    assert not cast.org_a.memberships.filter(user=dave).exists()


def test_a_revoked_invitation_cannot_be_accepted(cast, client):
    invitation, token = invite(cast)
    post(logged_in(client, cast.alice), "invitation_revoke", invitation.pk)
    dave = verified_user("dave@acme.test")

    response = logged_in(client, dave).post(reverse("accounts:invitation_accept", args=[token]))

    assert response.status_code == 400
    assert "withdrawn" in page_text(response)
    assert not cast.org_a.memberships.filter(user=dave).exists()


def test_an_invitation_can_be_used_only_once(cast, client):
    _, token = invite(cast)
    dave = verified_user("dave@acme.test")
    link = reverse("accounts:invitation_accept", args=[token])
    logged_in(client, dave).post(link)

    response = client.post(link)

    assert response.status_code == 400
    assert "already been used" in page_text(response)
    assert cast.org_a.memberships.filter(user=dave).count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_user_with_another_email_cannot_accept_nor_see_the_invitation(cast, client, method):
    _, token = invite(cast, email="dave@acme.test")

    response = getattr(logged_in(client, cast.charlie), method)(reverse("accounts:invitation_accept", args=[token]))

    assert response.status_code == 404
    assert "This invitation is not for charlie@globex.test" in page_text(response)
    assert "dave@acme.test" not in page_text(response) and "Acme" not in page_text(response)
    assert not cast.org_a.memberships.filter(user=cast.charlie).exists()


def test_an_unverified_address_cannot_accept(cast, client):
    _, token = invite(cast, email="dave@acme.test")
    dave = User.objects.create_user(email="dave@acme.test", password="x")
    EmailAddress.objects.create(user=dave, email=dave.email, verified=False, primary=True)

    response = logged_in(client, dave).post(reverse("accounts:invitation_accept", args=[token]))

    assert response.status_code == 400
    assert not cast.org_a.memberships.filter(user=dave).exists()


def test_re_inviting_replaces_the_pending_invitation_and_its_link(cast, client):
    first, first_token = invite(cast, role="member")
    second, second_token = invite(cast, role="admin")
    dave = verified_user("dave@acme.test")
    logged_in(client, dave)

    assert client.post(reverse("accounts:invitation_accept", args=[first_token])).status_code == 400
    client.post(reverse("accounts:invitation_accept", args=[second_token]))

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert membership(dave, cast.org_a).role == Membership.Role.ADMIN


def test_inviting_an_existing_member_is_an_error(cast, client, mailoutbox):
    response = post(logged_in(client, cast.alice), "invite", email="BOB@acme.test", role="member")

    assert "bob@acme.test is already a member of Acme" in page_text(response)
    assert not cast.org_a.invitations.exists()
    assert mailoutbox == []


def test_nobody_can_be_invited_as_owner(cast, client):
    response = post(logged_in(client, cast.alice), "invite", email="dave@acme.test", role="owner")

    assert "Role:" in page_text(response)
    assert not cast.org_a.invitations.exists()
    with pytest.raises(OrganizationError):
        invite(cast, role="owner")


def test_resending_mails_a_fresh_link_that_works(cast, client, mailoutbox):
    invitation, _ = invite(cast)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))

    post(logged_in(client, cast.alice), "invitation_resend", invitation.pk)

    assert len(mailoutbox) == 2
    link = LINK_IN_MAIL.search(mailoutbox[1].body)[1]
    dave = verified_user("dave@acme.test")
    logged_in(client, dave).post(link)
    assert membership(dave, cast.org_a).role == Membership.Role.MEMBER


# --- Who may do what ----------------------------------------------------------


def test_bob_the_member_cannot_invite(cast, client, mailoutbox):
    response = post(logged_in(client, cast.bob), "invite", email="dave@acme.test", role="member")

    assert "Only owners and admins can invite" in page_text(response)
    assert not cast.org_a.invitations.exists()
    assert mailoutbox == []


def test_bob_the_member_sees_no_invite_form(cast, client):
    response = logged_in(client, cast.bob).get(reverse("accounts:team"))

    assert response.status_code == 200
    assert reverse("accounts:invite") not in page_text(response)


def test_bob_the_member_cannot_resend_or_revoke_invitations(cast, client, mailoutbox):
    invitation, _ = invite(cast)
    logged_in(client, cast.bob)

    post(client, "invitation_resend", invitation.pk)
    post(client, "invitation_revoke", invitation.pk)

    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert len(mailoutbox) == 1


def test_bob_the_member_cannot_change_roles(cast, client):
    response = post(logged_in(client, cast.bob), "member_role", membership(cast.bob, cast.org_a).pk, role="owner")

    assert "Only owners and admins can change roles" in page_text(response)
    assert membership(cast.bob, cast.org_a).role == Membership.Role.MEMBER
    assert membership(cast.alice, cast.org_a).role == Membership.Role.OWNER


def test_bob_the_member_cannot_remove_anyone(cast, client):
    response = post(logged_in(client, cast.bob), "member_remove", membership(cast.alice, cast.org_a).pk)

    assert "Only owners and admins can remove" in page_text(response)
    assert cast.org_a.memberships.count() == 2


def test_an_admin_cannot_demote_or_remove_an_owner_nor_make_one(cast, client):
    Membership.objects.filter(user=cast.bob, organization=cast.org_a).update(role=Membership.Role.ADMIN)
    alice = membership(cast.alice, cast.org_a)
    logged_in(client, cast.bob)

    demoted = post(client, "member_role", alice.pk, role="member")
    removed = post(client, "member_remove", alice.pk)
    promoted = post(client, "member_role", membership(cast.bob, cast.org_a).pk, role="owner")

    assert "Only an owner can change an owner" in page_text(demoted)
    assert "Only an owner can remove an owner" in page_text(removed)
    assert "Only an owner can make someone an owner" in page_text(promoted)
    assert membership(cast.alice, cast.org_a).role == Membership.Role.OWNER
    assert membership(cast.bob, cast.org_a).role == Membership.Role.ADMIN


def test_an_admin_can_invite_and_manage_members(cast, client, mailoutbox):
    Membership.objects.filter(user=cast.bob, organization=cast.org_a).update(role=Membership.Role.ADMIN)
    dave = verified_user("dave@acme.test")
    dave_membership = Membership.objects.create(organization=cast.org_a, user=dave, role=Membership.Role.MEMBER)
    logged_in(client, cast.bob)

    post(client, "invite", email="erin@acme.test", role="admin")
    post(client, "member_role", dave_membership.pk, role="admin")
    assert membership(dave, cast.org_a).role == Membership.Role.ADMIN
    post(client, "member_remove", dave_membership.pk)

    assert not cast.org_a.memberships.filter(user=dave).exists()
    assert cast.org_a.invitations.pending().get().email == "erin@acme.test"
    assert len(mailoutbox) == 1


def test_the_last_owner_cannot_leave_be_demoted_or_be_removed(cast, client):
    alice = membership(cast.alice, cast.org_a)
    logged_in(client, cast.alice)

    left = post(client, "leave")
    demoted = post(client, "member_role", alice.pk, role="admin")
    removed = post(client, "member_remove", alice.pk)

    assert "You are the last owner" in page_text(left)
    assert "An organization needs an owner" in page_text(demoted)
    assert "The last owner cannot be removed" in page_text(removed)
    assert membership(cast.alice, cast.org_a).role == Membership.Role.OWNER


def test_a_sole_owner_is_not_offered_leave_and_is_told_why(cast, client):
    logged_in(client, cast.alice)
    page = client.get(reverse("accounts:team")).content.decode()

    assert f'action="{reverse("accounts:leave")}"' not in page and "Leave Acme</button>" not in page
    assert "You are the only owner of Acme, so you cannot leave it" in page_text(client.get(reverse("accounts:team")))
    assert "Make another member an owner first" in page

    post(client, "member_role", membership(cast.bob, cast.org_a).pk, role="owner")
    page = client.get(reverse("accounts:team")).content.decode()
    assert f'action="{reverse("accounts:leave")}"' in page and "Leave Acme</button>" in page
    assert "only owner" not in page


def test_a_member_is_offered_leave(cast, client):
    logged_in(client, cast.bob)
    page = client.get(reverse("accounts:team")).content.decode()
    assert "Leave Acme</button>" in page and "only owner" not in page


def test_the_last_owner_can_leave_after_promoting_another_owner(cast, client):
    logged_in(client, cast.alice)
    post(client, "member_role", membership(cast.bob, cast.org_a).pk, role="owner")

    response = post(client, "leave")

    assert "You left Acme" in page_text(response)
    assert not cast.org_a.memberships.filter(user=cast.alice).exists()
    assert membership(cast.bob, cast.org_a).role == Membership.Role.OWNER


def test_an_owner_can_demote_and_remove_another_owner(cast, client):
    Membership.objects.filter(user=cast.bob, organization=cast.org_a).update(role=Membership.Role.OWNER)
    bob = membership(cast.bob, cast.org_a)
    logged_in(client, cast.alice)

    post(client, "member_role", bob.pk, role="admin")
    assert membership(cast.bob, cast.org_a).role == Membership.Role.ADMIN
    post(client, "member_remove", bob.pk)

    assert not cast.org_a.memberships.filter(user=cast.bob).exists()


def test_bob_the_member_can_leave(cast, client):
    logged_in(client, cast.bob)

    post(client, "leave")

    assert not cast.org_a.memberships.filter(user=cast.bob).exists()
    assert active_membership_of(client, cast.bob) is None


# --- Tenant scope: charlie is refused -------------------------------------------


@pytest.mark.parametrize("name", ["member_role", "member_remove"])
def test_charlie_gets_404_for_memberships_of_acme(cast, client, name):
    alice = membership(cast.alice, cast.org_a)

    response = post(logged_in(client, cast.charlie), name, alice.pk, follow=False, role="member")

    assert response.status_code == 404
    assert cast.org_a.memberships.filter(pk=alice.pk, role=Membership.Role.OWNER).exists()


@pytest.mark.parametrize("name", ["invitation_resend", "invitation_revoke"])
def test_charlie_gets_404_for_invitations_of_acme(cast, client, mailoutbox, name):
    invitation, _ = invite(cast)

    response = post(logged_in(client, cast.charlie), name, invitation.pk, follow=False)

    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert len(mailoutbox) == 1


def test_charlie_cannot_switch_to_acme(cast, client):
    response = post(logged_in(client, cast.charlie), "switch", follow=False, organization=cast.org_a.slug)

    assert response.status_code == 404
    assert active_membership_of(client, cast.charlie).organization == cast.org_b


def test_charlies_team_page_shows_only_globex(cast, client):
    response = logged_in(client, cast.charlie).get(reverse("accounts:team"))

    assert "Globex team" in page_text(response)
    assert "alice@acme.test" not in page_text(response)
    assert "Acme" not in page_text(response)


# --- Switching ------------------------------------------------------------------


def test_a_user_in_two_organizations_switches_the_active_one(cast, client):
    Membership.objects.create(organization=cast.org_b, user=cast.bob, role=Membership.Role.MEMBER)
    logged_in(client, cast.bob)
    assert active_membership_of(client, cast.bob).organization == cast.org_a

    response = post(client, "switch", organization=cast.org_b.slug)

    assert "You are now working in Globex" in page_text(response)
    assert client.session[SESSION_KEY] == cast.org_b.id
    assert active_membership_of(client, cast.bob).organization == cast.org_b
    assert "Globex team" in page_text(client.get(reverse("accounts:team")))

    post(client, "switch", organization=cast.org_a.slug)
    assert active_membership_of(client, cast.bob).organization == cast.org_a


def test_the_organization_list_marks_the_active_one_and_offers_the_others(cast, client):
    Membership.objects.create(organization=cast.org_b, user=cast.bob, role=Membership.Role.MEMBER)

    text = page_text(logged_in(client, cast.bob).get(reverse("accounts:organizations")))

    assert "Active" in text
    assert "Switch to Globex" in text
    assert "Switch to Acme" not in text


# --- Pages ----------------------------------------------------------------------


def test_every_page_renders_for_alice(cast, client):
    _, token = invite(cast)
    logged_in(client, cast.alice)

    for url in [
        reverse("accounts:organizations"),
        reverse("accounts:team"),
        reverse("accounts:invitation_accept", args=[token]),
    ]:
        assert client.get(url).status_code == 200, url
    team = page_text(client.get(reverse("accounts:team")))
    assert "bob@acme.test" in team and "dave@acme.test" in team and "csrfmiddlewaretoken" in team


@pytest.mark.parametrize(
    "method,name,args",
    [
        ("get", "organizations", []),
        ("get", "team", []),
        ("post", "switch", []),
        ("post", "invite", []),
        ("post", "leave", []),
        ("post", "member_role", [1]),
        ("post", "member_remove", [1]),
        ("post", "invitation_resend", [1]),
        ("post", "invitation_revoke", [1]),
    ],
)
def test_anonymous_users_are_sent_to_log_in(client, method, name, args):
    response = getattr(client, method)(reverse(f"accounts:{name}", args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_get_on_an_action_is_refused(cast, client):
    response = logged_in(client, cast.alice).get(reverse("accounts:leave"))

    assert response.status_code == 405
    assert cast.org_a.memberships.filter(user=cast.alice).exists()

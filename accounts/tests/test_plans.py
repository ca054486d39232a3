"""Plans: the plan chosen on /pricing carried through sign-up, the studio's Plan page, the operator's
approve and decline in the admin, and the billing provider seam."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts import billing, operator
from accounts.models import AuditLog, Membership, Plan, UpgradeRequest, User
from accounts.services import OrganizationError, upgrade_request_create
from accounts.tests.helpers import signed_in

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
PASSWORD = "correct horse battery staple 7"


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    # allauth counts sign-ups per address in the default cache: a private one per test.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "plans-tests"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def visitor(client):
    client.defaults["HTTP_USER_AGENT"] = BROWSER_UA
    return client


@pytest.fixture
def staff(db):
    user = User.objects.create_user(email="ops@voicehub.test", password=PASSWORD, is_staff=True, is_superuser=True)
    return signed_in(user), user


def plan(slug):
    return Plan.objects.get(slug=slug)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def sign_up(client, email):
    return client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def pending_request(cast, slug="starter"):
    return upgrade_request_create(organization=cast.org_a, user=cast.alice, plan=plan(slug))


# -- pricing → sign-up ------------------------------------------------------------------------------------


def test_choose_starter_on_pricing_leads_to_a_signup_that_names_the_plan_and_the_policy(visitor, db):
    pricing = visitor.get("/pricing").content.decode()
    link = re.search(r'href="(/accounts/signup/\?plan=starter[^"]*)"', pricing)
    assert link, "the Starter card links to the sign-up with its plan"
    page = text(visitor.get(link.group(1).replace("&amp;", "&")))
    assert 'id="signup-plan"' in page and "<strong>Starter</strong>" in page
    assert "keeps its current plan (Free, for a new account)" in page


def test_signing_up_after_choosing_starter_starts_on_free_with_a_pending_request_for_starter(visitor, db):
    visitor.get("/accounts/signup/?plan=starter")
    assert sign_up(visitor, "newcomer@example.com").status_code == 302
    organization = User.objects.get(email="newcomer@example.com").organizations.get()
    assert organization.plan.slug == "free"
    upgrade = organization.upgrade_requests.get()
    assert (upgrade.plan.slug, upgrade.status, upgrade.requested_by.email) == ("starter", "pending", "newcomer@example.com")
    assert AuditLog.objects.filter(organization=organization, action=AuditLog.Action.REQUEST_UPGRADE).count() == 1
    # The choice is used once: the next sign-up in this browser asks for nothing.
    sign_up(visitor, "second@example.com")
    assert not User.objects.get(email="second@example.com").organizations.get().upgrade_requests.exists()


def test_signing_up_on_free_makes_no_request(visitor, db):
    visitor.get("/accounts/signup/?plan=free")
    sign_up(visitor, "thrifty@example.com")
    assert not UpgradeRequest.objects.exists()


def test_an_unknown_plan_is_ignored_with_a_note_and_replaces_an_earlier_choice(visitor, db):
    visitor.get("/accounts/signup/?plan=starter")
    response = visitor.get("/accounts/signup/?plan=platinum<b>")
    assert response.status_code == 200
    page = text(response)
    assert 'id="signup-plan-unknown"' in page and "platinum&lt;b&gt;" in page and "starts on the Free plan" in page
    sign_up(visitor, "curious@example.com")
    organization = User.objects.get(email="curious@example.com").organizations.get()
    assert organization.plan.slug == "free" and not organization.upgrade_requests.exists()


# -- the studio's Plan page -------------------------------------------------------------------------------


def test_the_plan_page_shows_the_plan_and_its_limits(cast):
    page = text(signed_in(cast.bob).get(reverse("studio:plan")))
    assert '<span id="current-plan">Free</span>' in page and "10,000" in page
    assert 'id="upgrade-read-only"' in page and 'id="upgrade-form"' not in page


def test_an_owner_requests_an_upgrade_and_sees_it_pending(cast):
    alice = signed_in(cast.alice)
    assert 'id="upgrade-form"' in text(alice.get(reverse("studio:plan")))
    response = alice.post(reverse("studio:plan"), {"plan": "starter", "note": "Invoice to Acme Ltd."})
    assert response.status_code == 302
    upgrade = cast.org_a.upgrade_requests.get()
    assert (upgrade.plan.slug, upgrade.status, upgrade.note) == ("starter", "pending", "Invoice to Acme Ltd.")
    page = text(alice.get(reverse("studio:plan")))
    assert 'id="pending-request"' in page and "<strong>Starter</strong>" in page and "Cancel the request" in page
    cast.org_a.refresh_from_db()
    assert cast.org_a.plan.slug == "free"


def test_a_second_request_while_one_is_pending_is_refused_with_a_reason(cast):
    pending_request(cast)
    response = signed_in(cast.alice).post(reverse("studio:plan"), {"plan": "pro"}, follow=True)
    assert "You already asked for the Starter plan" in text(response)
    assert list(cast.org_a.upgrade_requests.values_list("plan__slug", flat=True)) == ["starter"]


def test_a_plan_that_is_not_higher_is_not_offered(cast):
    operator.organization_change_plan(actor=None, organization=cast.org_a, plan=plan("pro"))
    response = signed_in(cast.alice).post(reverse("studio:plan"), {"plan": "starter"})
    assert response.status_code == 400 and not cast.org_a.upgrade_requests.exists()
    with pytest.raises(OrganizationError, match="not a higher plan"):
        upgrade_request_create(organization=cast.org_a, user=cast.alice, plan=plan("starter"))


def test_a_member_cannot_request_an_upgrade_nor_cancel_one(cast):
    bob = signed_in(cast.bob)
    assert bob.post(reverse("studio:plan"), {"plan": "starter"}).status_code == 403
    assert not cast.org_a.upgrade_requests.exists()
    upgrade = pending_request(cast)
    assert bob.post(reverse("studio:plan_cancel", args=[upgrade.pk])).status_code == 403
    upgrade.refresh_from_db()
    assert upgrade.status == "pending"


def test_an_owner_cancels_the_pending_request(cast):
    upgrade = pending_request(cast)
    response = signed_in(cast.alice).post(reverse("studio:plan_cancel", args=[upgrade.pk]), follow=True)
    assert "was cancelled" in text(response)
    upgrade.refresh_from_db()
    assert upgrade.status == "cancelled" and upgrade.decided_by == cast.alice
    assert AuditLog.objects.filter(organization=cast.org_a, action=AuditLog.Action.CANCEL_UPGRADE).exists()


def test_another_organizations_request_is_a_404(cast):
    upgrade = pending_request(cast)
    assert signed_in(cast.charlie).post(reverse("studio:plan_cancel", args=[upgrade.pk])).status_code == 404
    upgrade.refresh_from_db()
    assert upgrade.status == "pending"
    assert 'id="pending-request"' not in text(signed_in(cast.charlie).get(reverse("studio:plan")))


# -- the operator, in the admin ---------------------------------------------------------------------------


def admin_action(client, action, *upgrades):
    return client.post(
        "/admin/accounts/upgraderequest/",
        {"action": action, "_selected_action": [str(u.pk) for u in upgrades], "index": "0"},
        follow=True,
    )


def test_the_admin_lists_pending_requests_first(cast, staff):
    client, _ = staff
    old = pending_request(cast)
    UpgradeRequest.objects.filter(pk=old.pk).update(status="declined")
    newer_declined = upgrade_request_create(organization=cast.org_a, user=cast.alice, plan=plan("pro"))
    UpgradeRequest.objects.filter(pk=newer_declined.pk).update(status="declined")
    pending = upgrade_request_create(organization=cast.org_b, user=cast.charlie, plan=plan("starter"))
    UpgradeRequest.objects.filter(pk=pending.pk).update(created_at=old.created_at.replace(year=2020))
    page = client.get("/admin/accounts/upgraderequest/").content.decode()
    rows = re.findall(r'name="_selected_action" value="(\d+)"', page)
    assert rows[0] == str(pending.pk) and len(rows) == 3


def test_approving_in_the_admin_changes_the_plan_and_audits_it_and_twice_is_harmless(cast, staff):
    client, ops = staff
    upgrade = pending_request(cast)
    assert "1 request approved" in text(admin_action(client, "approve", upgrade))
    cast.org_a.refresh_from_db()
    upgrade.refresh_from_db()
    assert cast.org_a.plan.slug == "starter"
    assert (upgrade.status, upgrade.decided_by) == ("approved", ops)
    audit = AuditLog.objects.get(organization=cast.org_a, action=AuditLog.Action.CHANGE_PLAN)
    assert (audit.actor, audit.before, audit.after) == (ops, {"plan": "free"}, {"plan": "starter", "upgrade_request": upgrade.pk})

    assert "already approved" in text(admin_action(client, "approve", upgrade))
    assert AuditLog.objects.filter(organization=cast.org_a, action=AuditLog.Action.CHANGE_PLAN).count() == 1


def test_the_admin_front_page_leads_to_the_pending_requests(staff):
    client, _ = staff
    assert "/admin/accounts/upgraderequest/?status__exact=pending" in text(client.get("/admin/"))


def test_the_organization_overview_links_its_pending_request(cast, staff):
    client, _ = staff
    pending_request(cast)
    page = text(client.get(reverse("admin:accounts_organization_overview", args=[cast.org_a.pk])))
    assert "requested: Starter" in page and "/admin/accounts/upgraderequest/?status__exact=pending" in page


def test_declining_leaves_the_plan(cast, staff):
    client, ops = staff
    upgrade = pending_request(cast)
    assert "1 request declined" in text(admin_action(client, "decline", upgrade))
    cast.org_a.refresh_from_db()
    upgrade.refresh_from_db()
    assert cast.org_a.plan.slug == "free" and upgrade.status == "declined"
    assert AuditLog.objects.filter(organization=cast.org_a, action=AuditLog.Action.DECLINE_UPGRADE, actor=ops).exists()


def test_a_cancelled_request_cannot_be_approved(cast, staff):
    client, _ = staff
    upgrade = pending_request(cast)
    signed_in(cast.alice).post(reverse("studio:plan_cancel", args=[upgrade.pk]))
    assert "cancelled; it cannot be approved" in text(admin_action(client, "approve", upgrade))
    cast.org_a.refresh_from_db()
    assert cast.org_a.plan.slug == "free"
    assert not AuditLog.objects.filter(action=AuditLog.Action.CHANGE_PLAN).exists()


def test_staff_without_the_organization_change_permission_are_not_offered_approve(cast, db):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(email="viewer@voicehub.test", password=PASSWORD, is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_upgraderequest", "change_upgraderequest"]))
    upgrade = pending_request(cast)
    response = admin_action(signed_in(viewer), "approve", upgrade)
    assert response.status_code == 200
    upgrade.refresh_from_db()
    assert upgrade.status == "pending"


# -- the billing provider seam ----------------------------------------------------------------------------


class CheckoutProvider:
    """A provider that sends the person to a checkout page (as a Stripe provider would)."""

    name = "checkout"
    how_it_works = "You pay on the next page."

    def start_upgrade(self, *, organization, plan, user, note=""):
        request = upgrade_request_create(organization=organization, user=user, plan=plan, note=note)
        return billing.UpgradeStart(request=request, checkout_url=f"https://pay.example/session/{request.pk}")

    def handle_event(self, *, payload, signature):
        raise billing.BillingError("not in this test")


def test_the_default_provider_is_manual_approval(settings):
    assert settings.VOICEHUB_BILLING_PROVIDER == "accounts.billing.ManualApproval"
    assert isinstance(billing.get_provider(), billing.ManualApproval)
    with pytest.raises(billing.BillingError):
        billing.get_provider().handle_event(payload=b"{}", signature="")


def test_the_setting_selects_the_provider_and_the_plan_page_follows_it(cast, settings):
    settings.VOICEHUB_BILLING_PROVIDER = f"{__name__}.CheckoutProvider"
    assert isinstance(billing.get_provider(), CheckoutProvider)
    alice = signed_in(cast.alice)
    assert "You pay on the next page." in text(alice.get(reverse("studio:plan")))
    response = alice.post(reverse("studio:plan"), {"plan": "starter"})
    upgrade = cast.org_a.upgrade_requests.get()
    assert response.status_code == 302 and response["Location"] == f"https://pay.example/session/{upgrade.pk}"


def test_the_service_refuses_a_member_whatever_the_door(cast):
    # The rule is the service's, whatever door calls it.
    assert Membership.objects.get(organization=cast.org_a, user=cast.bob).role == Membership.Role.MEMBER
    with pytest.raises(OrganizationError) as refused:
        upgrade_request_create(organization=cast.org_a, user=cast.bob, plan=plan("starter"))
    assert refused.value.code == "forbidden"


def test_a_provider_setting_that_names_no_provider_fails_the_system_check(settings):
    from accounts.checks import check_billing_provider

    assert check_billing_provider() == []
    settings.VOICEHUB_BILLING_PROVIDER = "billing_stripe.provider.Nowhere"
    assert [error.id for error in check_billing_provider()] == ["accounts.E001"]
    settings.VOICEHUB_BILLING_PROVIDER = "accounts.models.Plan"
    assert [error.id for error in check_billing_provider()] == ["accounts.E002"]

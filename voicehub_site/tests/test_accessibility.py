"""
Every page passes axe-core (the copy bundled in axe-playwright-python, injected offline) with no serious or
critical violation, on a desktop (1280 px) and a phone (390 px), and none scrolls sideways on the phone.
Screenshots of each page at both widths land in test-artifacts/pages/.

The pages are every URL of voicehub_site/urls.py that answers a browser with a page, in the states that change
what it shows:
- a visitor: marketing (home, pricing, FAQ, privacy, terms, status, quickstart, news sent, a news confirmation
  link valid and stale, the news form sent empty), the 404 page, the API docs (/docs, /redoc) and allauth's
  entrance pages (log in, with a wrong password and with an invitation being followed; sign up, with a chosen
  plan and locked to an invited address; password reset, its link valid and stale, and the pages after it;
  verification sent; an inactive account; a stale confirmation link);
- a creator: every studio page with data in it (studio, history, jobs, voices, projects and one project,
  dictionaries and one dictionary, API keys with their form's errors and with a new key's secret, usage, plan
  with and without a pending upgrade request, organizations, team with a pending invitation), the deletion and
  revocation confirmations; a member's team and plan;
- an account: addresses (one unverified), password change, logout, confirming it is you, two-factor
  authentication off and on (activation, recovery codes, their regeneration, deactivation, the code asked at
  login and to reauthenticate), an address's confirmation link;
- an invitee: the invitation to accept, and the same link opened by another account;
- an operator: the admin's index, analytics (dashboard, funnel, an organization's overview), each app's index,
  every changelist (ours and the installed apps'), every change form of our models, the add forms, a password
  change, a history, a delete confirmation; and the 403 of a staff member without the permission.

What answers with a file or JSON (audio, exports, the schema, /healthz, robots.txt, the sitemap) is no page;
/accounts/password/set/ only redirects (every account has a password) and login by code is off.
"""

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("isolated_media", "fresh_cache")]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "pages"
WIDTHS = (1280, 390)
BLOCKING = {"serious", "critical"}

# What we cannot fix in our code, narrowly: (rule id, path) -> why. Everything else fails the test. (Swagger UI's
# link inside each operation's button, nested-interactive, is fixed in SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"].)
EXCLUDED: dict[tuple[str, str], str] = {}

PUBLIC = [
    "/",
    "/pricing",
    "/faq",
    "/privacy",
    "/terms",
    "/status",
    "/docs/quickstart",
    "/news/sent",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
]
STUDIO = [
    "/studio/",
    "/studio/history/",
    "/studio/jobs/",
    "/studio/voices/",
    "/studio/dictionaries/",
    "/studio/projects/",
    "/studio/keys/",
    "/studio/usage/",
    "/studio/plan/",
    "/organizations/",
    "/organizations/team/",
]
DOCS = ["/docs", "/redoc"]


def _sign_in(page, live_asgi, user):
    session = Client()
    session.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])


def _data(cast):
    """History, usage, a job, a saved voice, a dictionary and a key for Acme; RequestLog rows for the dashboard."""
    from accounts.tests.helpers import make_request_log, make_usage
    from synthesis.models import PronunciationDictionary, SavedVoice
    from synthesis.tests.helpers import make_generation, make_job

    org = cast.org_a
    generations = [
        make_generation(org, text=text, voice=voice, user=cast.alice)
        for text, voice in [
            ("Hello there, this is the first take.", "af_heart"),
            ("A second, longer take " * 5, "bm_george"),
            ("Third.", "af_bella"),
        ]
    ]
    now = timezone.now()
    for days in (0, 1, 3):
        when = now - timedelta(days=days)
        make_usage(org, when, 120 * (days + 1), 8.0)
        make_request_log(org, when, ttfb=90)
    make_job(org, user=cast.alice)
    voice = SavedVoice.objects.create(
        organization=org, name="Narrator", language="en-us", spec="af_heart(2)+bm_george(1)"
    )
    dictionary = PronunciationDictionary.objects.create(organization=org, name="Brand names")
    cast.key(cast.alice)
    return SimpleNamespace(
        generation=generations[0], voice=voice, dictionary=dictionary, key=org.api_keys.get(revoked_at__isnull=True)
    )


def _project(cast):
    """A project of two chapters, one paragraph in another voice (a dialogue), not rendered yet."""
    from synthesis.jobs.documents import chapters_from_text
    from synthesis.services.projects import project_create

    chapters = chapters_from_text(
        "# Chapter One\n\nIt was late.\n\nShe said hello.\n\n# Two\n\nMorning.", markdown=True
    )
    project = project_create(organization=cast.org_a, title="A short story", voice="af_heart", chapters=chapters)
    paragraph = project.chapters.get(index=0).paragraphs.get(index=2)
    paragraph.voice = "bm_george"
    paragraph.save(update_fields=["voice"])
    return project


def _axe(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"resultTypes": ["violations"]})
    return [v for v in results.response["violations"] if v["impact"] in BLOCKING]


def _check(page, path, name, found):
    """axe at each width, a screenshot at each width, nothing sideways on the phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_load_state("load")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        for violation in _axe(page):
            if (violation["id"], path) in EXCLUDED:
                continue
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
            found.append(
                f"{path} @{width}px: {violation['id']} ({violation['impact']}): {violation['help']} — {targets}"
            )
        if path not in DOCS:
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                culprits = page.evaluate(OVERFLOWING, width)
                found.append(f"{path} @{width}px: the page scrolls sideways ({wide} px wide): {culprits}")


# The outermost elements that stick out past the right edge (inside a box that scrolls on its own is fine).
OVERFLOWING = """(w) => Array.from(document.querySelectorAll('body *'))
    .filter((e) => e.getBoundingClientRect().right > w + 1)
    .filter((e) => !(e.parentElement && e.parentElement.closest('.table-wrap, .vh-scroll, .mk-table, .results')))
    .filter((e) => !(e.parentElement && e.parentElement.getBoundingClientRect().right > w + 1))
    .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined
         ? '.' + String(e.className).trim().split(/\\s+/).join('.') : '')).slice(0, 5)"""

# What a vendor page needs on screen before it is checked.
RENDERED = {"/docs": "#swagger-ui .opblock", "/redoc": ".api-content"}


def _name(path):
    return path.strip("/").replace("/", "-") or "home"


def _visit(page, found, path, name=None, *, lands_on=None):
    """Open `path` and check it; it must land on `lands_on` (default: `path` itself), or the state it needed was not set."""
    page.goto(path)
    landed = urlsplit(page.url).path
    assert landed == (lands_on or urlsplit(path).path), f"{path} led to {page.url}"
    if landed in RENDERED:
        page.wait_for_selector(RENDERED[landed])
    _check(page, landed, name or _name(path), found)


def _send(page, found, button, name, *, lands_on=None):
    """Send the form of `button` and check the page that answers (at `lands_on`, if it is another page)."""
    with page.expect_navigation():
        button.click()
    landed = urlsplit(page.url).path
    assert lands_on is None or landed == lands_on, f"{name}: the form led to {page.url}"
    _check(page, landed, name, found)


def _visitor_pages(page, visit, found, cast, invitation_token):
    """What a visitor reaches logged out: the site, the API docs, allauth's entrance pages and the states they
    come in (a form with errors, a link from an email, valid or stale, an invitation being followed)."""
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    from marketing.models import Lead
    from marketing.services import lead_token

    for path in PUBLIC + DOCS:
        visit(path)
    for path in [
        "/accounts/confirm-email/",
        "/accounts/inactive/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/done/",
    ]:
        visit(path)
    visit("/accounts/signup/?plan=starter", "accounts-signup-plan")
    visit("/accounts/confirm-email/not-a-key/", "accounts-confirm-email-stale")
    visit("/accounts/password/reset/key/1-not-a-key/", "accounts-password-reset-key-stale")
    visit("/no-such-page", "404")
    visit(f"/news/confirm/{lead_token(Lead.objects.create(email='reader@example.test'))}", "news-confirmed")
    visit("/news/confirm/not-a-token", "news-confirm-stale")

    # The product-news form sent empty: its answer is a page of its own (/news, 400).
    page.goto("/")
    _send(page, found, page.locator("form.mk-news button[type=submit]"), "news-error", lands_on="/news")
    # A wrong password.
    page.goto("/accounts/login/")
    page.fill("input[name=login]", cast.alice.email)
    page.fill("input[name=password]", "not the password")
    _send(page, found, page.locator("main form button[type=submit]"), "accounts-login-error")

    # The reset link from the email: allauth moves the key into the session and shows the form.
    bob = cast.bob
    key = f"{user_pk_to_url_str(bob)}-{default_token_generator.make_token(bob)}"
    visit(
        f"/accounts/password/reset/key/{key}/",
        "accounts-password-reset-key",
        lands_on=f"/accounts/password/reset/key/{user_pk_to_url_str(bob)}-set-password/",
    )

    # An invitation followed logged out: the login page tells it, sign-up is locked to the invited address.
    accept = f"/organizations/invitations/{invitation_token}/accept/"
    visit(accept, "accounts-login-invited", lands_on="/accounts/login/")
    visit("/accounts/signup/", "accounts-signup-invited")
    page.context.clear_cookies()


def _studio_pages(page, live_asgi, visit, found, cast, data):
    """Every studio page with data in it, then the states a form leaves it in, as alice (owner) and bob (member)."""
    from accounts.models import Plan
    from accounts.services import upgrade_request_create

    _sign_in(page, live_asgi, cast.alice)
    for path in STUDIO:
        visit(path)
    visit(f"/studio/dictionaries/{data.dictionary.id}/", "studio-dictionary")
    visit(f"/studio/projects/{_project(cast).id}/", "studio-project")
    visit(f"/studio/history/{data.generation.pk}/delete", "studio-history-delete")
    visit(f"/studio/keys/{data.key.pk}/revoke", "studio-key-revoke")

    page.goto("/studio/keys/")
    create = page.get_by_role("button", name="Create key")
    _send(page, found, create, "studio-keys-errors")  # no name: the form comes back with its errors
    page.fill("#id_name", "Axe")
    _send(page, found, create, "studio-keys-created")
    assert page.locator("#secret").is_visible()

    upgrade_request_create(organization=cast.org_a, user=cast.alice, plan=Plan.objects.get(slug="creator"), note="More")
    visit("/studio/plan/", "studio-plan-pending")

    page.context.clear_cookies()
    _sign_in(page, live_asgi, cast.bob)
    visit("/organizations/team/", "organizations-team-member")
    visit("/studio/plan/", "studio-plan-member")
    page.context.clear_cookies()


def _account_pages(page, live_asgi, visit, found, cast):
    """allauth's pages of a signed-in user: addresses, password, two-factor authentication before and after it is
    on, the confirmation of it being you, logging out, an address's confirmation link; then a login that asks
    for the code."""
    from allauth.account.models import EmailAddress, EmailConfirmationHMAC
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from voicehub_site.testing import PASSWORD

    alice = cast.alice
    _sign_in(page, live_asgi, alice)
    for path in ["/accounts/password/change/", "/accounts/2fa/", "/accounts/logout/"]:
        visit(path)
    # Turning TOTP on asks for the password again first.
    visit("/accounts/2fa/totp/activate/", "accounts-reauthenticate", lands_on="/accounts/reauthenticate/")
    page.fill("input[name=password]", PASSWORD)
    activate = "/accounts/2fa/totp/activate/"
    _send(page, found, page.locator("main form button[type=submit]"), "accounts-2fa-totp-activate", lands_on=activate)

    TOTP.activate(alice, generate_totp_secret())
    RecoveryCodes.activate(alice)
    visit("/accounts/2fa/", "accounts-2fa-on")
    for path in [
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/2fa/reauthenticate/",
    ]:
        visit(path)
    # A second address, not verified yet (allauth refuses to turn 2FA on while one is: hence only now).
    second = EmailAddress.objects.create(user=alice, email="alice.work@acme.test", verified=False, primary=False)
    visit("/accounts/email/")
    visit(f"/accounts/confirm-email/{EmailConfirmationHMAC(second).key}/", "accounts-confirm-email")

    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    login = page.locator("main form button[type=submit]")
    _send(page, found, login, "accounts-2fa-authenticate", lands_on="/accounts/2fa/authenticate/")
    page.context.clear_cookies()


def _invitee_pages(page, live_asgi, visit, cast, invitation_token):
    """The invitation link opened signed in: by the invited address (to accept), by someone else (refused)."""
    from voicehub_site.testing import verified_user

    accept = f"/organizations/invitations/{invitation_token}/accept/"
    _sign_in(page, live_asgi, cast.charlie)
    visit(accept, "invitation-not-yours")
    page.context.clear_cookies()
    _sign_in(page, live_asgi, verified_user("dana@acme.test", "Dana"))
    visit(accept, "invitation-accept")
    page.context.clear_cookies()


def _admin_pages(page, live_asgi, visit, cast, data):
    """The operator's side: the analytics, every app index, changelist and change form of our models (and the
    changelists of the apps we install), the add forms, a history and a delete confirmation; and the 403 of a
    staff member without the permission."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator

    from accounts.analytics.models import RequestLog
    from accounts.models import AuditLog, Invitation, Plan, UpgradeRequest, UsageRecord, User

    support = User.objects.create_user(
        email="support@voicehub.test", password="correct horse battery staple", is_staff=True
    )
    _sign_in(page, live_asgi, support)
    visit(f"/admin/accounts/organization/{cast.org_a.pk}/overview/", "403")
    page.context.clear_cookies()

    staff = User.objects.create_superuser(email="ops@voicehub.test", password="correct horse battery staple")
    _sign_in(page, live_asgi, staff)
    org = cast.org_a.pk
    changelists = [
        "accounts/requestlog",
        "accounts/user",
        "accounts/plan",
        "accounts/organization",
        "accounts/apikey",
        "accounts/usagerecord",
        "accounts/invitation",
        "accounts/upgraderequest",
        "accounts/auditlog",
        "synthesis/generation",
        "synthesis/savedvoice",
        "account/emailaddress",
        "mfa/authenticator",
        "auth/group",
        "django_tasks_database/dbtaskresult",
    ]
    objects = {
        "accounts/requestlog": RequestLog.objects.first().pk,
        "accounts/user": cast.alice.pk,
        "accounts/plan": Plan.objects.get(slug="starter").pk,
        "accounts/organization": org,
        "accounts/apikey": data.key.pk,
        "accounts/usagerecord": UsageRecord.objects.filter(organization_id=org).first().pk,
        "accounts/invitation": Invitation.objects.first().pk,
        "accounts/upgraderequest": UpgradeRequest.objects.first().pk,
        "accounts/auditlog": AuditLog.objects.first().pk,
        "synthesis/generation": data.generation.pk,
        "synthesis/savedvoice": data.voice.pk,
        "mfa/authenticator": Authenticator.objects.first().pk,
        "account/emailaddress": EmailAddress.objects.filter(user=cast.alice).first().pk,
    }
    pages = [
        ("/admin/", "index"),
        ("/admin/accounts/requestlog/dashboard/", "dashboard"),
        ("/admin/accounts/requestlog/funnel/", "funnel"),
        (f"/admin/accounts/organization/{org}/overview/", "organization-overview"),
        ("/admin/accounts/", "accounts"),
        ("/admin/synthesis/", "synthesis"),
        *((f"/admin/{model}/", model.replace("/", "-")) for model in changelists),
        *((f"/admin/{model}/{pk}/change/", model.replace("/", "-") + "-change") for model, pk in objects.items()),
        ("/admin/accounts/user/add/", "accounts-user-add"),
        ("/admin/accounts/organization/add/", "accounts-organization-add"),
        ("/admin/auth/group/add/", "auth-group-add"),
        (f"/admin/accounts/user/{cast.alice.pk}/password/", "accounts-user-password"),
        (f"/admin/accounts/organization/{org}/history/", "accounts-organization-history"),
        (f"/admin/accounts/organization/{cast.org_b.pk}/delete/", "accounts-organization-delete"),
        ("/admin/password_change/", "password-change"),
    ]
    for path, name in pages:
        visit(path, "admin-" + name)


def test_every_page_passes_axe_at_desktop_and_phone_width(page, live_asgi, cast, settings):
    from accounts.models import Membership
    from accounts.services import invitation_create

    # allauth asks for the password again after 5 minutes; a busy machine must not reach that mid-test.
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 3600
    data = _data(cast)
    # A pending invitation: on the team page, in the admin, and its link for the pages of an invitee.
    _invitation, token = invitation_create(
        actor=Membership.objects.get(organization=cast.org_a, user=cast.alice), email="dana@acme.test", role="member"
    )
    found: list[str] = []

    def visit(path, name=None, *, lands_on=None):
        _visit(page, found, path, name, lands_on=lands_on)

    _visitor_pages(page, visit, found, cast, token)
    _studio_pages(page, live_asgi, visit, found, cast, data)
    _account_pages(page, live_asgi, visit, found, cast)
    _invitee_pages(page, live_asgi, visit, cast, token)
    _admin_pages(page, live_asgi, visit, cast, data)

    assert not found, "Accessibility violations (serious/critical) and overflow:\n" + "\n".join(found)

"""Accounts through django-allauth: sign-up, verification, login, reset, TOTP, and the pages' look."""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Membership, User
from accounts.services import organization_create_personal
from accounts.verification import email_verified

PASSWORD = "correct horse battery staple 7"
BRAND_LINK = '<a class="brand" href="/">Voicehub</a>'
# src=/href=/action= that leave the site: "https://…", "http://…" or "//host/…".
OFF_SITE_URL = re.compile(r"""\b(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
LINK_IN_MAIL = re.compile(r"https?://testserver(/accounts/\S+)")


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    # allauth counts attempts in the default cache: a private local-memory one,
    # emptied around every test, so no test inherits another's failures.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "auth-tests"},
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    """An existing customer with a verified email and her personal workspace."""
    user = User.objects.create_user(email="alice@example.com", password=PASSWORD, name="Alice")
    organization_create_personal(user=user)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def sign_up(client, email, password=PASSWORD):
    return client.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})


def log_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def reauthenticate(client, password=PASSWORD):
    """Type the password again, as allauth asks before security settings change."""
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content


def link_in(message) -> str:
    match = LINK_IN_MAIL.search(message.body)
    assert match, message.body
    return match[1]


def without_tokens(html: str, *emails: str) -> str:
    """The page with what legitimately differs between two answers blanked out."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'nonce="[^"]*"', "", html)  # the Content-Security-Policy nonce, new on every response
    for email in emails:
        html = html.replace(email, "EMAIL")
    return html


def assert_site_page(response):
    assert response.status_code == 200
    html = response.content.decode()
    assert BRAND_LINK in html
    assert "Menu:" not in html  # allauth's own unstyled layout
    assert not OFF_SITE_URL.search(html), OFF_SITE_URL.search(html)


# --- Sign-up ----------------------------------------------------------------


@pytest.mark.django_db
def test_signing_up_creates_the_user_and_a_personal_organization_they_own(client, production_password_hashers):
    response = sign_up(client, "dana@example.com")

    assert response.status_code == 302
    user = User.objects.get(email="dana@example.com")
    assert user.check_password(PASSWORD)
    membership = user.memberships.select_related("organization").get()
    assert membership.role == Membership.Role.OWNER
    assert membership.organization.is_personal
    assert user.password.startswith("argon2$")


@pytest.mark.django_db
def test_signing_up_mails_a_link_that_verifies_the_address_and_logs_in(client):
    response = sign_up(client, "dana@example.com")
    user = User.objects.get(email="dana@example.com")

    # Held at "check your email": the account exists but is not logged in yet.
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert email_verified(user) is False
    assert [m.to for m in mail.outbox] == [["dana@example.com"]]

    confirm_url = link_in(mail.outbox[0])
    assert_site_page(client.get(confirm_url))
    response = client.post(confirm_url)

    assert response.status_code == 302
    assert email_verified(user) is True
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_the_confirmation_and_reset_mails_are_branded_voicehub_without_the_host(client, alice):
    sign_up(client, "dana@example.com")
    client.logout()
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})

    confirmation, reset = mail.outbox
    assert confirmation.subject == "Voicehub: Confirm your email address"
    assert reset.subject == "Voicehub: Reset your password"
    for message in (confirmation, reset):
        assert "testserver" not in message.subject and "[" not in message.subject
        assert message.body.startswith("Hello from Voicehub,")
        assert "-- The Voicehub team" in message.body
        # The host appears only in the link to open, never as the site's name.
        assert message.body.count("testserver") == 1 and link_in(message)


@pytest.mark.django_db
def test_signing_up_with_a_taken_email_looks_like_a_new_signup_and_mails_the_owner(client, alice):
    new = sign_up(client, "dana@example.com")
    client.logout()
    mail.outbox.clear()

    taken = sign_up(client, "alice@example.com", password="another secret phrase 9")

    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert "_auth_user_id" not in client.session
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "already" in mail.outbox[0].subject.lower()


@pytest.mark.django_db
def test_an_unverified_user_can_still_log_in_but_is_not_email_verified(client):
    sign_up(client, "dana@example.com")
    client.logout()

    response = log_in(client, "dana@example.com")

    user = User.objects.get(email="dana@example.com")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert email_verified(user) is False


def test_email_verified_is_false_for_anonymous_users():
    assert email_verified(AnonymousUser()) is False
    assert email_verified(None) is False


# --- Login ------------------------------------------------------------------


@pytest.mark.django_db
def test_logging_in_with_email_works_and_rotates_the_session_key(client, alice):
    session = client.session
    session["seen_pricing"] = True
    session.save()
    key_before = session.session_key

    response = log_in(client, "Alice@Example.com")

    assert response.status_code == 302
    assert response["Location"] == "/studio/"  # signed-in users land in the studio
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert client.session.session_key != key_before


@pytest.mark.django_db
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, alice):
    wrong_password = log_in(client, "alice@example.com", password="not her password 1")
    unknown_email = log_in(client, "nobody@example.com", password="not her password 1")

    assert wrong_password.status_code == unknown_email.status_code == 200
    assert "_auth_user_id" not in client.session
    assert without_tokens(wrong_password.content.decode(), "alice@example.com") == without_tokens(
        unknown_email.content.decode(), "nobody@example.com"
    )


@pytest.mark.django_db
def test_login_is_refused_after_repeated_failures_even_with_the_right_password(client, alice, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/5m/key"}
    for _ in range(3):
        assert log_in(client, "alice@example.com", password="guess guess guess 1").status_code == 200

    response = log_in(client, "alice@example.com")

    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()


# --- The admin's login -----------------------------------------------------


@pytest.fixture
def staff(db):
    user = User.objects.create_user(email="ops@example.com", password=PASSWORD, name="Ops", is_staff=True, is_superuser=True)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def admin_login_form(client) -> str:
    """Where the admin sends a visitor to sign in (following its redirects): the URL whose form takes the password."""
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200 and 'name="password"' in response.content.decode()
    return response.redirect_chain[-1][0]


@pytest.mark.django_db
def test_the_admin_login_takes_no_password_itself(client, staff):
    # Django's own admin form had no limit: each guess got an answer. It now only points to the site's login.
    for password in [f"guess number {n}" for n in range(15)] + [PASSWORD]:
        response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": password})
        assert response.status_code == 302
        assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2F"
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_guessing_a_staff_password_at_the_admin_login_meets_the_site_login_limits(client, staff):
    url = admin_login_form(client)
    answers = [client.post(url, {"login": staff.email, "password": f"guess number {n}"}) for n in range(15)]

    limited = [n for n, answer in enumerate(answers) if answer.status_code == 429 or "Too many failed login attempts" in answer.content.decode()]
    assert limited and limited[0] < 14, [answer.status_code for answer in answers]
    assert client.post(url, {"login": staff.email, "password": PASSWORD}).status_code != 302  # locked out, even so
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_staff_user_signs_in_to_the_admin_through_the_site_login(client, staff):
    response = client.post(admin_login_form(client), {"login": staff.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert "Site administration" in client.get("/admin/").content.decode()


def log_in_from(client, forwarded, email, password="guess guess guess 1"):
    """A login POST that arrived through a proxy appending to X-Forwarded-For."""
    return client.post(reverse("account_login"), {"login": email, "password": password}, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.mark.django_db
def test_failed_logins_count_per_client_address_as_the_trusted_proxy_saw_it(client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/h/ip"}
    for n in range(2):  # a fresh left part (forged by the client) each time, a new email each time
        assert "Too many" not in log_in_from(client, f"6.6.6.{n}, 203.0.113.7", f"guess{n}@example.com").content.decode()

    refused = log_in_from(client, "6.6.6.9, 203.0.113.7", "guess9@example.com")
    another_client = log_in_from(client, "6.6.6.9, 203.0.113.8", "guess9@example.com")

    assert "Too many failed login attempts" in refused.content.decode()
    assert another_client.status_code == 200 and "Too many" not in another_client.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("forwarded", ["203.0.113.7", "not-an-address, 203.0.113.7"])
def test_a_forwarded_header_our_proxies_did_not_write_is_no_server_error(client, settings, forwarded):
    # Two proxies configured, but the header has one entry, or its second from the right is no
    # address: the client wrote it. allauth's own reading answered 500 (ImproperlyConfigured) or 403.
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    response = log_in_from(client, forwarded, "nobody@example.com")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


# --- Password reset ---------------------------------------------------------


@pytest.mark.django_db
def test_password_reset_answers_the_same_for_known_and_unknown_emails(client, alice):
    known = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == reverse("account_reset_password_done")
    # Each address gets a mail, so the inbox is no tell either: a reset link
    # for alice, a "no account here" note for the stranger.
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "nobody@example.com"]


@pytest.mark.django_db
def test_the_reset_link_sets_a_new_password_through_site_pages(client, alice):
    assert_site_page(client.get(reverse("account_reset_password")))
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert_site_page(client.get(reverse("account_reset_password_done")))

    # allauth moves the key out of the URL into the session, then shows the form.
    page = client.get(link_in(mail.outbox[0]), follow=True)
    assert_site_page(page)
    new_password = "a brand new passphrase 42"
    done = client.post(page.redirect_chain[-1][0], {"password1": new_password, "password2": new_password}, follow=True)

    assert_site_page(done)
    assert done.redirect_chain[-1][0] == reverse("account_reset_password_from_key_done")
    alice.refresh_from_db()
    assert alice.check_password(new_password)


# --- The pages look like the site -------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name",
    ["account_login", "account_signup", "account_reset_password", "account_email_verification_sent"],
)
def test_each_entrance_page_renders_in_the_site_layout(client, url_name):
    response = client.get(reverse(url_name))

    assert_site_page(response)
    assert b'href="/accounts/login/">Log in</a>' in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name",
    ["account_email", "account_change_password", "account_logout", "account_reauthenticate", "mfa_index"],
)
def test_each_account_page_renders_in_the_site_layout_when_logged_in(client, alice, url_name):
    log_in(client, "alice@example.com")

    response = client.get(reverse(url_name))

    assert_site_page(response)
    assert b">Log out</button>" in response.content


@pytest.mark.django_db
def test_account_pages_ask_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("account_email"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_changing_the_password_works_from_the_site_page(client, alice):
    log_in(client, "alice@example.com")
    new_password = "a brand new passphrase 42"

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new_password)


# --- Two-factor authentication ---------------------------------------------


def current_totp(secret: str) -> str:
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


@pytest.mark.django_db
def test_totp_can_be_activated_and_is_then_asked_for_at_login(client, alice, settings):
    # One period of slack either side, so a code computed at a 30-second
    # boundary is still accepted a moment later.
    settings.MFA_TOTP_TOLERANCE = 1
    log_in(client, "alice@example.com")
    assert client.get(reverse("mfa_activate_totp"))["Location"].startswith(reverse("account_reauthenticate"))
    reauthenticate(client)
    page = client.get(reverse("mfa_activate_totp"))
    assert_site_page(page)
    secret = page.context["form"].secret
    assert secret in page.content.decode()  # shown for apps that cannot scan

    activated = client.post(reverse("mfa_activate_totp"), {"code": current_totp(secret)})

    assert activated.status_code == 302
    assert alice.authenticator_set.filter(type=Authenticator.Type.TOTP).exists()
    assert_site_page(client.get(reverse("mfa_view_recovery_codes")))
    assert_site_page(client.get(reverse("mfa_deactivate_totp")))

    client.post(reverse("account_logout"))
    response = log_in(client, "alice@example.com")

    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    assert_site_page(client.get(reverse("mfa_authenticate")))
    assert_site_copy(client.get(reverse("mfa_authenticate")), "Two-factor authentication")
    response = client.post(reverse("mfa_authenticate"), {"code": current_totp(secret)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


@pytest.mark.django_db
def test_a_wrong_totp_code_does_not_log_in(client, alice):
    secret = generate_totp_secret()
    TOTP.activate(alice, secret)
    log_in(client, "alice@example.com")
    wrong = f"{(int(current_totp(secret)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("mfa_authenticate"), {"code": wrong})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


# --- The pages and mails speak the site's language -------------------------------------

# allauth's stock wording, where the site says "Log in", "Sign up", "Log out", "Keep me logged in".
STOCK_COPY = re.compile(
    r"Sign In|Sign in|sign in|Sign Up|Signup|signup for|Sign Out|Sign out|sign out|Remember Me|E-mail|"
    r"Current Password|New Password|signed in|signed out|Hello from example|example\.com!"
)


def visible_text(response) -> str:
    """What a person reads on the page: its text and its labels, not its URLs, ids or scripts."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


def assert_site_copy(response, *expected):
    assert response.status_code == 200
    text = visible_text(response)
    assert not STOCK_COPY.search(text), (STOCK_COPY.search(text)[0], text)
    for words in expected:
        assert words in text, (words, text)


@pytest.mark.django_db
def test_the_entrance_pages_say_log_in_sign_up_and_keep_me_logged_in(client, alice):
    assert_site_copy(client.get(reverse("account_login")), "Log in to Voicehub", "Keep me logged in", "Sign up")
    assert_site_copy(client.get(reverse("account_signup")), "Sign up for Voicehub", "Log in")
    assert_site_copy(client.get(reverse("account_reset_password")), "Reset your password")
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert_site_copy(client.get(reverse("account_reset_password_done")), "Check your email")
    assert_site_copy(client.get(link_in(mail.outbox[0]), follow=True), "Choose a new password")
    assert_site_copy(client.get("/accounts/password/reset/key/1-nope/", follow=True), "This link cannot be used")
    assert_site_copy(client.get(reverse("account_email_verification_sent")), "Check your email")
    assert_site_copy(client.get(reverse("account_confirm_email", args=["nope"])), "This link cannot be used")


@pytest.mark.django_db
def test_the_email_confirmation_page_and_the_account_pages_speak_the_same_way(client, alice):
    sign_up(client, "dana@example.com")
    assert_site_copy(client.get(link_in(mail.outbox[0])), "Confirm your email address", "dana@example.com")
    client.logout()
    log_in(client, "alice@example.com")
    assert_site_copy(client.get(reverse("account_email")), "Email addresses", "alice@example.com", "You are logged in as")
    assert_site_copy(client.get(reverse("account_logout")), "Log out", "Are you sure you want to log out?")
    assert_site_copy(client.get(reverse("account_reauthenticate")), "Confirm it is you")
    reauthenticate(client)
    assert_site_copy(client.get(reverse("account_change_password")), "Change your password", "Current password")
    alice.set_unusable_password()
    alice.save()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    assert_site_copy(client.get(reverse("account_set_password")), "Set a password")
    client.post(reverse("account_logout"))
    assert_site_copy(client.get(reverse("account_login")), "You are logged out.")  # the home page shows no messages


@pytest.mark.django_db
def test_every_account_mail_is_branded_voicehub_with_no_host_in_its_subject(client, alice):
    sign_up(client, "dana@example.com")  # the confirmation
    client.logout()
    sign_up(client, "alice@example.com")  # the address is taken: its owner is told
    client.logout()
    client.post(reverse("account_reset_password"), {"email": "alice@example.com"})  # the reset link
    client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})  # no account here
    log_in(client, "alice@example.com")
    client.post(reverse("account_email"), {"action_add": "", "email": "alice.work@example.com"})  # confirm a new address

    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert len(mail.outbox) == 5, [m.subject for m in mail.outbox]
    for message in mail.outbox:
        assert message.subject.startswith("Voicehub: "), message.subject
        assert "testserver" not in message.subject and "[" not in message.subject and "example" not in message.subject
        assert not STOCK_COPY.search(message.subject + message.body), (message.subject, message.body)
        assert message.body.startswith("Hello from Voicehub,") and "-- The Voicehub team" in message.body
    assert subjects["nobody@example.com"] == "Voicehub: No account for this address"
    assert subjects["alice.work@example.com"] == "Voicehub: Confirm your email address"
    assert sorted(m.subject for m in mail.outbox if m.to == ["alice@example.com"]) == [
        "Voicehub: Reset your password", "Voicehub: You already have an account",
    ]


# allauth's own limits, as settings.ACCOUNT_RATE_LIMITS ships them (docs/reliability.md, Limits).
SHIPPED_LIMITS = [
    ("login", 30, lambda n: {"login": f"nobody{n}@example.test", "password": "not the password"}),
    ("signup", 20, lambda n: {"email": "not an address", "password1": "x", "password2": "y"}),
    ("reset_password", 3, lambda n: {"email": "alice@acme.test"}),  # 3 an hour for one address
]


@pytest.mark.parametrize("action, allowed, form", SHIPPED_LIMITS, ids=[limit[0] for limit in SHIPPED_LIMITS])
def test_allauths_limits_as_shipped_refuse_the_next_attempt_with_429(action, allowed, form, cast, client):
    path = {"login": "account_login", "signup": "account_signup", "reset_password": "account_reset_password"}[action]
    answers = [client.post(reverse(path), form(n)).status_code for n in range(allowed + 1)]
    assert 429 not in answers[:allowed], answers
    assert answers[allowed] == 429

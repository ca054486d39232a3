"""The account pages and emails are ready for translation: every word a user reads goes through gettext."""

from pathlib import Path

import pytest
from django.conf import settings

from voicehub_site.testing import untranslated_words

ROOT = Path(settings.BASE_DIR)
# allauth's pages and emails in the site's words, the second login step, and the account side of the app with its email.
# The operator's admin pages (accounts/templates/admin/) are not covered: they are English-only for now.
ACCOUNT_TEMPLATES = sorted(
    [
        *(ROOT / "templates" / "account").rglob("*.html"),
        *(ROOT / "templates" / "account").rglob("*.txt"),
        *(ROOT / "templates" / "mfa").rglob("*.html"),
        *(ROOT / "accounts" / "templates" / "accounts").rglob("*.html"),
        *(ROOT / "accounts" / "templates" / "accounts").rglob("*.txt"),  # the invitation email
        ROOT / "templates" / "403.html",  # what a team action the role does not allow answers
    ]
)


def test_the_account_templates_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in ACCOUNT_TEMPLATES}
    assert {
        "templates/account/login.html",
        "templates/account/email/email_confirmation_message.txt",
        "templates/mfa/authenticate.html",
        "accounts/templates/accounts/plan.html",
        "accounts/templates/accounts/_signup_plan.html",
        "accounts/templates/accounts/invitation_accept.html",
        "accounts/templates/accounts/email/invitation_message.txt",
    } <= names


@pytest.mark.parametrize("template", ACCOUNT_TEMPLATES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_account_pages_and_emails_are_ready_for_translation(template):
    words = untranslated_words(template)
    assert words == [], f"untranslated text {words[:8]}"


# -- the words Python puts on those pages ---------------------------------------------------------------------------


def write_catalog(path: Path, messages: dict[str, str]) -> None:
    """A gettext .mo file holding `messages` (msgid → msgstr), as msgfmt writes one (no gettext tools needed)."""
    import struct

    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    ids, strs, entries = b"", b"", []
    for msgid in sorted(messages):
        key, value = msgid.encode(), messages[msgid].encode()
        entries.append((len(key), len(ids), len(value), len(strs)))
        ids, strs = ids + key + b"\0", strs + value + b"\0"
    start = 7 * 4 + 16 * len(entries)  # the header and the two offset tables come first
    table = []
    for key_length, key_offset, _, _ in entries:
        table += [key_length, start + key_offset]
    for _, _, value_length, value_offset in entries:
        table += [value_length, start + len(ids) + value_offset]
    header = struct.pack("<7I", 0x950412DE, 0, len(entries), 7 * 4, 7 * 4 + 8 * len(entries), 0, 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(header + struct.pack(f"<{len(table)}I", *table) + ids + strs)


# Strings of accounts' Python code that these pages and the invitation email show, each "translated" with a mark.
PYTHON_STRINGS = [
    "Paid plans start as a request our team approves; your organization keeps its current plan (Free, for a new account) "
    "until then, and you can follow or cancel the request on the Plan page.",  # the billing provider's how_it_works
    "Free",  # the price of the Free plan
    "Optional: anything the team should know (invoicing details, when you need it).",
    "So you know where it is used, e.g. “website backend”.",
    "Synthesize speech",  # an API key scope
    "Admin",  # a role
    "Your request for the %(plan)s plan was sent; we will let you know.",
    "Invitation sent to %(email)s.",
    "You are the last owner: make someone else an owner before leaving.",
    "Join %(organization)s on Voicehub",
]


@pytest.fixture
def french(settings, tmp_path):
    """A French catalog that marks each of PYTHON_STRINGS with "[fr] ", active for the test."""
    from django.utils import translation

    write_catalog(tmp_path / "fr" / "LC_MESSAGES" / "django.mo", {text: f"[fr] {text}" for text in PYTHON_STRINGS})
    settings.LOCALE_PATHS = [tmp_path]  # Django empties its catalog cache when this setting changes
    with translation.override("fr"):
        yield


def test_the_words_python_shows_on_the_account_pages_follow_the_language(cast, french, mailoutbox):
    from accounts.tests.helpers import signed_in

    alice = signed_in(cast.alice)
    plan = alice.get("/studio/plan/").content.decode()
    assert "[fr] Paid plans start as a request our team approves" in plan
    assert "<td>[fr] Free</td>" in plan
    assert "[fr] Optional: anything the team should know" in plan
    keys = alice.get("/studio/keys/").content.decode()
    assert "[fr] So you know where it is used" in keys and "[fr] Synthesize speech" in keys
    assert "[fr] Admin</option>" in alice.get("/organizations/team/").content.decode()

    requested = alice.post("/studio/plan/", {"plan": "starter"}, follow=True).content.decode()
    assert "[fr] Your request for the Starter plan was sent" in requested
    invited = alice.post("/organizations/team/invite/", {"email": "dan@example.com", "role": "member"}, follow=True)
    assert "[fr] Invitation sent to dan@example.com." in invited.content.decode()
    assert mailoutbox[-1].subject == "[fr] Join Acme on Voicehub"
    refused = signed_in(cast.charlie).post("/organizations/team/leave/", follow=True).content.decode()
    assert "[fr] You are the last owner" in refused


def test_signup_names_the_chosen_plan_in_the_active_language(client, db, french):
    page = client.get("/accounts/signup/?plan=starter", HTTP_USER_AGENT="Mozilla/5.0 Chrome/130").content.decode()
    assert "[fr] Paid plans start as a request our team approves" in page

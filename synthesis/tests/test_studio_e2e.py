"""
The studio end to end in a real browser: sign up, verify the email, hear speech
streamed over the websocket, find it in history, make an API key, use it,
revoke it. Screenshots of every page land in test-artifacts/studio/.
"""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from voicehub_site.testing import wait_for_function

pytestmark = [pytest.mark.model, pytest.mark.browser, pytest.mark.usefixtures("isolated_media", "fresh_cache")]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "studio"
EMAIL = "dana@example.test"
PASSWORD = "a long and unusual passphrase 42"
TEXT = "Hello from the studio. This is streamed."


def screenshots(page, name):
    """The page as a desktop (1280 px) and a phone (390 px) sees it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        # Nothing sticks out sideways: a phone scrolls only down.
        wide = page.evaluate(
            """(w) => Array.from(document.querySelectorAll('body *'))
                 .filter((e) => e.getBoundingClientRect().right > w + 1)
                 .filter((e) => !(e.parentElement && e.parentElement.closest('.table-wrap, .voice-list')))
                 .map((e) => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)""",
            width,
        )
        assert wide == [], f"{name} at {width} px overflows: {wide}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def call_tts(base_url, secret):
    request = urllib.request.Request(
        f"{base_url}/tts",
        data=json.dumps({"text": "Keys work."}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_sign_up_generate_hear_find_in_history_and_use_a_key(page, live_asgi, engine):
    # Sign up through the real form, then open the link from the email.
    page.goto("/accounts/signup/")
    page.fill("#id_email", EMAIL)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Sign up", exact=True).click()
    page.wait_for_load_state()
    message = next(m for m in mail.outbox if EMAIL in m.to)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", message.body)[0]
    page.goto(link)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    page.wait_for_load_state()

    # The studio: type, generate, hear it while it is made.
    page.goto("/studio/")
    page.fill("#voice-search", "geor")
    page.select_option("#voice-accent", "British")
    assert page.text_content("#voice-count") == "1 voice"
    page.check("#v-bm_george")
    assert page.text_content("#voice-chosen") == "George (British · male)"
    page.fill("#text", TEXT)
    assert page.text_content("#count") == str(len(TEXT))
    page.get_by_role("button", name="Generate").click()
    wait_for_function(page, "() => ['done', 'error'].includes(window.voicehubStudio.status)", timeout=120_000)
    run = page.evaluate("window.voicehubStudio")
    assert run["status"] == "done", run["error"]
    assert run["chunks"] >= 1 and run["bytes"] > 0
    assert run["firstChunkAt"] < run["doneAt"], "no audio arrived before synthesis was done"
    assert page.get_attribute("#studio", "data-first-chunk-before-done") == "true"
    assert page.get_attribute("#result-audio", "src") == f"/studio/history/{run['historyId']}/audio"
    wait_for_function(page, "() => document.getElementById('result-audio').duration > 0", timeout=30_000)
    assert page.get_attribute("#download", "href") == f"/studio/history/{run['historyId']}/audio"
    screenshots(page, "studio")

    # History shows it.
    page.get_by_role("navigation", name="Studio").get_by_role("link", name="History").click()
    row = page.locator(f"#generation-{run['historyId']}")
    assert TEXT in row.text_content() and "bm_george" in row.text_content()
    # Search without a reload (htmx swaps the results and keeps the URL in step).
    page.fill("#q", "no such words")
    page.wait_for_selector("text=Nothing matches these filters.")
    page.fill("#q", "streamed")
    row.wait_for()
    assert "/studio/history/?q=streamed" in page.url
    screenshots(page, "history")

    # An API key made in the page works with /tts, and stops working once revoked.
    page.goto("/studio/keys/")
    page.fill("#id_name", "e2e")
    page.get_by_role("button", name="Create key").click()
    secret = page.text_content("#secret").strip()
    assert secret.startswith("vh_")
    screenshots(page, "keys")
    status, content_type, body = call_tts(live_asgi.url, secret)
    assert (status, content_type) == (200, "audio/wav"), body[:200]
    assert body[:4] == b"RIFF"

    page.goto("/studio/keys/")
    assert secret not in page.content()
    page.get_by_role("link", name="Revoke e2e").click()
    confirm = page.get_by_role("button", name="Yes, revoke")
    confirm.wait_for()
    assert page.url.endswith("/studio/keys/")  # asked in place, in the key's row
    confirm.click()
    page.wait_for_load_state()
    assert "was revoked" in page.text_content(".messages")
    status, _, body = call_tts(live_asgi.url, secret)
    assert status in (401, 403)
    assert json.loads(body)["code"] == "invalid_api_key"

    for name, url in (("usage", "/studio/usage/"), ("team", "/organizations/team/"), ("account", "/accounts/email/")):
        page.goto(url)
        assert page.locator("h1").count() >= 1
        screenshots(page, name)
    assert page.external_requests == []

"""
The studio editor in a real browser (the fake engine speaks): the form survives a reload, the bar keeps
Generate in reach on a desktop and a phone, and the player draws the take's waveform and seeks in it.
Screenshots land in test-artifacts/studio/studio-editor-*.png.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from voicehub_site.testing import wait_for_function

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("isolated_media", "fresh_cache")]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "studio"
TEXT = ('<speak>Hello from the studio. <break time="300ms"/> This draft survives a reload, '
        "and its waveform is drawn while it plays.</speak>")
SIZES = ((1280, 800), (390, 844))


def sign_in(page, live_asgi, user):
    session = Client()
    session.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])


def in_view(page, selector) -> bool:
    return page.eval_on_selector(
        selector, "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.height > 0; }"
    )


def shoot(page, name):
    """The screen (not the whole page: the bar sticks to the screen's bottom) at each size; Generate in reach."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))
        assert in_view(page, "#generate"), f"Generate is below the fold at {width}×{height}"
        assert in_view(page, "#waveform"), f"the player is below the fold at {width}×{height}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width} px"
        # The bar does not hide the text being typed.
        assert page.evaluate("""() => document.getElementById('text').getBoundingClientRect().top + 48
                                 < document.getElementById('studio-bar').getBoundingClientRect().top""")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_draft_survives_a_reload_and_the_player_draws_and_seeks_the_take(page, live_asgi, cast, fake_engine):
    sign_in(page, live_asgi, cast.alice)
    page.goto("/studio/")
    formats = page.eval_on_selector_all("#format option", "options => options.map((o) => o.value)")
    page.fill("#text", TEXT)
    page.check("#v-bm_george")
    page.check("#ssml")
    page.select_option("#format", formats[-1])
    page.focus("#speed")
    for _ in range(5):  # 1.00 → 1.25 in steps of 0.05, as a keyboard user moves the slider
        page.keyboard.press("ArrowRight")
    assert page.input_value("#speed") == "1.25"

    page.reload()

    assert page.input_value("#text") == TEXT
    assert page.is_checked("#v-bm_george") and page.is_checked("#ssml")
    assert page.input_value("#format") == formats[-1]
    assert page.input_value("#speed") == "1.25" and page.text_content("#speed-value") == "1.25×"
    assert page.text_content("#voice-chosen") == "George (British · male)"
    assert page.evaluate("window.voicehubStudio.restored") is True
    shoot(page, "studio-editor")

    # Bob, on the same browser, sees none of Alice's draft.
    sign_in(page, live_asgi, cast.bob)
    page.reload()
    assert page.input_value("#text") == "" and not page.is_checked("#ssml")
    sign_in(page, live_asgi, cast.alice)
    page.reload()
    assert page.input_value("#text") == TEXT

    page.keyboard.press("Control+Enter")  # the listed shortcut
    wait_for_function(page, "() => ['done', 'error'].includes(window.voicehubStudio.status)", timeout=120_000)
    run = page.evaluate("window.voicehubStudio")
    assert run["status"] == "done", run["error"]
    assert run["peaks"] > 10 and run["duration"] > 2
    # The waveform is drawn: many of the canvas' pixels are painted.
    painted = page.eval_on_selector(
        "#waveform",
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (c.width * c.height); }",
    )
    assert painted > 0.05, f"the waveform is blank ({painted:.1%} painted)"
    wait_for_function(page, "() => { const r = document.getElementById('result').getBoundingClientRect();"
                            " return r.top >= 0 && r.top < innerHeight; }", timeout=10_000)
    wait_for_function(page, "() => document.getElementById('result-audio').duration > 0", timeout=30_000)

    # A click three quarters along the waveform moves the position there, and the slider says so.
    box = page.locator("#waveform").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    wait_for_function(page, "() => window.voicehubStudio.position >= 0.7 * window.voicehubStudio.duration", timeout=10_000)
    seconds = int(page.get_attribute("#waveform", "aria-valuenow"))
    assert seconds >= int(run["duration"] * 0.6), (seconds, run["duration"])
    shown, total = page.text_content("#position").split(" / ")  # "0:05 / 0:07"
    assert shown >= f"0:{int(run['duration'] * 0.6):02d}" and total == f"0:{int(run['duration']):02d}"
    assert page.get_attribute("#waveform", "aria-disabled") == "false"
    # The keyboard seeks too: Home is the start.
    page.focus("#waveform")
    page.keyboard.press("Home")
    wait_for_function(page, "() => document.getElementById('waveform').getAttribute('aria-valuenow') === '0'", timeout=10_000)
    # Space plays and pauses (the listed shortcut); paused, the position stands still.
    page.keyboard.press("Space")
    assert page.get_attribute("#play", "aria-label") in ("Play", "Pause")
    label = page.get_attribute("#play", "aria-label")
    page.keyboard.press("Space")
    wait_for_function(page, f"() => document.getElementById('play').getAttribute('aria-label') !== {label!r}", timeout=10_000)
    shoot(page, "studio-editor-done")


def test_a_voice_sample_says_loading_until_it_can_play_then_playing(page, live_asgi, cast, fake_engine):
    held = []
    page.route("**/preview*", lambda route: held.append(route))  # the sample's response waits for the test
    sign_in(page, live_asgi, cast.alice)
    page.goto("/studio/")

    with page.expect_request(lambda request: "/preview" in request.url):
        page.click("#v-af_bella ~ button.play")

    assert page.text_content("#status") == "Loading a preview of Bella…"
    assert page.get_attribute("#v-af_bella ~ button.play", "aria-busy") == "true"
    while not held:  # the route's handler runs when Playwright next reads its events
        page.wait_for_timeout(20)
    held[0].continue_()
    wait_for_function(page, "() => document.getElementById('status').textContent.startsWith('Playing')", timeout=30_000)
    assert page.text_content("#status") == "Playing a preview of Bella."
    assert page.get_attribute("#v-af_bella ~ button.play", "aria-busy") is None

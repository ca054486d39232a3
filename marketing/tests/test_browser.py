"""The landing page in a real headless Chromium, served by the real ASGI app."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from marketing.models import FunnelEvent
from voicehub_site.testing import wait_for_function

ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts" / "marketing"

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_cache")]


def next_frame(page):
    """Until the browser has painted a frame (layout done, scroll handlers run): an event, not a delay."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_the_landing_renders_on_desktop_and_phones_without_leaving_the_site(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto("/")
    assert page.locator("h1").is_visible()
    hero_cta = page.locator("a[data-cta=hero_signup]")
    assert hero_cta.is_visible() and hero_cta.bounding_box()["y"] + hero_cta.bounding_box()["height"] <= 900  # above the fold
    page.screenshot(path=str(ARTIFACTS / "landing-1280.png"), full_page=True)
    for width in (390, 360):
        page.set_viewport_size({"width": width, "height": 844})
        next_frame(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways at {width} px"
        assert page.locator("#demo-speak").is_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "landing-390.png"), full_page=True)
    assert page.external_requests == []


@pytest.mark.parametrize("path", ["/", "/pricing", "/faq", "/no-such-page"])
def test_text_meets_wcag_aa_contrast(page, path):
    page.goto(path)
    failures = page.evaluate(
        """() => {
        const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => { const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                                      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
        const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                     if (c.length === 3 || c[3] === 1) return c.slice(0, 3); } return [255, 255, 255]; };
        const bad = [];
        for (const el of document.querySelectorAll('body *')) {
          if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
          const style = getComputedStyle(el);
          if (style.visibility === 'hidden' || style.display === 'none' || el.closest('[hidden]')) continue;
          const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
          const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
          const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
          if (ratio < needed) bad.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
        }
        return bad;
    }"""
    )
    assert failures == []


def test_a_cta_click_and_the_scroll_depth_are_recorded(page, live_asgi, funnel_events):
    def depths(events):
        return {e.value for e in events if e.kind == "scroll"}

    page.goto("/")
    funnel_events.wait_for(lambda events: any(e.kind == "page_view" and e.path == "/" for e in events), "the page view")
    for fraction, reached in ((0.3, {25}), (0.6, {25, 50}), (1.0, {25, 50, 75, 100})):
        page.evaluate(f"window.scrollTo(0, (document.documentElement.scrollHeight - innerHeight) * {fraction})")
        funnel_events.wait_for(lambda events, reached=reached: depths(events) >= reached, f"the scroll depths {sorted(reached)}")
        assert depths(funnel_events.events) == reached  # each depth once, when it is reached
    assert FunnelEvent.objects.filter(kind="scroll").count() == 4

    page.evaluate("window.scrollTo(0, 0)")
    page.locator("a[data-cta=hero_signup]").click()
    page.wait_for_url("**/accounts/signup/**")
    click = funnel_events.wait_for(lambda events: next((e for e in events if e.kind == "cta_clicked"), None), "the CTA click")
    assert click.cta == "hero_signup" and click.path == "/"
    started = FunnelEvent.objects.get(kind="signup_started")
    assert started.cta == "hero_signup" and started.visitor == click.visitor
    assert page.external_requests == []


def test_the_demo_says_clearly_when_its_limit_is_reached(page, settings):
    settings.VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = 0
    page.goto("/")
    page.locator("#demo-speak").click()
    status = page.locator("#demo-status")
    status.filter(has_text="Demo limit reached").wait_for()
    assert "Try again in" in status.inner_text()
    assert page.locator("#demo-audio").is_hidden()


@pytest.mark.model
def test_the_demo_plays_audio_from_the_real_engine(page, engine):
    page.goto("/")
    page.fill("#demo-text", "Hello from Voicehub.")
    page.select_option("#demo-voice", "am_michael")
    page.locator("#demo-speak").click()
    wait_for_function(page, "() => document.querySelector('#demo-audio').duration > 0", timeout=60_000)
    duration = page.evaluate("document.querySelector('#demo-audio').duration")
    assert 0.5 < duration < 10
    assert page.locator("#demo-audio").is_visible()
    assert FunnelEvent.objects.filter(kind="demo_played").count() == 1
    assert page.external_requests == []

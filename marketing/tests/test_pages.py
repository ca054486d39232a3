import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.urls import Resolver404, resolve

from voicehub_site.testing import untranslated_words

pytestmark = pytest.mark.django_db


class Links(HTMLParser):
    """The links (a href) and the page's own resources (link href, script src, img src) of an HTML page."""

    def __init__(self):
        super().__init__()
        self.links, self.assets, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif (
            tag == "link"
            and attrs.get("rel") in ("stylesheet", "icon", "preload", "modulepreload")
            and attrs.get("href")
        ):
            self.assets.append(attrs["href"])
        elif tag in ("script", "img", "source", "audio", "iframe") and attrs.get("src"):
            self.assets.append(attrs["src"])


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def is_marketing(path: str) -> bool:
    try:
        return resolve(path).namespace == "marketing"
    except Resolver404:
        return False


def test_every_internal_link_on_every_marketing_page_answers_200(visitor):
    seen, queue, checked = set(), ["/"], {}
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        response = visitor.get(path)
        checked[path] = response.status_code
        if not is_marketing(urlsplit(path).path) or "text/html" not in response["Content-Type"]:
            continue
        for href in parse(response.content.decode()).links:
            url = urlsplit(urljoin("http://testserver" + path, href))
            if url.scheme in ("http", "https") and url.netloc == "testserver":
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    failures = {path: status for path, status in checked.items() if status != 200}
    assert failures == {}
    marketing_pages = {path for path in checked if is_marketing(urlsplit(path).path)}
    assert {"/", "/pricing", "/faq", "/privacy", "/terms"} <= marketing_pages
    assert any(path.startswith("/accounts/signup/?plan=") for path in checked)  # the plan CTAs were followed


def test_the_landing_page_has_its_eleven_sections_and_one_h1(visitor):
    html = visitor.get("/").content.decode()
    for section in (
        "top",
        "problem",
        "features",
        "demo",
        "comparison",
        "use-cases",
        "scenarios",
        "pricing",
        "faq",
        "get-started",
    ):
        assert f'id="{section}"' in html, section
    assert '<footer class="mk-footer">' in html
    assert html.count("<h1") == 1
    for vendor in ("ElevenLabs", "Google Cloud TTS", "Amazon Polly"):
        assert vendor in html
    assert "not customer testimonials" in html  # the scenarios are labelled as such


def test_the_landing_page_weighs_under_150_kb_compressed_and_loads_nothing_from_elsewhere(visitor):
    """HTML + CSS + JS + images before the demo is used, each gzip-compressed as a server would send it."""
    response = visitor.get("/")
    html = response.content
    page = parse(html.decode())
    assert page.assets, "the page links its stylesheet and scripts"
    total = len(gzip.compress(html))
    for src in page.assets:
        if src.startswith("data:"):
            continue  # inside the HTML already: no request
        url = urlsplit(urljoin("http://testserver/", src))
        assert url.netloc == "testserver", f"{src} is loaded from another site"
        asset = visitor.get(url.path)
        assert asset.status_code == 200, src
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        total += len(gzip.compress(body))
    assert total < 150_000
    assert not re.search(rb"""(src|href)=["']//""", html)


def test_pages_carry_a_description_and_open_graph(visitor):
    for path in ("/", "/pricing", "/faq", "/privacy", "/terms"):
        html = visitor.get(path).content.decode()
        description = re.search(r'<meta name="description" content="([^"]+)"', html)
        assert description and len(description.group(1)) > 20, path
        assert '<meta property="og:title"' in html and '<meta property="og:description"' in html, path
        assert f'<meta property="og:url" content="http://testserver{path}"' in html, path


def test_the_faq_answers_voice_cloning_honestly_with_faqpage_structured_data(visitor):
    html = visitor.get("/faq").content.decode()
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))
    assert data["@type"] == "FAQPage"
    questions = {item["name"]: item["acceptedAnswer"]["text"] for item in data["mainEntity"]}
    assert len(questions) >= 6
    cloning = next(answer for question, answer in questions.items() if "clone" in question)
    assert cloning.startswith("No.") and "cannot clone" in cloning
    assert any("Apache-2.0" in answer for answer in questions.values())
    for question in questions:
        assert question.replace("'", "&#x27;") in html  # the page shows what the structured data says


def test_robots_txt_points_to_the_sitemap_which_lists_the_pages(visitor):
    robots = visitor.get("/robots.txt")
    assert robots["Content-Type"].startswith("text/plain")
    assert "Sitemap: http://testserver/sitemap.xml" in robots.content.decode()
    assert "Disallow: /admin/" in robots.content.decode()
    sitemap = visitor.get("/sitemap.xml").content.decode()
    for path in ("/", "/pricing", "/faq", "/privacy", "/terms"):
        assert f"<loc>http://testserver{path}</loc>" in sitemap


def test_favicon_ico_is_a_redirect_to_a_static_icon_and_every_page_links_one(visitor):
    response = visitor.get("/favicon.ico")
    assert response.status_code == 302
    icon = visitor.get(response["Location"])
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    for path in ("/", "/accounts/login/"):  # the marketing layout and the site's base layout
        icons = [
            href for href in parse(visitor.get(path).content.decode()).assets if "favicon" in href or "data:," in href
        ]
        assert icons, path
        assert "data:," not in icons, path  # no empty placeholder that a browser would show instead
        for href in icons:
            assert visitor.get(href).status_code == 200


def test_an_unknown_address_is_a_404_page_in_the_site_look(visitor):
    response = visitor.get("/no-such-page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This page has nothing to say." in html
    assert "marketing/site.css" in html and 'href="/"' in html


def test_marketing_templates_are_ready_for_translation():
    templates = list(Path(settings.BASE_DIR, "marketing", "templates", "marketing").rglob("*.html"))
    templates.append(Path(settings.BASE_DIR, "templates", "404.html"))
    for template in templates:
        words = untranslated_words(template)
        assert words == [], f"{template.name}: untranslated text {words[:5]}"


class Nav(HTMLParser):
    """The links (text, href) of the page's header navigation, and whether it has a menu button."""

    def __init__(self):
        super().__init__()
        self.links, self.toggle, self._in_nav, self._href, self._text = [], None, False, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "header" and attrs.get("class") == "mk-header":
            self._in_nav = True
        elif self._in_nav and tag == "button":
            self.toggle = attrs
        elif self._in_nav and tag == "a":
            self._href, self._text = attrs["href"], []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "header":
            self._in_nav = False
        elif tag == "a" and self._href is not None:
            self.links.append((" ".join("".join(self._text).split()), self._href))
            self._href = None


def nav_of(html: str) -> Nav:
    nav = Nav()
    nav.feed(html)
    return nav


@pytest.mark.parametrize("path", ["/", "/pricing", "/faq", "/privacy", "/terms", "/news/sent", "/no-such-page"])
def test_every_marketing_page_has_the_header_navigation(visitor, path):
    nav = nav_of(visitor.get(path).content.decode())
    texts = dict(nav.links)
    assert texts["Demo"] == "/#demo"
    assert texts["Pricing"] == "/pricing" and texts["FAQ"] == "/faq"
    assert texts["Docs"] in ("/docs/quickstart", "/redoc")  # the quickstart, or the API reference without it
    assert texts["Log in"].startswith("/accounts/login/")
    assert texts["Sign up"].startswith("/accounts/signup/")
    assert "Studio" not in texts
    assert nav.links[0] == ("Voicehub — home", "/")  # the logo leads home
    # The compact menu's button: a real button naming the list it opens (shown by nav.js, so hidden without it).
    assert (
        nav.toggle["type"] == "button"
        and nav.toggle["aria-controls"] == "mk-menu"
        and nav.toggle["aria-expanded"] == "false"
    )


def test_the_header_offers_the_studio_instead_of_log_in_when_signed_in(client):
    from voicehub_site.testing import verified_user

    client.force_login(verified_user("nav@voicehub.test"))
    texts = dict(nav_of(client.get("/").content.decode()).links)
    assert texts["Studio"] == "/studio/"
    assert "Log in" not in texts and "Sign up" not in texts


def test_the_docs_link_follows_the_quickstart_when_there_is_one(visitor):
    from marketing.templatetags.marketing import QUICKSTART, docs_url

    href = dict(nav_of(visitor.get("/").content.decode()).links)["Docs"]
    assert href == docs_url()
    assert visitor.get(href).status_code == 200
    try:
        resolve(QUICKSTART)
    except Resolver404:
        assert href != QUICKSTART  # not a link to a page this build lacks
    else:
        assert href == QUICKSTART


HERO_IDS = ["af_heart", "am_michael", "bf_emma", "bm_george", "af_bella", "am_fenrir"]


class SampleButtons(HTMLParser):
    def __init__(self):
        super().__init__()
        self.buttons = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "button" and "mk-sample" in (attrs.get("class") or ""):
            self.buttons.append(attrs)


def sample_buttons(html: str) -> list[dict]:
    parser = SampleButtons()
    parser.feed(html)
    return parser.buttons


@pytest.mark.usefixtures("isolated_media")
def test_without_rendered_samples_the_hero_disables_its_buttons_and_says_why(visitor):
    response = visitor.get("/")
    assert response.status_code == 200
    buttons = sample_buttons(response.content.decode())
    assert [b["data-voice"] for b in buttons] == HERO_IDS
    assert all("disabled" in b and "data-src" not in b for b in buttons)
    assert "manage.py render_samples" in response.content.decode()
    assert visitor.get("/samples/af_heart.mp3").status_code == 404  # never synthesized on a request


@pytest.mark.usefixtures("isolated_media")
def test_the_hero_plays_the_six_samples_render_samples_kept_without_synthesis(visitor, fake_engine):
    from io import StringIO

    from django.core.files.storage import default_storage
    from django.core.management import call_command

    call_command("render_samples", stdout=StringIO())
    calls = fake_engine.calls
    html = visitor.get("/").content.decode()
    buttons = sample_buttons(html)
    assert [b["data-voice"] for b in buttons] == HERO_IDS
    assert "manage.py render_samples" not in html
    for button in buttons:
        assert "disabled" not in button
        response = visitor.get(button["data-src"])
        assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
        with default_storage.open(f"previews/{button['data-voice']}.mp3", "rb") as kept:
            assert b"".join(response.streaming_content) == kept.read()  # the file render_samples kept, as it is
        assert response["Cache-Control"] == "public, max-age=86400"
    assert fake_engine.calls == calls  # each was played from its file
    assert visitor.get("/samples/am_adam.mp3").status_code == 404  # only the hero's six

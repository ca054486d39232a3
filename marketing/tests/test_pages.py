import gzip
import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

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
        elif tag == "link" and attrs.get("rel") in ("stylesheet", "icon", "preload", "modulepreload") and attrs.get("href"):
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
    for section in ("top", "problem", "features", "demo", "comparison", "use-cases", "scenarios", "pricing", "faq", "get-started"):
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
        icons = [href for href in parse(visitor.get(path).content.decode()).assets if "favicon" in href or "data:," in href]
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
    from pathlib import Path

    from django.conf import settings

    templates = list(Path(settings.BASE_DIR, "marketing", "templates", "marketing").rglob("*.html"))
    templates.append(Path(settings.BASE_DIR, "templates", "404.html"))
    for template in templates:
        source = template.read_text()
        if "{% translate" in source or "{% blocktranslate" in source:
            assert "{% load i18n" in source, template
        # Text outside tags must be inside {% translate %}: strip tags, variables and translated parts.
        stripped = re.sub(r"{%\s*(blocktranslate|comment).*?end\1\s*%}", "", source, flags=re.S)
        stripped = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", stripped, flags=re.S)
        stripped = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", "", stripped, flags=re.S)
        words = [w for w in re.findall(r"[A-Za-z]{3,}", stripped) if w not in {"Voicehub"}]
        assert words == [], f"{template.name}: untranslated text {words[:5]}"

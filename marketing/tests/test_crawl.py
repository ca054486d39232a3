"""
The site as a visitor clicks through it: a real Chromium follows every same-origin link from /,
page after page (the marketing pages, /docs/quickstart, /docs, /redoc, /status, the sign-in
pages), and no page may answer an error or make a request that leaves the site.
"""

from urllib.parse import urlsplit

import pytest

from voicehub_site.tests.helpers import NOT_PROBED

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_cache")]

# Links a crawler must not follow: they change something (signing out, confirming an address).
MUTATING = ("logout", "/news/confirm/", "/accounts/confirm-email/")
# NOT_PROBED: /readyz, which /status links for monitors: it starts loading the model, and answers 503 until it is loaded.
# Pages that draw themselves with a script: what shows they ran (and read the schema).
DRAWN = {"/docs": ".swagger-ui .info .title", "/redoc": "text=API docs by Redocly"}
MAX_PAGES = 80  # a generous ceiling: a link loop fails here instead of crawling forever


class Crawl:
    def __init__(self, page, origin):
        self.page, self.origin = page, origin
        self.current = None
        self.status: dict[str, int] = {}  # every same-origin URL opened: its final status
        self.opened: list[str] = []  # the HTML pages, in the order they were opened
        self.errors: list[str] = []  # a ≥ 400 answer of the site to any request of a page (a script, a style, a beacon)
        self.refused: list[str] = []  # a request the Content-Security-Policy stopped: it tried to leave the site
        self.leaving: dict[str, list[str]] = {}  # page -> requests that left the site
        page.on("response", self._response)
        page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and self.refused.append(f"{self.current}: {m.text}"),
        )

    def _response(self, response):
        if response.url.startswith(self.origin) and response.status >= 400:
            self.errors.append(f"{self.current}: {response.status} {response.url}")

    def key(self, url: str) -> str | None:
        """The path a link opens, when it stays on the site and changes nothing; None otherwise."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or parts.path in NOT_PROBED:
            return None
        if any(word in parts.path for word in MUTATING):
            return None
        return parts.path

    def run(self, start="/"):
        queue, seen = [self.origin + start], {start}
        while queue:
            assert len(self.opened) < MAX_PAGES, f"more than {MAX_PAGES} pages: {self.opened}"
            url = queue.pop(0)
            path = self.key(url)
            self.current = path
            answer = self.page.request.get(url)  # the context's cookies; redirects followed, as a click would
            self.status[path] = answer.status
            if answer.status >= 400 or "text/html" not in answer.headers.get("content-type", ""):
                continue  # an error (reported), or a document such as the schema: nothing to click in it
            before = len(self.page.external_requests)
            self.page.goto(url)
            if path in DRAWN:
                self.page.wait_for_selector(DRAWN[path])
            self.page.wait_for_load_state("networkidle")
            self.opened.append(path)
            if len(self.page.external_requests) > before:
                self.leaving[path] = self.page.external_requests[before:]
            for href in self.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                target = self.key(href)
                if target is not None and target not in seen:
                    seen.add(target)
                    queue.append(href.split("#")[0])
        return self


def test_crawling_the_site_from_the_home_page_finds_no_error_and_no_request_off_the_site(page, live_asgi):
    crawl = Crawl(page, live_asgi.url).run("/")

    # The crawl reached what a visitor reaches: the marketing pages, the docs, the status page, signing in.
    expected = {
        "/",
        "/pricing",
        "/faq",
        "/privacy",
        "/terms",
        "/docs/quickstart",
        "/docs",
        "/redoc",
        "/status",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    }
    assert expected <= set(crawl.opened), sorted(expected - set(crawl.opened))
    assert {path: status for path, status in crawl.status.items() if status >= 400} == {}
    assert crawl.errors == []
    assert crawl.leaving == {} and crawl.refused == []
    assert page.external_requests == []


def test_crawling_the_studio_signed_in_finds_no_error_and_no_request_off_the_site(page, live_asgi, cast):
    from voicehub_site.testing import PASSWORD

    page.goto("/accounts/login/")
    page.fill("input[name=login]", cast.alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url("**/studio/")

    crawl = Crawl(page, live_asgi.url).run("/studio/")

    # The studio's nav, and from its Docs link the docs and the rest of the site.
    expected = {
        "/studio/",
        "/studio/history/",
        "/studio/jobs/",
        "/studio/voices/",
        "/studio/keys/",
        "/studio/usage/",
        "/studio/plan/",
        "/organizations/team/",
        "/docs/quickstart",
        "/docs",
        "/redoc",
    }
    assert expected <= set(crawl.opened), sorted(expected - set(crawl.opened))
    assert {path: status for path, status in crawl.status.items() if status >= 400} == {}
    assert crawl.errors == []
    assert crawl.leaving == {} and crawl.refused == []
    assert page.external_requests == []

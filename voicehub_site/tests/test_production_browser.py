"""
The production server's pages in a real Chromium, under their Content-Security-Policy: no page
may trip it (a `securitypolicyviolation` event, or a CSP error on the console), fail to load
one of its own files, or throw. The pages come from the URLconf: every parameterless route a
visitor, a signed-in user or the operator (the admin) opens with a 200 HTML answer.
"""

import json

import pytest

from voicehub_site.testing import wait_for_function
from voicehub_site.tests.helpers import BROWSER_UA, html_pages, signed_in_pages

PASSWORD = "correct horse battery staple 7"

# Registered before any page script runs; Playwright's init scripts are not subject to the page's policy.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => window.__cspViolation(JSON.stringify({
  directive: event.effectiveDirective, blocked: event.blockedURI, sample: event.sample,
  source: event.sourceFile, line: event.lineNumber,
})));
"""


class Problems:
    """What went wrong on each page: CSP violations, CSP console errors, failed own files, script errors."""

    def __init__(self, context, origin):
        self.origin, self.current, self.found = origin, None, {}
        context.expose_function("__cspViolation", lambda report: self.add(f"violation {report}"))
        context.add_init_script(REPORT_VIOLATIONS)

    def add(self, problem):
        self.found.setdefault(self.current, []).append(problem)

    def watch(self, page):
        page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text and self.add(f"console {m.text}"))
        page.on("pageerror", lambda error: self.add(f"script error {error}"))
        page.on("response", lambda r: r.url.startswith(self.origin) and r.status >= 400 and r.request.resource_type != "document"
                and self.add(f"{r.status} {r.url}"))
        # A request cut short by the next navigation (ERR_ABORTED) is no failure of the page.
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and self.add(f"request failed {r.url} {r.failure}"))


@pytest.fixture
def chromium(browser, production_server):
    """A browser context on the production server, behind its (simulated) TLS proxy; `.problems` found so far."""
    context = browser.new_context(base_url=production_server.url, user_agent=BROWSER_UA,
                                  extra_http_headers={"X-Forwarded-Proto": "https"})
    problems = Problems(context, production_server.url)
    page = context.new_page()
    problems.watch(page)
    page.problems = problems
    yield page
    context.close()


def visit(page, paths) -> list[str]:
    """Open each path that answers this browser's GET with a 200 page, and let it settle; the paths opened.

    The others (a POST-only action's 405, an add page of a read-only admin model) are no page to check.
    """
    opened = []
    for path in paths:
        answer = page.request.get(path, max_redirects=0)  # the context's cookies and headers
        if answer.status != 200 or "text/html" not in answer.headers.get("content-type", ""):
            continue
        page.problems.current = path
        response = page.goto(path)
        if "object-src 'none'" not in (response.headers.get("content-security-policy") or ""):
            page.problems.add("no Content-Security-Policy to keep to")  # nothing to violate proves nothing
        page.wait_for_load_state("networkidle")
        opened.append(path)
    return opened


def log_in(page, path, email, landing):
    """Sign in through the login form at `path`; back once the browser has landed on `landing`."""
    page.problems.current = path
    page.goto(path)
    page.fill("input[name=login]", email)  # the admin's login too is allauth's (it redirects there)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"**{landing}")


def test_every_public_page_keeps_to_its_content_security_policy(chromium, production_server, routes):
    pages = html_pages(routes)
    assert {"/", "/docs", "/redoc", "/accounts/login/"} <= set(pages)

    opened = visit(chromium, pages)
    chromium.problems.current = "/docs"
    chromium.goto("/docs")
    chromium.wait_for_selector(".swagger-ui .info .title")  # Swagger UI ran and read the schema
    chromium.problems.current = "/redoc"
    chromium.goto("/redoc")
    chromium.wait_for_selector("h1:has-text('Voicehub API')")  # so did ReDoc

    assert opened == pages
    assert chromium.problems.found == {}


def test_the_studio_keeps_to_its_content_security_policy_signed_in(chromium, production_server, routes):
    production_server.create_user("studio@example.com", PASSWORD)
    log_in(chromium, "/accounts/login/", "studio@example.com", landing="/studio/")
    assert [c["name"] for c in chromium.context.cookies() if "session" in c["name"]] == ["__Host-sessionid"]

    opened = visit(chromium, signed_in_pages(routes, ("/studio/", "/organizations/", "/accounts/")))
    chromium.problems.current = "/studio/jobs/ (websocket)"
    chromium.goto("/studio/jobs/")
    # The jobs page's live updates: connect-src admits the socket, the server accepts it (origin, session).
    wait_for_function(chromium, "() => window.voicehubJobs.socket === 'open'", timeout=30_000)

    assert {"/studio/", "/studio/history/", "/studio/jobs/", "/studio/keys/", "/studio/usage/", "/organizations/team/",
            "/accounts/email/", "/accounts/2fa/"} <= set(opened)
    assert chromium.problems.found == {}


def test_the_admin_keeps_to_its_content_security_policy(chromium, production_server, routes):
    production_server.create_user("operator@example.com", PASSWORD, superuser=True)
    log_in(chromium, "/admin/login/", "operator@example.com", landing="/admin/")

    opened = visit(chromium, signed_in_pages(routes, ("/admin/",)))

    assert {"/admin/", "/admin/accounts/requestlog/dashboard/", "/admin/accounts/requestlog/funnel/",
            "/admin/accounts/organization/", "/admin/accounts/user/add/"} <= set(opened)
    assert chromium.problems.found == {}


def test_a_violation_is_caught(chromium, production_server):
    """The watch itself: an inline script on a page of ours is refused, and reported."""
    chromium.problems.current = "/"
    chromium.goto("/")
    chromium.evaluate("""() => new Promise((reported) => {
      document.addEventListener("securitypolicyviolation", reported, {once: true});  // after the watch's listener
      const script = document.createElement("script");
      script.textContent = "1";
      document.body.append(script);
    })""")

    assert [json.loads(p.split(" ", 1)[1])["directive"] for p in chromium.problems.found["/"] if p.startswith("violation")] == [
        "script-src-elem"]

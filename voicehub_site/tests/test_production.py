"""
The production deployment, tested as deployed: static files built by the Dockerfile's own
collectstatic step, the server started by its CMD with production settings
(voicehub_site.testing.production_server), requests as the TLS-terminating proxy sends them.

Every page answers, every kind of response carries the security headers, the session and
CSRF cookies are __Host- cookies, and the per-address limits hold whatever a client writes
in X-Forwarded-For.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

from voicehub_site.testing import Dockerfile, _assets_missing, _missing_or_fail
from voicehub_site.tests.helpers import BROWSER_UA, html_pages

ROOT = Path(__file__).resolve().parents[2]
# Pages anyone must be able to open; the URLconf walk (the `routes` fixture) finds the others.
PUBLIC_PAGES = ["/", "/pricing", "/faq", "/privacy", "/terms", "/accounts/login/", "/accounts/signup/",
                "/accounts/password/reset/", "/docs", "/redoc", "/docs/quickstart"]
PUBLIC_DOCUMENTS = ["/api/schema", "/healthz", "/robots.txt", "/sitemap.xml", "/voices"]


# -- every page answers ---------------------------------------------------------------------


def test_no_route_answers_a_server_error_in_production(routes):
    assert len(routes) > 40  # the walk found the URLconf
    assert {path: r.status for path, r in routes.items() if r.status >= 500} == {}


def test_every_public_page_and_document_answers_200(routes):
    assert {path: routes[path].status for path in PUBLIC_PAGES + PUBLIC_DOCUMENTS if routes[path].status != 200} == {}
    assert set(PUBLIC_PAGES) <= set(html_pages(routes))


def test_the_admin_login_is_the_site_login(routes, production_server):
    # The admin's own form (no rate limit, no second factor) only points to allauth's login.
    assert routes["/admin/login/"].status == 302
    assert production_server.get("/admin/login/").headers["Location"].startswith("/accounts/login/")


def test_the_404_page_is_a_404_page(production_server):
    response = production_server.get("/no-such-page")

    assert response.status == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "This page has nothing to say." in response.text()


def test_pages_link_the_hashed_static_files_the_build_made(production_server, production_build):
    html = production_server.get("/").text()
    stylesheet = re.search(r'href="/static/(marketing/site\.[0-9a-f]{12}\.css)"', html)

    assert stylesheet, "the landing page does not link a hashed (manifest) name"
    assert (production_build.static_root / stylesheet.group(1)).is_file()
    assert production_server.get(f"/static/{stylesheet.group(1)}").status == 200


# -- the security headers on every kind of response -------------------------------------------


def csp(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy") or ""
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


def static_file(server) -> str:
    return re.search(r'href="(/static/[^"]+\.css)"', server.get("/").text()).group(1)


def audio_preview(server, build) -> str:
    """A voice preview, already in storage (synthesized once per voice; here a short silence)."""
    if problem := _assets_missing():
        _missing_or_fail(f"{problem}; run: python manage.py install_assets")
    import numpy

    from synthesis.audio import encode, parse_format

    preview = build.media_root / "previews" / "af_heart.mp3"
    preview.parent.mkdir(parents=True, exist_ok=True)
    preview.write_bytes(encode(numpy.zeros(2400, dtype=numpy.float32), 24000, parse_format("mp3")))
    return "/voices/af_heart/preview.mp3"


KINDS = {
    "html page": lambda server, build: ("/", 200, "text/html"),
    "404 page": lambda server, build: ("/no-such-page", 404, "text/html"),
    "json success": lambda server, build: ("/voices", 200, "application/json"),
    "json error": lambda server, build: ("/api/v1/voices", 401, "application/json"),
    "static file": lambda server, build: (static_file(server), 200, "text/css"),
    "audio": lambda server, build: (audio_preview(server, build), 200, "audio/mpeg"),
    "redirect": lambda server, build: ("/studio/", 302, None),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_response_carries_the_security_headers(production_server, production_build, kind):
    path, status, content_type = KINDS[kind](production_server, production_build)
    response = production_server.get(path)

    assert response.status == status
    if content_type:
        assert response.headers["Content-Type"].startswith(content_type)
    policy = csp(response)
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert policy[directive][0] == "'self'" and not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(policy[directive])
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["media-src"] == ["'self'", "blob:"]
    assert policy["connect-src"] == ["'self'", f"wss://{production_server.url.removeprefix('http://')}"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_plain_http_is_redirected_to_https_with_the_headers_but_hsts(production_server):
    response = production_server.get("/pricing", https=False)

    assert response.status == 301 and response.headers["Location"] == f"https://{production_server.url[7:]}/pricing"
    assert csp(response)["object-src"] == ["'none'"] and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # browsers ignore it over plain HTTP


def test_a_load_balancer_probes_health_over_plain_http(production_server):
    assert production_server.get("/healthz", https=False).status == 200


# -- cookies ----------------------------------------------------------------------------------


def cookies_set(response) -> dict[str, dict[str, str]]:
    """{name: {"value": …, attribute (lower case): value or ""}} from the response's Set-Cookie headers."""
    cookies = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        (name, value), *attributes = (part.strip().partition("=")[::2] for part in header.split(";"))
        cookies[name] = {"value": value, **{key.lower(): val for key, val in attributes}}
    return cookies


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


class Visitor:
    """A client of the production server that keeps its cookies and sends the CSRF token like a browser."""

    def __init__(self, server, forwarded_for: str | None = None):
        self.server, self.cookies, self.token = server, {}, None
        self.forwarded_for = forwarded_for

    def headers(self, extra=None):
        headers = {"User-Agent": BROWSER_UA, "Origin": f"https://{self.server.url[7:]}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        return {**headers, **(extra or {})}

    def keep(self, response):
        self.cookies.update({name: c["value"] for name, c in cookies_set(response).items()})
        return response

    def get(self, path, **extra):
        response = self.keep(self.server.get(path, headers=self.headers(extra)))
        if 'name="csrfmiddlewaretoken"' in response.text():
            self.token = csrf_token(response.text())
        return response

    def post_form(self, path, fields: dict, **extra):
        from urllib.parse import urlencode

        body = urlencode({"csrfmiddlewaretoken": self.token, **fields}).encode()
        headers = self.headers({"Content-Type": "application/x-www-form-urlencoded", **extra})
        return self.keep(self.server.request("POST", path, headers=headers, body=body))

    def post_json(self, path, payload, **extra):
        headers = self.headers({"Content-Type": "application/json", "X-CSRFToken": self.token, **extra})
        return self.keep(self.server.request("POST", path, headers=headers, body=json.dumps(payload).encode()))


def assert_host_cookie(cookie):
    assert "secure" in cookie and cookie["path"] == "/" and "domain" not in cookie


def test_the_session_and_csrf_cookies_are_host_cookies(production_server):
    production_server.create_user("cookie@example.com", "correct horse battery staple 7")
    visitor = Visitor(production_server)

    form = visitor.get("/accounts/login/")
    csrf = cookies_set(form)
    signed_in = visitor.post_form("/accounts/login/", {"login": "cookie@example.com", "password": "correct horse battery staple 7"})

    assert list(csrf) == ["__Host-csrftoken"]
    assert_host_cookie(csrf["__Host-csrftoken"])
    assert signed_in.status == 302 and signed_in.headers["Location"] == "/studio/"
    session = cookies_set(signed_in)["__Host-sessionid"]
    assert_host_cookie(session)
    assert "httponly" in session
    assert "sessionid" not in visitor.cookies and "csrftoken" not in visitor.cookies
    assert visitor.get("/studio/").status == 200  # the session works under its new name


# -- the client address: X-Forwarded-For as far as TRUSTED_PROXY_COUNT proxies wrote it ------------

# Every demo request is refused (nobody synthesizes here): while the client has tries left
# the global limit answers ("popular"); once its own tries are gone, its own limit does.
LIMITS = {"VOICEHUB_DEMO_PER_CLIENT_PER_HOUR": "2", "VOICEHUB_DEMO_PER_MINUTE": "0",
          "VOICEHUB_LOGIN_FAILED_RATE_LIMIT": "3/h/ip"}


def demo(server, forwarded_for) -> str:
    """Which demo limit answered this client: "client" (its hour's tries are gone) or "global"."""
    visitor = Visitor(server, forwarded_for)
    visitor.get("/")
    response = visitor.post_json("/demo/speak", {"text": "Hello", "voice": "af_heart"})
    assert response.status == 429 and response.json()["code"] == "demo_limited", response.text()[:300]
    return "client" if "this hour" in response.json()["detail"] else "global"


def failed_login(server, forwarded_for, email) -> str:
    """Whether allauth refused the attempt for the address ("refused") or checked the password ("wrong")."""
    visitor = Visitor(server, forwarded_for)
    visitor.get("/accounts/login/")
    response = visitor.post_form("/accounts/login/", {"login": email, "password": "not the password 1"})
    assert response.status == 200, response.status
    return "refused" if "Too many failed login attempts" in response.text() else "wrong"


@pytest.fixture
def needs_the_model_file():
    # The demo loads the model before its limits (it phonemizes and plans the text first).
    if problem := _assets_missing():
        _missing_or_fail(f"{problem}; run: python manage.py install_assets")


def test_without_a_trusted_proxy_a_forged_x_forwarded_for_gets_no_new_budget(start_production_server, needs_the_model_file):
    server = start_production_server(**LIMITS)  # TRUSTED_PROXY_COUNT unset: clients connect directly

    assert [demo(server, None) for _ in range(2)] == ["global", "global"]
    assert [demo(server, f"198.51.100.{n}") for n in range(5)] == ["client"] * 5
    assert [failed_login(server, f"198.51.100.{n}", f"guess{n}@example.com") for n in range(5)] == ["wrong"] * 3 + ["refused"] * 2


def test_behind_one_proxy_the_rightmost_forwarded_address_is_the_client(start_production_server, needs_the_model_file):
    server = start_production_server(TRUSTED_PROXY_COUNT="1", **LIMITS)

    # The client forges the left part; the proxy appends the address it saw.
    assert [demo(server, f"6.6.6.{n}, 203.0.113.7") for n in range(3)] == ["global", "global", "client"]
    assert demo(server, "6.6.6.9, 203.0.113.8") == "global"  # another client, its own tries
    attempts = [failed_login(server, f"6.6.6.{n}, 203.0.113.7", f"guess{n}@example.com") for n in range(4)]
    assert attempts == ["wrong"] * 3 + ["refused"]
    assert failed_login(server, "6.6.6.9, 203.0.113.8", "guess9@example.com") == "wrong"


# -- the deployment files say the same thing ---------------------------------------------------


def test_compose_and_the_deploy_guide_start_the_web_process_as_the_dockerfile_does():
    cmd = Dockerfile.parse((ROOT / "Dockerfile").read_text()).cmd
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    guide = (ROOT / "docs" / "deploy.md").read_text()

    assert "--proxy-headers" not in cmd  # daphne would trust the client's own X-Forwarded-For entry
    assert compose["services"]["web"]["command"] == cmd
    assert f"`{' '.join(cmd)}`" in guide

"""
/docs/quickstart: a key, then a first request in curl, Python, Node, and the OpenAI and ElevenLabs SDKs.

The samples are tested as a reader meets them: the page is fetched from a live server, each code
block is taken as shown, the placeholder key is replaced by a real key of a test organization,
and the text is run (curl by bash, Python by this interpreter, JavaScript by node) against the
real engine. It must write a playable MP3, and the organization must be charged the characters
of the sentence it speaks.
"""

import io
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
import soundfile as sf

from accounts.models import UsageRecord
from marketing.quickstart import KEY_PLACEHOLDER, SNIPPETS
from voicehub_site.testing import _missing_or_fail

# The sentence a sample speaks: "text": "…" (JSON), text: "…" (JavaScript), text="…" / input="…" (the SDKs).
SPOKEN = re.compile(r"""["']?(?:text|input)["']?\s*[:=]\s*"([^"]+)\"""")


@dataclass
class CodeBlock:
    slug: str
    language: str
    output: str
    code: str = ""


class CodeBlocks(HTMLParser):
    """The page's <code data-snippet> elements, as text (what a reader copies)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: dict[str, CodeBlock] = {}
        self.current: CodeBlock | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "code" and "data-snippet" in attrs:
            self.current = CodeBlock(attrs["data-snippet"], attrs["data-language"], attrs["data-output"])
            self.blocks[self.current.slug] = self.current

    def handle_endtag(self, tag):
        if tag == "code":
            self.current = None

    def handle_data(self, data):
        if self.current is not None:
            self.current.code += data


def code_blocks(html: str) -> dict[str, CodeBlock]:
    parser = CodeBlocks()
    parser.feed(html)
    return parser.blocks


# -- the page ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_quickstart_shows_every_sample_with_this_sites_address_and_a_placeholder_key(client, settings):
    settings.ALLOWED_HOSTS = ["api.voicehub.test"]
    response = client.get("/docs/quickstart", HTTP_HOST="api.voicehub.test", secure=True)

    assert response.status_code == 200
    html = response.content.decode()
    blocks = code_blocks(html)
    assert list(blocks) == [snippet.slug for snippet in SNIPPETS]
    assert [block.language for block in blocks.values()] == ["bash", "bash", "python", "javascript", "python", "python"]
    for snippet in SNIPPETS:
        code = blocks[snippet.slug].code
        assert code == snippet.code("https://api.voicehub.test")  # the file, as it is, with the address filled in
        assert "https://api.voicehub.test" in code and "{{" not in code, snippet.slug
        assert KEY_PLACEHOLDER in code and "vh_" not in code, snippet.slug
        assert SPOKEN.search(code), f"{snippet.slug} speaks no sentence the test can find"
    # Streaming, in every language but the first curl.
    assert (
        sum(
            "/stream" in block.code or ".stream(" in block.code or "streaming" in block.code
            for block in blocks.values()
        )
        == 5
    )
    # Where to get a key, and where to read on.
    for link in (
        'href="/accounts/login/?next=%2Fstudio%2Fkeys%2F"',
        'href="/redoc"',
        'href="/docs"',
        'href="/api/schema"',
        'href="/pricing"',
    ):
        assert link in html, link
    assert '<code id="base-url">https://api.voicehub.test</code>' in html


@pytest.mark.django_db
def test_docs_links_open_the_quickstart(client, cast):
    footer = client.get("/").content.decode().split('<footer class="mk-footer">')[1]
    assert '<a href="/docs/quickstart">Docs</a>' in footer
    assert 'href="/redoc">Docs<' not in footer

    client.force_login(cast.alice)
    studio = client.get("/studio/keys/").content.decode()
    assert '<a href="/docs/quickstart">Docs</a>' in studio.split('<nav class="studio-nav"')[1].split("</nav>")[0]
    assert 'href="/docs/quickstart">quickstart</a>' in studio
    assert '<a href="/studio/keys/">Studio → API keys</a>' in client.get("/docs/quickstart").content.decode()


@pytest.mark.django_db
def test_the_sitemap_lists_the_quickstart(client):
    sitemap = client.get("/sitemap.xml").content.decode()
    assert "<loc>http://testserver/docs/quickstart</loc>" in sitemap


# -- every sample, run as shown, against a live server and the real engine --------------------------


def runner(language: str, source, workdir) -> list[str]:
    """The command that runs a sample as its reader would; the tool missing is a skip (a failure under CI)."""
    if language == "bash":
        if not shutil.which("curl"):
            _missing_or_fail("curl is not installed")
        (workdir / "quickstart.sh").write_text(source)
        return ["bash", "-e", "quickstart.sh"]
    if language == "python":
        (workdir / "quickstart.py").write_text(source)
        return [sys.executable, "quickstart.py"]
    if language == "javascript":
        node = shutil.which("node")
        if not node:
            _missing_or_fail("Node.js (node) is not installed")
        (workdir / "quickstart.mjs").write_text(source)
        return [node, "quickstart.mjs"]
    raise AssertionError(f"no runner for {language}")


def local_env() -> dict[str, str]:
    """This environment without proxies: the samples talk to the live server on 127.0.0.1."""
    env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.mark.parametrize("slug", [snippet.slug for snippet in SNIPPETS])
def test_each_sample_as_shown_speaks_an_mp3_and_charges_its_characters(
    slug, live_asgi, cast, engine, finished_requests, fresh_cache, isolated_media, tmp_path
):
    with urllib.request.urlopen(live_asgi.url + "/docs/quickstart") as response:  # noqa: S310 (the live server)
        block = code_blocks(response.read().decode())[slug]
    finished_requests.wait(1)
    assert live_asgi.url in block.code and KEY_PLACEHOLDER in block.code
    text = SPOKEN.search(block.code).group(1)
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = runner(block.language, block.code.replace(KEY_PLACEHOLDER, cast.key(cast.alice)), workdir)

    done = subprocess.run(command, cwd=workdir, env=local_env(), capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, f"{slug} failed:\n{done.stdout}\n{done.stderr}"
    finished_requests.wait(2)  # the sample's request is settled on the server (a stream's charge too)
    audio, rate = sf.read(io.BytesIO((workdir / block.output).read_bytes()))
    assert rate in (24000, 44100) and len(audio) / rate > 1.0, f"{slug} wrote {len(audio) / rate:.2f} s at {rate} Hz"
    record = UsageRecord.objects.get()
    assert (record.organization, record.status, record.characters) == (cast.org_a, "succeeded", len(text))
    cast.org_a.refresh_from_db()
    cast.org_b.refresh_from_db()
    assert (cast.org_a.characters_used, cast.org_b.characters_used) == (len(text), 0)


def test_a_samples_copy_button_copies_the_code_as_shown(page, live_asgi):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_asgi.url)
    page.goto("/docs/quickstart")
    shown = page.locator("#code-openai").inner_text()

    page.get_by_role("button", name="Copy the OpenAI Python SDK sample").click()

    page.locator("#copy-status").filter(has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == shown
    assert page.external_requests == []

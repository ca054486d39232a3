"""
The quickstart's code samples (/docs/quickstart).

Each sample is one file under marketing/snippets/, shown on the page as it is with the site's
own address in place of {{ base_url }}; the key stays the placeholder YOUR_API_KEY.
marketing/tests/test_quickstart.py runs the text the page shows, with a real key, against a
live server: a sample that stops working fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

SNIPPETS_DIR = Path(__file__).resolve().parent / "snippets"
BASE_URL = "{{ base_url }}"
KEY_PLACEHOLDER = "YOUR_API_KEY"
LANGUAGE_LABELS = {"bash": "Shell", "python": "Python", "javascript": "JavaScript"}


@dataclass(frozen=True)
class Snippet:
    slug: str  # the code block's data-snippet, and its anchor on the page
    title: str
    language: str  # how the test runs it: bash, python or javascript
    file: str  # under marketing/snippets/
    output: str  # the audio file it writes
    intro: str  # one sentence above it: what it shows
    install: str = ""  # the command that installs what it needs, if anything
    run: str = ""  # how to run it, where the file needs a name

    @property
    def language_label(self) -> str:
        return LANGUAGE_LABELS[self.language]

    @property
    def source(self) -> str:
        return _read(self.file)

    def code(self, base_url: str) -> str:
        return self.source.replace(BASE_URL, base_url)


@cache
def _read(name: str) -> str:
    return (SNIPPETS_DIR / name).read_text(encoding="utf-8").rstrip("\n")


SNIPPETS = [
    Snippet(
        slug="curl",
        title="curl",
        language="bash",
        file="curl.sh",
        output="hello.mp3",
        intro="One request, one audio file: the native API answers with the whole MP3.",
    ),
    Snippet(
        slug="curl-stream",
        title="curl, streaming",
        language="bash",
        file="curl_stream.sh",
        output="stream.mp3",
        intro="The same body to /api/v1/tts/stream: the audio is sent as it is spoken, the first sentence first.",
    ),
    Snippet(
        slug="python",
        title="Python (requests)",
        language="python",
        file="python_requests.py",
        output="python.mp3",
        intro="Read the stream chunk by chunk, to save it or to play it before the rest is ready.",
        install="pip install requests",
    ),
    Snippet(
        slug="javascript",
        title="JavaScript (Node 20, fetch)",
        language="javascript",
        file="node_fetch.mjs",
        output="node.mp3",
        intro="Node's built-in fetch, nothing to install: the body is piped into a file as it arrives.",
        run="node quickstart.mjs",
    ),
    Snippet(
        slug="openai",
        title="OpenAI Python SDK",
        language="python",
        file="openai_sdk.py",
        output="openai.mp3",
        intro="Already on OpenAI's SDK? Change the base URL and the key; the rest of your code stays.",
        install="pip install openai",
    ),
    Snippet(
        slug="elevenlabs",
        title="ElevenLabs Python SDK",
        language="python",
        file="elevenlabs_sdk.py",
        output="elevenlabs.mp3",
        intro="ElevenLabs' SDK works the same way: point base_url at Voicehub and pass a Voicehub key.",
        install="pip install elevenlabs",
    ),
]

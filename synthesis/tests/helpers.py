"""Plain helpers shared by synthesis's test modules (fixtures live in conftest.py)."""

import io
import json
import os
import re
from datetime import timedelta

import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UsageRecord
from synthesis.models import Generation, Job, JobChapter


def api(secret: str) -> APIClient:
    """An API client that sends `secret` as its bearer key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def make_generation(organization, text="Hello there.", voice="af", **extra):
    """A history item of `organization` with a (fake) audio file in storage (use `isolated_media`)."""
    generation = Generation(
        organization=organization, text=text, voice=voice, output_format="wav", characters=len(text),
        content_type="audio/wav", audio_seconds=1.0, expires_at=timezone.now() + timedelta(days=7), **extra,
    )
    generation.audio.save("audio.wav", ContentFile(b"RIFF-fake-" + text.encode()), save=False)
    generation.save()
    return generation


def make_job(organization, *, title="A short book", status=Job.Status.QUEUED, done=0, total=0, user=None, chapters=1):
    """A long-form job of `organization` with its chapters (no files: see finish)."""
    job = Job.objects.create(
        organization=organization, user=user, source=UsageRecord.Source.STUDIO, title=title, status=status,
        voice="af_heart", output_format="mp3", content_type="audio/mpeg", characters=1200,
        chunks_done=done, chunks_total=total, spoken_done=done * 100, spoken_total=total * 100,
        started_at=timezone.now() if status != Job.Status.QUEUED else None,
    )
    for index in range(chapters):
        JobChapter.objects.create(job=job, index=index, title=f"Chapter {index + 1}", text=f"Chapter {index + 1}. Words.")
    return job


def finish(job):
    """Give a job result files in storage, as the worker's assembly does."""
    job.audio.save("whole.mp3", ContentFile(b"ID3-the-whole-book"), save=False)
    job.timing.save("timing.json", ContentFile(json.dumps({"job": str(job.id), "words": []}).encode()), save=False)
    job.status, job.audio_seconds = Job.Status.SUCCEEDED, 75.0
    job.save()
    for chapter in job.chapters.all():
        chapter.audio.save(f"chapter-{chapter.index}.mp3", ContentFile(f"ID3-chapter-{chapter.index}".encode()), save=False)
        chapter.audio_seconds = 30.0
        chapter.save()
    return job


# Spellings that are the same words to a listener.
_EQUIVALENT = [
    (re.compile(r"\b([ap])\s*m\b"), r"\1m"),  # "p m", "p.m.", "PM" -> "pm"
    (re.compile(r"\bokay\b"), "ok"),
]


def words(text: str) -> str:
    """A transcript or a reference as bare lower-case words, for comparing what was heard."""
    text = text.lower().replace("-", " ").replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    for pattern, replacement in _EQUIVALENT:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def transcribe(whisper, audio: np.ndarray) -> str:
    """What Whisper (the `whisper` fixture) hears in 24 kHz audio."""
    # Whisper listens at 16 kHz; Kokoro speaks at 24 kHz.
    positions = np.arange(0, len(audio), 24_000 / 16_000)
    resampled = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    segments, _ = whisper.transcribe(resampled, language="en", beam_size=5, condition_on_previous_text=False)
    return " ".join(segment.text for segment in segments)


# Pronunciation lexicons (W3C PLS): a good one, and two that defusedxml must refuse.
PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>UN</grapheme><grapheme>U.N.</grapheme><alias>United Nations</alias></lexeme>
  <lexeme><grapheme>Kokoro</grapheme><phoneme>kəˈkɔɹoʊ</phoneme></lexeme>
  <lexeme><grapheme>tomato</grapheme><phoneme alphabet="x-cmu-arpabet">T AH0 M EY1 T OW0</phoneme></lexeme>
</lexicon>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lexicon [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>laugh</grapheme><alias>&c;</alias></lexeme>
</lexicon>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE lexicon [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>x</grapheme><alias>&secret;</alias></lexeme>
</lexicon>
"""


def make_epub() -> bytes:
    """A two-chapter EPUB (a heading and two paragraphs, then one paragraph), as a reader's export makes one."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("voicehub-test")
    book.set_title("A Short Book")
    book.set_language("en")
    first = epub.EpubHtml(title="Opening", file_name="one.xhtml", lang="en")
    first.content = "<h1>The Harbour</h1><p>The boats came in at dawn.</p><p>Nobody spoke.</p>"
    second = epub.EpubHtml(title="Departure", file_name="two.xhtml", lang="en")
    second.content = "<p>By noon they were gone.</p>"
    book.add_item(first)
    book.add_item(second)
    book.toc = [first, second]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", first, second]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def require_postgres_and_redis() -> None:
    """Skip unless the test database is PostgreSQL and Redis is configured (the scale-out pass of
    manage.py test); under CI that pass must have them, so there their absence fails the test."""
    import pytest
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        message = "needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): runs in the scale-out pass of manage.py test"
        # The first pass of manage.py test (SQLite) skips these; the scale-out pass under CI must run them.
        if os.environ.get("CI", "").lower() == "true" and os.environ.get("VOICEHUB_SCALEOUT_PASS"):
            pytest.fail(message)
        pytest.skip(message)


# -- the studio socket (/ws/tts/), driven through the real ASGI application ----------------------------------

ORIGIN = "http://testserver"
# Slow enough a machine (2 shared cores) can take seconds per sentence; no test asserts a duration.
WAIT = 120


def session_cookie(user, organization=None) -> str:
    from django.conf import settings
    from django.test import Client

    from accounts.tenancy import SESSION_KEY

    client = Client()
    client.force_login(user)
    if organization is not None:
        session = client.session
        session[SESSION_KEY] = organization.pk
        session.save()
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def socket(user=None, *, origin=ORIGIN, organization=None):
    """A WebsocketCommunicator on the studio socket, signed in as `user` (made outside the event loop)."""
    from channels.testing import WebsocketCommunicator

    from voicehub_site.asgi import application

    headers = [(b"origin", origin.encode())] if origin else []
    if user is not None:
        headers.append((b"cookie", session_cookie(user, organization).encode()))
    return WebsocketCommunicator(application, "/ws/tts/", headers=headers)


def run(scenario):
    """Run an async scenario with a fresh in-memory channel layer (its queues belong to one event loop).

    Sockets are made (session cookies and all) before, outside the event loop: the ORM is sync-only.
    """

    from channels.layers import get_channel_layer

    from voicehub_site.testing import run_async

    async def main():
        await get_channel_layer().flush()
        return await scenario()

    return run_async(main)


async def opened(communicator):
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def until_first_audio(communicator) -> list:
    """Frames up to the first progress event after some audio has arrived (synthesis is under way)."""
    frames = []
    while not any(isinstance(f, bytes) for f in frames):
        frames += await frames_until(communicator, last=("started", "progress"))
    return frames


async def frames_until(communicator, last=("done", "cancelled", "error"), timeout=WAIT) -> list:
    """Every frame (dicts for events, bytes for audio) up to and including the first event of type `last`."""
    frames = []
    while True:
        output = await communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        if output.get("bytes") is not None:
            frames.append(output["bytes"])
            continue
        event = json.loads(output["text"])
        frames.append(event)
        if event["type"] in last:
            return frames


def events(frames, kind=None) -> list[dict]:
    return [f for f in frames if isinstance(f, dict) and (kind is None or f["type"] == kind)]


def generate(text, **extra) -> dict:
    return {"type": "generate", "text": text, "voice": "af_heart", "speed": 1.0, "format": "mp3", **extra}

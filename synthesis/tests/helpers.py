"""Plain helpers shared by synthesis's test modules (fixtures live in conftest.py)."""

import json
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

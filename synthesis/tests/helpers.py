"""Plain helpers shared by synthesis's test modules (fixtures live in conftest.py)."""

import re

import numpy as np
from rest_framework.test import APIClient


def api(secret: str) -> APIClient:
    """An API client that sends `secret` as its bearer key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


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

"""The voice catalog as the doors show it, and each voice's short sample."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from synthesis.audio import encode, parse_format
from synthesis.engine.voices import Voice
from synthesis.services.engine import get_engine, get_voice_library


def available_voices() -> list[Voice]:
    return [v for v in get_voice_library().voices.values() if v.available]


def catalog_voice(voice_id: str) -> Voice | None:
    """A catalog voice that is installed, or None."""
    voice = get_voice_library().voices.get(voice_id)
    return voice if voice is not None and voice.available else None


def voice_preview(voice: Voice) -> bytes:
    """A short MP3 of a catalog voice, synthesized once and kept in storage (not charged)."""
    name = f"previews/{voice.id}.mp3"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    engine = get_engine()
    text = f"Hello! I'm {voice.name}. This is how I sound when I read your words aloud."
    content = encode(engine.synthesize(text, voice.id), engine.sample_rate, parse_format("mp3"))
    if not default_storage.exists(name):  # two first requests at once: keep one file
        default_storage.save(name, ContentFile(content))
    return content

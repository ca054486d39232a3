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


def voice_table(voice_id: str):
    """The (510, 1, 256) float32 style table of a voice or a mix ("af_bella(2)+af_sky(1)"); VoiceNotFound if there is none."""
    return get_voice_library().style(voice_id)


def text_phonemes(text: str, language: str) -> tuple[str, list[int]]:
    """What the engine would say for `text` in `language` (a voice language, e.g. "en-us"): its phonemes and token ids.

    The same path as synthesis (normalization for English, eSpeak NG, the model's vocabulary), without the model.
    """
    from synthesis.engine.core import clean_text
    from synthesis.engine.normalize import normalize
    from synthesis.engine.phonemes import phonemize, tokenize

    spoken = clean_text(text)
    if language.startswith("en"):
        spoken = normalize(spoken)
    phonemes = phonemize(spoken, language)
    return phonemes, tokenize(phonemes)

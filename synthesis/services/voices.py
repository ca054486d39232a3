"""The voice catalog as the doors show it, and each voice's short sample."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from synthesis.audio import encode, parse_format
from synthesis.engine.voices import Voice, VoiceNotFound
from synthesis.models import SavedVoice
from synthesis.services.engine import get_engine, get_voice_library

SAVED_PREFIX = "sv_"


def available_voices() -> list[Voice]:
    return [v for v in get_voice_library().voices.values() if v.available]


def catalog_voice(voice_id: str) -> Voice | None:
    """A catalog voice that is installed, or None."""
    voice = get_voice_library().voices.get(voice_id)
    return voice if voice is not None and voice.available else None


def resolve_voice(organization, voice_id: str) -> tuple[str, str | None]:
    """(what the engine speaks, the saved voice's id or None): the one place a voice id a client sent is resolved.

    A saved voice (`sv_...`) is its organization's blend, and only its organization's: for any other
    caller (another organization, the anonymous demo) it is VoiceNotFound, exactly like an unknown id,
    so nobody learns that it exists. Every other id (a catalog voice, an ElevenLabs premade id, a mix
    spec) is the engine's to resolve, and comes back as it was sent.
    """
    if not voice_id.startswith(SAVED_PREFIX):
        return voice_id, None
    saved = None
    if organization is not None:
        saved = organization.saved_voices.filter(public_id=voice_id).only("spec", "public_id").first()
    if saved is None:
        raise VoiceNotFound(voice_id)
    return saved.spec, saved.public_id


def saved_voice(organization, public_id: str) -> SavedVoice | None:
    """One saved voice of the organization by its id, or None (another organization's too)."""
    if organization is None or not public_id.startswith(SAVED_PREFIX):
        return None
    return organization.saved_voices.filter(public_id=public_id).first()


def saved_voices_of(organization) -> list[SavedVoice]:
    """The organization's saved voices, by name; none for the anonymous demo."""
    if organization is None:
        return []
    return list(organization.saved_voices.all())


def voice_names(organization, voice_ids) -> dict[str, str]:
    """Each id as a person reads it: a saved voice (`sv_...`) by the name its organization gave it, a catalog
    voice by its name (Heart for af_heart), anything else (a mix, a voice since removed) as it is."""
    ids = set(voice_ids)
    saved = dict(organization.saved_voices.filter(public_id__in=ids).values_list("public_id", "name")) if organization else {}
    catalog = get_voice_library().voices
    return {
        voice_id: saved.get(voice_id) or (catalog[voice_id].name if voice_id in catalog else voice_id)
        for voice_id in ids
    }


def _preview_name(voice: Voice | str) -> str:
    return f"previews/{voice if isinstance(voice, str) else voice.id}.mp3"


def kept_preview(voice_id: str) -> str | None:
    """The storage name of a catalog voice's sample if `render_samples` (or a first listener) has kept it, else None.

    For pages that must play a kept file and never wait for the model (the landing's hero). Storage only:
    it loads neither the model nor the voice library, so it answers on a server where setup has not run.
    `voice_id` must be a catalog id the caller chose, not a client's string.
    """
    name = _preview_name(voice_id)
    return name if default_storage.exists(name) else None


def voice_preview(voice: Voice) -> bytes:
    """A short MP3 of a catalog voice, synthesized once and kept in storage (not charged).

    `manage.py render_samples` (run by `setup`, `up` and the Docker image) makes them all ahead of time:
    the first listener must not wait for the model (~13 s on a small machine). A miss still renders, once.
    """
    name = _preview_name(voice)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    engine = get_engine()
    text = f"Hello! I'm {voice.name}. This is how I sound when I read your words aloud."
    content = encode(engine.synthesize(text, voice.id), engine.sample_rate, parse_format("mp3"))
    if not default_storage.exists(name):  # two first requests at once: keep one file
        default_storage.save(name, ContentFile(content))
    return content


def voice_previews_render(*, log=lambda message: None) -> tuple[int, int]:
    """Render the sample of every installed catalog voice that has none yet: (rendered, already kept)."""
    rendered = kept = 0
    for voice in sorted(available_voices(), key=lambda v: v.id):
        if default_storage.exists(_preview_name(voice)):
            kept += 1
            continue
        voice_preview(voice)
        rendered += 1
        log(f"Rendered the sample of {voice.id}.")
    return rendered, kept


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

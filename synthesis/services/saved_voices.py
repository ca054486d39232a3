"""An organization's saved voices: named blends of catalog voices, with a preview made once by the model.

Writes go through these functions (the doors and the studio call them); reads are scoped by the
organization (`organization.saved_voices`). Resolution of a saved id to its blend, for every door,
is synthesis.services.voices.resolve_voice.

The preview is a normal synthesis: it goes through session_open (rate limit, concurrency,
quota) and its characters are charged like any request's (at most PREVIEW_MAX_CHARACTERS), once
the preview and the voice are kept (if they cannot be, nothing is). A free preview would be a
way round the quota: create, delete, create again.
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from accounts.models import Organization
from synthesis.audio import parse_format
from synthesis.engine.voices import InvalidVoiceMix, VoiceNotFound
from synthesis.models import SavedVoice
from synthesis.services.engine import get_voice_library
from synthesis.services.errors import StorageUnavailable
from synthesis.services.session import Caller, Order, Refused, session_open, voice_not_found

MAX_SAVED_VOICES = 100  # per organization: the listings of every door carry them all
PREVIEW_MAX_CHARACTERS = 200
# What a preview says when its creator gives no text: a sentence in the blend's language (by eSpeak base).
PREVIEW_SENTENCES = {
    "en": "Hello! This is my new voice. I hope you like how it sounds.",
    "es": "¡Hola! Esta es mi nueva voz. Espero que te guste cómo suena.",
    "fr": "Bonjour ! Voici ma nouvelle voix. J'espère qu'elle vous plaît.",
    "it": "Ciao! Questa è la mia nuova voce. Spero che ti piaccia.",
    "pt": "Olá! Esta é a minha nova voz. Espero que você goste.",
    "hi": "नमस्ते! यह मेरी नई आवाज़ है। आशा है आपको पसंद आएगी।",
    "ja": "こんにちは。これは私の新しい声です。",
    "cmn": "你好！这是我的新声音。希望你喜欢。",
}


def preview_sentence(language: str) -> str:
    base = language.split("-")[0]
    return PREVIEW_SENTENCES.get(base, PREVIEW_SENTENCES["en"])


def blend_spec(spec: str) -> tuple[str, str]:
    """(canonical spec, language) of a blend of 2-5 catalog voices of one language; Refused otherwise.

    The engine's own rules (VoiceLibrary.get) decide what a mix is: one language, weights above 0 and
    at most 100, no mix inside a mix. A saved voice's id is not a catalog voice: saved voices do not nest.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise Refused("invalid_voice_mix", 400, "Say which voices to blend, as in af_bella(2)+af_sky(1).")
    try:
        voice = get_voice_library().get(spec.strip())
    except InvalidVoiceMix as error:
        raise Refused("invalid_voice_mix", 400, error.reason) from None
    except VoiceNotFound as error:
        raise voice_not_found(str(error)) from None
    if not voice.mix or len(voice.mix) < 2:
        raise Refused(
            "invalid_voice_mix",
            400,
            "A saved voice blends two to five voices of one language, as in af_bella(2)+af_sky(1).",
        )
    return voice.id, voice.language


def _check_name(organization: Organization, name: str, *, exclude: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise Refused("invalid_name", 400, "Give the voice a name.")
    if len(name) > 100:
        raise Refused("invalid_name", 400, "A voice's name is at most 100 characters.")
    taken = organization.saved_voices.filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise _name_taken(name)
    return name


def _name_taken(name: str) -> Refused:
    return Refused(
        "voice_name_taken", 409, f"Your organization already has a voice named {name!r}; choose another name."
    )


def saved_voice_create(
    *, caller: Caller, name: str, spec: str, description: str = "", preview_text: str = ""
) -> SavedVoice:
    """Validate the blend and the name, synthesize the preview (charged as a request), keep the voice.

    Raises Refused: invalid_voice_mix (400, e.g. two languages, with the reason), voice_not_found (404),
    invalid_name (400), voice_name_taken (409), saved_voice_limit (409), or what the preview's session
    refuses (429, 402, ...). Nothing is kept when it raises.
    """
    organization = caller.organization
    spec, language = blend_spec(spec)
    name = _check_name(organization, name)
    description = (description or "").strip()
    if len(description) > 1000:
        raise Refused("invalid_description", 400, "A voice's description is at most 1,000 characters.")
    preview_text = (preview_text or "").strip() or preview_sentence(language)
    if len(preview_text) > PREVIEW_MAX_CHARACTERS:
        raise Refused(
            "max_character_limit_exceeded", 400, f"A preview's text is at most {PREVIEW_MAX_CHARACTERS} characters."
        )
    if organization.saved_voices.count() >= MAX_SAVED_VOICES:
        raise Refused(
            "saved_voice_limit",
            409,
            f"An organization keeps at most {MAX_SAVED_VOICES} saved voices; delete one first.",
        )
    voice = SavedVoice(
        organization=organization,
        name=name,
        description=description,
        spec=spec,
        language=language,
        preview_text=preview_text,
        created_by=caller.user,
    )

    def keep(content: bytes) -> None:
        # Run by the session before it charges: if the preview cannot be kept, or the name was taken
        # meanwhile, the preview is not charged (the ledger's rule: what the client has, and no more).
        try:
            voice.preview.save("preview.mp3", ContentFile(content), save=False)
        except OSError as error:
            raise StorageUnavailable("The preview could not be stored; nothing was charged. Retry shortly.") from error
        try:
            with transaction.atomic():
                voice.save()
        except IntegrityError:  # the same name, saved by someone else since _check_name
            voice.preview.delete(save=False)
            raise _name_taken(name) from None

    session_open(
        caller=caller, order=Order(text=preview_text, voice=spec, fmt=parse_format("mp3"), store=False)
    ).render(keep=keep)
    return voice


def saved_voice_update(*, voice: SavedVoice, name: str | None = None, description: str | None = None) -> SavedVoice:
    """Rename it or change its description (the blend and its preview stay: a new blend is a new voice)."""
    if name is not None:
        voice.name = _check_name(voice.organization, name, exclude=voice.pk)
    if description is not None:
        description = description.strip()
        if len(description) > 1000:
            raise Refused("invalid_description", 400, "A voice's description is at most 1,000 characters.")
        voice.description = description
    try:
        with transaction.atomic():
            voice.save(update_fields=["name", "description", "updated_at"])
    except IntegrityError:
        raise _name_taken(voice.name) from None
    return voice


def saved_voice_delete(*, voice: SavedVoice) -> None:
    """Remove it and its preview. History and usage keep its id; new requests naming it get 404 voice_not_found."""
    voice.preview.delete(save=False)
    voice.delete()

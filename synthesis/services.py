"""
The one way into the engine for views, websocket consumers and jobs.

The engine and the voice library are lazy per-process singletons: nothing is
loaded at import or in AppConfig.ready(); the first request (or the warm-up at
server start) pays for it once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Organization, UsageRecord, User
from accounts.quota import quota_refund, quota_reserve, quota_settle

from .audio import OutputFormat, StreamEncoder, encode, encode_wav, parse_format, time_stretch
from .engine.core import Engine, EngineError, check_speed
from .engine.voices import VoiceLibrary
from .models import Generation

_lock = threading.RLock()  # get_engine() takes it, then get_voice_library() again
_engine: Engine | None = None
_library: VoiceLibrary | None = None


def get_voice_library() -> VoiceLibrary:
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                _library = VoiceLibrary.load(settings.VOICEHUB_VOICES_DIR)
    return _library


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = Engine(
                    settings.VOICEHUB_MODEL_PATH,
                    get_voice_library(),
                    workers=settings.VOICEHUB_INFERENCE_WORKERS,
                    threads=settings.VOICEHUB_INFERENCE_THREADS,
                    max_queued=settings.VOICEHUB_MAX_QUEUED_REQUESTS,
                )
    return _engine


def engine_loaded() -> bool:
    return _engine is not None


@dataclass(frozen=True)
class Speech:
    audio: np.ndarray
    sample_rate: int
    characters: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    def wav(self) -> bytes:
        return encode_wav(self.audio, self.sample_rate)


def speech_synthesize(
    *,
    organization: Organization,
    text: str,
    voice_id: str,
    speed: float = 1.0,
    normalize: bool = True,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = UsageRecord.Source.API,
) -> Speech:
    """Charge the organization, synthesize `text` whole, settle or refund.

    Raises VoiceNotFound or InvalidSpeed before charging anything, QuotaExceeded
    when the characters are not there, EngineError (refunded) for text the
    engine cannot speak.
    """
    engine = get_engine()
    engine.voices.get(voice_id)
    speed = check_speed(speed)
    record = quota_reserve(
        organization=organization, characters=len(text), voice=voice_id, user=user, api_key=api_key, source=source
    )
    try:
        audio = engine.synthesize(text, voice_id, speed, normalize=normalize)
    except EngineError as error:
        quota_refund(record=record, error_code=error.code)
        raise
    except BaseException:
        quota_refund(record=record, error_code="internal_error")
        raise
    speech = Speech(audio=audio, sample_rate=engine.sample_rate, characters=len(text))
    quota_settle(record=record, audio_seconds=speech.seconds)
    return speech


class FormatNotAllowed(Exception):
    code = "format_not_allowed"


@dataclass
class Generated:
    """The result of one synthesis: the encoded file and what was charged/kept."""

    content: bytes
    media_type: str
    extension: str
    characters: int
    seconds: float
    generation: Generation | None


def _check_format(organization: Organization, fmt: OutputFormat) -> None:
    allowed = organization.plan.allowed_formats
    if fmt.family not in allowed:
        raise FormatNotAllowed(
            f"Your plan ({organization.plan.name}) allows these formats: {', '.join(allowed)}; '{fmt.name}' needs an upgrade."
        )


def _store(*, organization, user, api_key, record, source, text, voice, speed, fmt, content, seconds) -> Generation:
    generation = Generation(
        organization=organization,
        user=user,
        api_key=api_key,
        usage_record=record,
        source=source,
        text=text,
        voice=voice,
        speed=speed,
        output_format=fmt.name,
        characters=len(text),
        content_type=fmt.media_type,
        audio_seconds=seconds,
        expires_at=timezone.now() + timedelta(days=organization.plan.history_retention_days),
    )
    generation.audio.save(f"audio.{fmt.extension}", ContentFile(content), save=False)
    generation.save()
    return generation


def generation_create(
    *,
    organization: Organization,
    text: str,
    voice_id: str,
    fmt: OutputFormat,
    speed: float = 1.0,
    normalize: bool = True,
    store: bool = True,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = UsageRecord.Source.API,
    stretch: float = 1.0,
) -> Generated:
    """Charge, synthesize, encode, keep in history (unless `store` is false), settle.

    Raises VoiceNotFound, InvalidSpeed or FormatNotAllowed before charging,
    QuotaExceeded when the characters are not there, EngineError (refunded)
    for text the engine cannot speak. `stretch` (0.25-4.0) speeds the model's
    output up or down further without changing pitch, for speeds beyond the
    model's own 0.5-2.0 (OpenAI and ElevenLabs accept 0.25-4.0).
    """
    engine = get_engine()
    voice = engine.voices.get(voice_id)
    speed = check_speed(speed)
    _check_format(organization, fmt)
    record = quota_reserve(
        organization=organization, characters=len(text), voice=voice.id, user=user, api_key=api_key, source=source
    )
    try:
        audio = engine.synthesize(text, voice.id, speed, normalize=normalize)
        if stretch != 1.0:
            audio = time_stretch(audio, engine.sample_rate, stretch)
        content = encode(audio, engine.sample_rate, fmt)
    except EngineError as error:
        quota_refund(record=record, error_code=error.code)
        raise
    except BaseException:
        quota_refund(record=record, error_code="internal_error")
        raise
    seconds = len(audio) / engine.sample_rate
    with transaction.atomic():
        quota_settle(record=record, audio_seconds=seconds)
        generation = (
            _store(organization=organization, user=user, api_key=api_key, record=record, source=source, text=text,
                   voice=voice.id, speed=speed * stretch, fmt=fmt, content=content, seconds=seconds)
            if store
            else None
        )
    return Generated(content, fmt.media_type, fmt.extension, len(text), seconds, generation)


def generation_stream(
    *,
    organization: Organization,
    text: str,
    voice_id: str,
    fmt: OutputFormat,
    speed: float = 1.0,
    normalize: bool = True,
    store: bool = True,
    user: User | None = None,
    api_key: ApiKey | None = None,
    source: str = UsageRecord.Source.API,
    on_close=None,
    stretch: float = 1.0,
) -> Iterator[bytes]:
    """Charge now, then return an iterator of encoded bytes, sentence by sentence.

    The charge is checked before the first byte (so quota errors are proper
    HTTP errors). If the client goes away, synthesis stops and the characters
    of the text not yet spoken are refunded.
    """
    engine = get_engine()
    voice = engine.voices.get(voice_id)
    speed = check_speed(speed)
    _check_format(organization, fmt)
    # Plan the chunks before charging: text with nothing to say is a 400, not a refund.
    _, planned = engine.prepare(text, voice.id, normalize=normalize, quick_start=True)
    planned_characters = sum(len(chunk.text) for chunk in planned)
    record = quota_reserve(
        organization=organization, characters=len(text), voice=voice.id, user=user, api_key=api_key, source=source
    )

    def body() -> Iterator[bytes]:
        encoder = StreamEncoder(fmt, source_rate=engine.sample_rate)
        parts: list[np.ndarray] = []
        spoken = 0  # characters of the (normalized) chunk texts already synthesized
        finished = False
        try:
            yield encoder.header()
            for chunk in engine.stream(text, voice.id, speed, normalize=normalize, quick_start=True):
                # Sentence by sentence: chunks are trimmed and faded at their ends, so they stretch alone.
                piece = chunk.audio if stretch == 1.0 else time_stretch(chunk.audio, engine.sample_rate, stretch)
                parts.append(piece)
                spoken += len(chunk.text)
                data = encoder.feed(piece)
                if data:
                    yield data
            tail = encoder.finish()
            if tail:
                yield tail
            finished = True
        except EngineError as error:
            quota_refund(record=record, error_code=error.code)
            raise
        finally:
            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            seconds = len(audio) / engine.sample_rate
            if finished:
                with transaction.atomic():
                    quota_settle(record=record, audio_seconds=seconds)
                    if store:
                        _store(organization=organization, user=user, api_key=api_key, record=record, source=source,
                               text=text, voice=voice.id, speed=speed * stretch, fmt=fmt,
                               content=encode(audio, engine.sample_rate, fmt), seconds=seconds)
            else:
                # Cut short (client gone, or an error): charge the share of the
                # text already spoken, refund the rest.
                quota_settle(record=record, audio_seconds=seconds, characters=round(len(text) * spoken / planned_characters))
            if on_close is not None:
                on_close()

    return body()


def voice_preview(voice) -> bytes:
    """A short MP3 of a catalog voice, synthesized once and kept in storage (not charged)."""
    name = f"previews/{voice.id}.mp3"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as stored:
            return stored.read()
    engine = get_engine()
    text = "Hello! I'm {name}. This is how I sound when I read your words aloud.".format(name=voice.name)
    content = encode(engine.synthesize(text, voice.id), engine.sample_rate, parse_format("mp3"))
    if not default_storage.exists(name):  # two first requests at once: keep one file
        default_storage.save(name, ContentFile(content))
    return content

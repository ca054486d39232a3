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
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import ApiKey, Organization, UsageRecord, User
from accounts.quota import quota_refund, quota_reserve, quota_settle

from synthesis.audio import OutputFormat, StreamEncoder, encode, encode_wav, parse_format, time_stretch
from synthesis.engine import timing
from synthesis.engine.core import AudioChunk, Engine, EngineError, check_speed
from synthesis.engine.voices import VoiceLibrary
from synthesis.models import Generation

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
    generated, _ = _generation_run(
        organization=organization, text=text, voice_id=voice_id, fmt=fmt, speed=speed, normalize=normalize,
        store=store, user=user, api_key=api_key, source=source, stretch=stretch, timed=False,
    )
    return generated


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
    store_fmt: OutputFormat | None = None,
) -> ClosingStream:
    """Charge now, then return an iterator of encoded bytes, sentence by sentence.

    The charge is checked before the first byte (so quota errors are proper
    HTTP errors). If the client goes away, synthesis stops and the characters
    of the text not yet spoken are refunded.

    `store_fmt` keeps the history file in another format than the one streamed
    (the studio plays raw PCM as it arrives but keeps the MP3 the user chose);
    the plan's formats are checked against it. The returned stream's
    `progress` says how far synthesis got, what was charged and what was kept.
    """
    engine = get_engine()
    voice = engine.voices.get(voice_id)
    speed = check_speed(speed)
    store_fmt = store_fmt or fmt
    _check_format(organization, store_fmt)
    # Plan the chunks before charging: text with nothing to say is a 400, not a refund.
    _, planned = engine.prepare(text, voice.id, normalize=normalize, quick_start=True)
    planned_characters = sum(len(chunk.text) for chunk in planned)
    record = quota_reserve(
        organization=organization, characters=len(text), voice=voice.id, user=user, api_key=api_key, source=source
    )
    progress = StreamProgress(characters_total=len(text))

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
                progress.characters_done = round(len(text) * spoken / planned_characters)
                progress.seconds += len(piece) / engine.sample_rate
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
                        progress.generation = _store(
                            organization=organization, user=user, api_key=api_key, record=record, source=source,
                            text=text, voice=voice.id, speed=speed * stretch, fmt=store_fmt,
                            content=encode(audio, engine.sample_rate, store_fmt), seconds=seconds,
                        )
                progress.characters_charged = len(text)
            else:
                # Cut short (client gone, or an error): charge the share of the
                # text already spoken, refund the rest.
                progress.characters_charged = round(len(text) * spoken / planned_characters)
                quota_settle(record=record, audio_seconds=seconds, characters=progress.characters_charged)
            if on_close is not None:
                on_close()

    def abandon() -> None:
        # Closed before the first byte was asked for: a generator that never
        # started runs no `finally`, so the reservation and the caller's slot
        # would otherwise stay taken.
        quota_refund(record=record, error_code="client_closed")
        progress.characters_charged = 0
        if on_close is not None:
            on_close()

    return ClosingStream(body(), on_abandon=abandon, progress=progress)


@dataclass
class StreamProgress:
    """How far a generation_stream got; written by the stream as it runs, read by its consumer."""

    characters_total: int
    characters_done: int = 0  # share of the text spoken so far (what a cut would charge)
    seconds: float = 0.0  # audio produced so far
    characters_charged: int | None = None  # set once the stream is settled or refunded
    generation: Generation | None = None  # the history row, once finished (and `store`)


class ClosingStream:
    """An iterator over a generator whose close() also covers the never-started case."""

    def __init__(self, generator: Iterator[bytes], *, on_abandon, progress: StreamProgress | None = None):
        self._generator = generator
        self._on_abandon = on_abandon
        self.progress = progress
        self._started = False
        self._closed = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        self._started = True
        return next(self._generator)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._started:
            self._on_abandon()
        self._generator.close()


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


# -- timestamps ----------------------------------------------------------------


class TimestampsUnavailable(Exception):
    """The model in use reports no durations: the timed model is not installed."""

    code = "timestamps_unavailable"


@dataclass
class GeneratedWithTimestamps(Generated):
    """A Generated file, plus when each character is spoken (ElevenLabs' alignment objects).

    `alignment` is over the text as written; `normalized_alignment` over the
    text as spoken (numbers, symbols and abbreviations written out, sentences
    joined by one space). See synthesis.engine.timing for how both are built.
    """

    alignment: dict
    normalized_alignment: dict


def _generation_run(
    *, organization, text, voice_id, fmt, speed, normalize, store, user, api_key, source, stretch, timed: bool
) -> tuple[Generated, list[AudioChunk] | None]:
    """generation_create's work, also handing back the chunks (with their word timings) when `timed`."""
    engine = get_engine()
    voice = engine.voices.get(voice_id)
    speed = check_speed(speed)
    _check_format(organization, fmt)
    record = quota_reserve(
        organization=organization, characters=len(text), voice=voice.id, user=user, api_key=api_key, source=source
    )
    chunks = None
    try:
        if timed:
            # What engine.synthesize does, keeping the chunks: same audio.
            chunks = list(engine.stream(text, voice.id, speed, normalize=normalize, quick_start=False))
            audio = np.concatenate([c.audio for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)
        else:
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
    return Generated(content, fmt.media_type, fmt.extension, len(text), seconds, generation), chunks


def generation_with_timestamps(
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
) -> GeneratedWithTimestamps:
    """generation_create, plus when each character of the text is spoken.

    The times come from the durations the model predicts for each phoneme,
    returned by the same model call as the audio (no extra cost). Raises what
    generation_create raises, and TimestampsUnavailable (before charging)
    when the timed model is not installed.
    """
    engine = get_engine()
    if not engine.has_timings:
        raise TimestampsUnavailable("Timestamps are unavailable: the timed model is not installed on this server.")
    generated, chunks = _generation_run(
        organization=organization, text=text, voice_id=voice_id, fmt=fmt, speed=speed, normalize=normalize,
        store=store, user=user, api_key=api_key, source=source, stretch=stretch, timed=True,
    )
    rate = engine.sample_rate
    raw_seconds = sum(len(c.audio) for c in chunks) / rate
    # time_stretch changes the length by ~1/stretch; scale by what it did.
    scale = generated.seconds / raw_seconds if raw_seconds else 1.0
    spoken, words = timing.timeline([(c.text, c.words, len(c.audio) / rate) for c in chunks], scale)
    voice = engine.voices.get(voice_id)
    written = timing.carry_over(words, spoken, text, lambda t: engine.spoken_form(t, voice, normalize=normalize))
    return GeneratedWithTimestamps(
        **vars(generated),
        alignment=timing.alignment(written, text, generated.seconds),
        normalized_alignment=timing.alignment(words, spoken, generated.seconds),
    )


def generation_delete(generation: Generation) -> None:
    """Remove a history item and its stored audio (the usage row stays: it is the ledger)."""
    generation.audio.delete(save=False)
    generation.delete()


def usage_per_day(organization: Organization, *, start: date, end: date) -> list[dict]:
    """Characters, requests and audio seconds charged per UTC day from `start` to `end`, in SQL.

    Refunded requests cost nothing and are left out. Days without usage are absent.
    """
    rows = (
        organization.usage_records.filter(
            created_at__gte=datetime.combine(start, time.min, tzinfo=UTC),
            created_at__lte=datetime.combine(end, time.max, tzinfo=UTC),
        )
        .exclude(status=UsageRecord.Status.REFUNDED)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(characters=Sum("characters"), requests=Count("id"), audio_seconds=Sum("audio_seconds"))
        .order_by("day")
    )
    return [
        {"date": row["day"], "characters": row["characters"], "requests": row["requests"], "audio_seconds": round(row["audio_seconds"] or 0, 3)}
        for row in rows
    ]

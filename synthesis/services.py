"""
The one way into the engine for views, websocket consumers and jobs.

The engine and the voice library are lazy per-process singletons: nothing is
loaded at import or in AppConfig.ready(); the first request (or the warm-up at
server start) pays for it once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from accounts.models import ApiKey, Organization, UsageRecord, User
from accounts.quota import quota_refund, quota_reserve, quota_settle

from .audio import encode_wav
from .engine.core import Engine, EngineError, check_speed
from .engine.voices import VoiceLibrary

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

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

from .audio import encode_wav
from .engine.core import Engine, check_speed
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


def speech_synthesize(*, text: str, voice_id: str, speed: float = 1.0, normalize: bool = True) -> Speech:
    """Synthesize `text` whole. Raises VoiceNotFound or EngineError on bad input."""
    engine = get_engine()
    audio = engine.synthesize(text, voice_id, check_speed(speed), normalize=normalize)
    return Speech(audio=audio, sample_rate=engine.sample_rate, characters=len(text))

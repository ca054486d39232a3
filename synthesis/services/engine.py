"""
The engine and the voice library: lazy per-process singletons.

Nothing is loaded at import or in AppConfig.ready(); the first request (or the
warm-up at server start) pays for it once. Tests swap in a fake engine with
use_engine() (voicehub_site.testing's `fake_engine` fixture).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from synthesis.engine.backends import resolve_backend
from synthesis.engine.core import Engine
from synthesis.engine.voices import VoiceLibrary

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
                    backend=resolve_backend(settings.VOICEHUB_ENGINE_BACKEND),
                    device=settings.VOICEHUB_TORCH_DEVICE or None,
                    batch_window_ms=settings.VOICEHUB_BATCH_WINDOW_MS,
                    max_batch=settings.VOICEHUB_MAX_BATCH,
                    workers=settings.VOICEHUB_INFERENCE_WORKERS,
                    threads=settings.VOICEHUB_INFERENCE_THREADS,
                    solo_threads=settings.VOICEHUB_INFERENCE_SOLO_THREADS,
                    max_queued=settings.VOICEHUB_MAX_QUEUED_REQUESTS,
                )
    return _engine


def engine_loaded() -> bool:
    return _engine is not None


def loaded_engine() -> Engine | None:
    """The engine if this process has loaded it; never starts a load (health checks, the status page)."""
    return _engine


@contextmanager
def use_engine(engine: Engine) -> Iterator[Engine]:
    """Serve every synthesis of this process with `engine` for the length of the block (tests, benchmarks)."""
    global _engine
    with _lock:
        previous, _engine = _engine, engine
    try:
        yield engine
    finally:
        with _lock:
            _engine = previous

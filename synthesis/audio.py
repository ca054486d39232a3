"""Encoding engine output (float32, 24 kHz mono) for the wire."""

import io

import numpy as np
import soundfile as sf


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


def encode_wav(audio: np.ndarray, sample_rate: int) -> bytes:
    """A complete WAV file: 16-bit PCM, mono."""
    buffer = io.BytesIO()
    sf.write(buffer, to_pcm16(audio), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()

"""The voice catalog and the style tensors behind each voice."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .assets import VOICE_BYTES, VOICE_SHAPE
from .premade import premade_voice


class VoiceNotFound(LookupError):
    pass


# "af_bella(2)+af_sky(1)" or "af_bella+af_sky": a weighted mix of voices.
_MIX_PART = re.compile(r"^\s*([a-z]{1,3}_?[a-z0-9_]*)\s*(?:\(\s*(\d+(?:\.\d+)?)\s*\))?\s*$")
MAX_MIX_PARTS = 5


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    language: str
    language_name: str
    accent: str
    gender: str
    description: str
    original: bool = False
    available: bool = True
    quality_grade: str | None = None
    mix: dict[str, float] | None = None

    @property
    def is_english(self) -> bool:
        return self.language.startswith("en")


@dataclass
class VoiceLibrary:
    """The catalog (committed JSON) and the voice packs installed beside it."""

    directory: Path
    voices: dict[str, Voice] = field(default_factory=dict)
    _styles: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, directory: Path) -> VoiceLibrary:
        data = json.loads((directory / "catalog.json").read_text(encoding="utf-8"))
        known = {f for f in Voice.__dataclass_fields__}
        voices = {v["id"]: Voice(**{k: v[k] for k in v if k in known}) for v in data["voices"]}
        return cls(directory=directory, voices=voices)

    def pack_ids(self) -> list[str]:
        """Voice packs the catalog needs on disk (mixes are computed from them)."""
        return sorted(v.id for v in self.voices.values() if v.mix is None)

    def missing_packs(self) -> list[str]:
        return [
            vid
            for vid in self.pack_ids()
            if not (self.directory / f"{vid}.bin").is_file()
            or (self.directory / f"{vid}.bin").stat().st_size != VOICE_BYTES
        ]

    def get(self, voice_id: str) -> Voice:
        """A catalog voice, or a mix such as "af_bella(2)+af_sky(1)" of available voices.

        An ElevenLabs premade voice (by id or name, synthesis.engine.premade) is
        the Kokoro voice that speaks it: every door resolves voices here.
        """
        voice = self.voices.get(voice_id)
        if voice is None and (premade := premade_voice(voice_id)) is not None:
            voice = self.voices.get(premade.voice)
        if voice is None and "+" in voice_id:
            return self._mix(voice_id)
        if voice is None or not voice.available:
            raise VoiceNotFound(voice_id)
        return voice

    def _mix(self, spec: str) -> Voice:
        weights: dict[str, float] = {}
        parts = spec.split("+")
        if len(parts) > MAX_MIX_PARTS:
            raise VoiceNotFound(spec)
        for part in parts:
            match = _MIX_PART.match(part)
            if match is None:
                raise VoiceNotFound(spec)
            voice = self.get(match[1])
            if voice.mix:  # mixes of mixes would hide their real weights
                raise VoiceNotFound(spec)
            weight = float(match[2] or 1)
            if weight <= 0 or weight > 100:
                raise VoiceNotFound(spec)
            weights[voice.id] = weights.get(voice.id, 0) + weight
        first = self.voices[next(iter(weights))]
        if any(self.voices[v].language != first.language for v in weights):
            raise VoiceNotFound(spec)  # one phonemizer per utterance: a mix speaks one language
        canonical = "+".join(f"{v}({w:g})" for v, w in weights.items())
        return Voice(
            id=canonical, name=" + ".join(self.voices[v].name for v in weights), language=first.language,
            language_name=first.language_name, accent=first.accent, gender=first.gender,
            description=f"A mix of {', '.join(weights)}.", mix=weights,
        )

    def style(self, voice_id: str) -> np.ndarray:
        """The (510, 1, 256) style table of a voice; a mix is the weighted mean."""
        cached = self._styles.get(voice_id)
        if cached is not None:
            return cached
        voice = self.get(voice_id)
        if voice.mix:
            total = float(sum(voice.mix.values()))
            table = sum(self._pack(part) * (weight / total) for part, weight in voice.mix.items())
        else:
            table = self._pack(voice_id)
        table = np.ascontiguousarray(table, dtype=np.float32)
        if voice_id in self.voices:
            # Catalog voices only: clients can spell endless mixes, and a mix
            # costs one weighted sum of a few 0.5 MB tables.
            with self._lock:
                self._styles[voice_id] = table
        return table

    def _pack(self, voice_id: str) -> np.ndarray:
        path = self.directory / f"{voice_id}.bin"
        if not path.is_file():
            raise VoiceNotFound(voice_id)
        return np.fromfile(path, dtype="<f4").reshape(VOICE_SHAPE)

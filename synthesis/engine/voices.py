"""The voice catalog and the style tensors behind each voice."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import cjk
from .assets import VOICE_BYTES, VOICE_SHAPE
from .premade import premade_voice


class VoiceNotFound(LookupError):
    pass


class LanguageNotSpoken(ValueError):
    """A request named a language its voice does not speak (a client's mistake, with the reason)."""

    def __init__(self, voice: Voice, requested: str):
        super().__init__(
            f"{voice.id} speaks {voice.language_name}; it cannot read {requested!r}. "
            f"Ask for {_base(voice.language)!r} (or leave the language out), or choose a voice of that language."
        )
        self.voice = voice
        self.requested = requested


# BCP 47 / ISO 639 language -> the base of the catalog's eSpeak NG codes.
_BASES = {"cmn": "zh", "zh": "zh", "iw": "he"}


def _base(code: str) -> str:
    base = code.replace("_", "-").split("-")[0].lower()
    return _BASES.get(base, base)


# English variants eSpeak reads differently (the voice keeps its own accent; the words follow).
_ENGLISH_VARIANTS = {"en-us": "en-us", "en-gb": "en-gb", "en-uk": "en-gb"}


# The catalog's eSpeak NG language for each base language (a foreign reading names one of these).
_CATALOG_LANGUAGES = {"en": "en-us", "es": "es", "fr": "fr-fr", "hi": "hi", "it": "it", "ja": "ja", "pt": "pt-br", "zh": "cmn"}


def speaking_language(voice: Voice, requested: str | None, *, foreign: bool = False) -> str:
    """The eSpeak NG language `voice` reads a request in: its own, or an English variant the request named.

    Kokoro's voices each speak one language; `requested` (a BCP 47 tag: "en", "en-GB",
    "pt-BR", "es") must be that language, else LanguageNotSpoken. An English voice may
    read British or American English words ("en-GB" spells "colour", says "tomato" its way).
    `foreign`: any language the catalog has is read (Kokoro-FastAPI's lang_code semantics).
    """
    if requested is None or not requested.strip():
        return voice.language
    tag = requested.strip().replace("_", "-").lower()
    if foreign and _base(tag) != _base(voice.language):
        # Kokoro-FastAPI's lang_code: any language's reading, the voice's timbre (with its accent).
        if _base(tag) == "en":
            return _ENGLISH_VARIANTS.get(tag, "en-us")
        if _base(tag) in _CATALOG_LANGUAGES:
            return _CATALOG_LANGUAGES[_base(tag)]
        raise LanguageNotSpoken(voice, requested.strip()[:20])
    if _base(tag) != _base(voice.language):
        raise LanguageNotSpoken(voice, requested.strip()[:20])
    if _base(tag) == "en":
        return _ENGLISH_VARIANTS.get(tag, voice.language)
    return voice.language


class InvalidVoiceMix(VoiceNotFound):
    """A mix spelled wrong or that cannot be spoken (two languages): a client's mistake, with the reason."""

    def __init__(self, spec: str, reason: str):
        super().__init__(spec)
        self.reason = reason


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
        # Mandarin and Japanese are read by misaki (synthesis.engine.cjk): without its packages, not offered.
        unread = {
            lang for lang in {v.language for v in voices.values()} if cjk.handles(lang) and not cjk.installed(lang)
        }
        voices = {vid: replace(v, available=False) if v.language in unread else v for vid, v in voices.items()}
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
            raise InvalidVoiceMix(spec, f"A mix may combine at most {MAX_MIX_PARTS} voices.")
        for part in parts:
            match = _MIX_PART.match(part)
            if match is None:
                raise InvalidVoiceMix(spec, f"{part.strip()[:40]!r} is not a voice id with an optional weight, as in af_bella(2)+af_sky(1).")
            voice = self.get(match[1])  # an unknown voice is a plain VoiceNotFound, naming it
            if voice.mix:  # mixes of mixes would hide their real weights
                raise InvalidVoiceMix(spec, "A mix cannot contain another mix.")
            weight = float(match[2] or 1)
            if weight <= 0 or weight > 100:
                raise InvalidVoiceMix(spec, f"The weight of {voice.id} must be above 0 and at most 100.")
            weights[voice.id] = weights.get(voice.id, 0) + weight
        first = self.voices[next(iter(weights))]
        other = next((self.voices[v] for v in weights if self.voices[v].language != first.language), None)
        if other is not None:  # one phonemizer per utterance: a mix speaks one language
            raise InvalidVoiceMix(
                spec,
                f"A mix speaks one language: {first.id} speaks {first.language_name} and {other.id} "
                f"speaks {other.language_name}. Mix voices of the same language.",
            )
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

"""
Text to Kokoro phonemes through phonemizer and eSpeak NG (espeakng-loader).

eSpeak NG keeps process-global state and is not thread-safe, so every call
into it holds one lock: kokoro-onnx's own, so that its tokenizer and ours can
never run eSpeak at the same time. A phonemizer backend is kept per language
because creating one costs ~30 ms while a sentence costs ~0.4 ms (measured).
"""

from __future__ import annotations

import logging
import re
import threading

import espeakng_loader
from kokoro_onnx.config import DEFAULT_VOCAB
from kokoro_onnx.tokenizer import _espeak_lock
from phonemizer.backend import EspeakBackend
from phonemizer.backend.espeak.wrapper import EspeakWrapper

from . import cjk
from .heteronyms import respell

VOCAB: dict[str, int] = DEFAULT_VOCAB
# Two pad tokens (0) frame every model call; the context is 512.
MAX_TOKENS = 510

_backends: dict[str, EspeakBackend] = {}
# phonemizer warns "words count mismatch" whenever eSpeak merges words (e.g.
# "of the"); harmless for us, since we phonemize whole pieces, not word lists.
_quiet = logging.getLogger("voicehub.phonemizer")
_quiet.setLevel(logging.ERROR)
_setup_lock = threading.Lock()

# English: the corrections Kokoro's English pipelines (misaki's eSpeak fallback,
# kokoro-js) apply to raw eSpeak output so it matches the phoneme set the English
# voices were trained on. They are English only: in Spanish, Portuguese or Italian
# "r" is a trill or a tap and "x" the jota, which these would turn into English
# sounds ("carro" said "caco").
_FIXES = (
    (re.compile("kəkˈoːɹoʊ"), "kˈoʊkəɹoʊ"),
    (re.compile("kəkˈɔːɹəʊ"), "kˈəʊkəɹəʊ"),
    (re.compile("ʲ"), "j"),
    (re.compile("r"), "ɹ"),
    (re.compile("x"), "k"),
    (re.compile("ɬ"), "l"),
    (re.compile(r"(?<=[a-zɹː])(?=hˈʌndɹɪd)"), " "),
    (re.compile(r' z(?=[;:,.!?¡¿—…"«»“” ]|$)'), "z"),
)
_US_NINETY = re.compile(r"(?<=nˈaɪn)ti(?!ː)")
# English: a short phrase of function words ("You are.", "Is it?", "And you?")
# comes out of eSpeak with no primary stress at all, and the model may swallow
# it; its last word gets the stress a speaker gives it ("you ARE").
_PHRASES = re.compile(r"[^;:,.!?—…\"()]+")
_VOWELS = frozenset("aeiouæɑɐɒɔəɛɜɪʊʌᵻɚɝ")
_SHORT_PHRASE = 4
# Every other language: misaki's EspeakG2P, Kokoro's own pipeline for them. eSpeak
# writes affricates and diphthongs tied ("t^ʃ"); the model has one symbol for each.
_TIED = (
    ("a^ɪ", "I"), ("a^ʊ", "W"), ("d^z", "ʣ"), ("d^ʒ", "ʤ"), ("e^ɪ", "A"), ("o^ʊ", "O"), ("ə^ʊ", "Q"),
    ("s^s", "S"), ("t^s", "ʦ"), ("t^ʃ", "ʧ"), ("ɔ^ɪ", "Y"),
)
# French: eSpeak makes a liaison into "et" ("du lait et" -> "lˈɛt e", heard "lette"; "grand et fort" ->
# "ɡʁˈɑ̃t e"), which French never makes; the pieces on each side are read apart. Not after the tens of
# "vingt et un", "trente et une"..., whose t is said.
_FRENCH_ET = re.compile(
    r"(?<=\w)(?<!vingt)(?<!trente)(?<!quarante)(?<!cinquante)(?<!soixante)\s+(?=et\b)", re.IGNORECASE
)
# Italian: eSpeak reads the verb "è" unstressed, like the conjunction "e" ("il cielo è sereno" heard "il cielo
# e sereno"); spelled "èh" (h is silent) it is the stressed open ˈɛ.
_ITALIAN_E = re.compile(r"(?<!\w)([èÈ])(?!\w)")
# Italian: eSpeak ends unstressed words in a lax ɪ ("ˈɔʤːɪ", "domˈanɪ", "nˈɔnnɪ"), a vowel Italian does not have
# (final i is i); with ɪ, if_sara's "Oggi fa caldo" was heard "o diffacaldo" (bench/language_bench.py).
_ITALIAN_FINAL_I = re.compile(r"ɪ(?![^\W\d_ˈˌː])")
# Spanish: eSpeak writes the trill of "rr" as one r, which the model says as short as the tap ɾ ("carro",
# "corre" heard "caro", "core" with ef_dora and em_alex); between vowels it is written twice, a long trill. A
# word's first r (rojo) stays single: doubled it was heard as an extra word ("es rojo").
_SPANISH_RR = re.compile(r"(?:(?<=[aeiouɛɔ])|(?<=[aeiouɛɔ][ˈˌ]))r(?=[ˈˌ]?[aeiouɛɔ])")
# Phonemes that are only punctuation ("—…") make the model hum, not speak.
_MARKS = frozenset(';:,.!?¡¿—…"«»“”() ')


def is_english(language: str) -> bool:
    return language.startswith("en")


def _backend(language: str) -> EspeakBackend:
    backend = _backends.get(language)
    if backend is None:
        with _setup_lock:
            backend = _backends.get(language)
            if backend is None:
                EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
                EspeakWrapper.set_library(espeakng_loader.get_library_path())
                backend = EspeakBackend(
                    language,
                    preserve_punctuation=True,
                    with_stress=True,
                    # Ties only where they map to the model's one-symbol affricates and diphthongs.
                    tie=False if is_english(language) else "^",
                    # eSpeak marks words it reads in another language with
                    # "(en)" flags; the model must never see them.
                    language_switch="remove-flags",
                    logger=_quiet,
                )
                _backends[language] = backend
    return backend


def _stress_bare_phrase(m: re.Match) -> str:
    phrase = m.group(0)
    words = phrase.split()
    if not words or len(words) > _SHORT_PHRASE or "ˈ" in phrase or not _VOWELS.intersection(phrase):
        return phrase
    if "ˌ" in phrase:
        cut = phrase.rindex("ˌ")
        return phrase[:cut] + "ˈ" + phrase[cut + 1 :]
    for word in reversed(words):
        vowel = next((i for i, c in enumerate(word) if c in _VOWELS), None)
        if vowel is not None:
            cut = phrase.rindex(word) + vowel
            return phrase[:cut] + "ˈ" + phrase[cut:]
    return phrase


def phonemize(text: str, language: str, *, fragment: bool = False) -> str:
    """Kokoro phonemes for `text`, restricted to the model's vocabulary.

    `fragment`: a part of a phrase whose other words are said as given (synthesis.engine.lexicon); its
    stress is eSpeak's, not the one a short phrase of its own would get.
    """
    if not text.strip():
        return ""
    if cjk.handles(language):  # Mandarin, Japanese: misaki's G2P (synthesis.engine.cjk), not eSpeak
        return _in_vocabulary(cjk.phonemize(text, language, lambda latin: phonemize(latin, "en-us", fragment=True)))
    backend = _backend(language)
    english = is_english(language)
    if english:
        # Heteronyms by context ("I read it yesterday" -> "red"), word for word,
        # in eSpeak's input only: the text the timing code sees is unchanged.
        text = respell(text)
    else:
        # As misaki does: parentheses survive eSpeak as angle quotes (which stay curly quotes).
        text = text.replace("«", "“").replace("»", "”").replace("(", "«").replace(")", "»")
        if language == "it":
            text = _ITALIAN_E.sub(r"\1h", text)
    pieces = _FRENCH_ET.split(text) if language.startswith("fr") else [text]
    with _espeak_lock:
        raw = " ".join(backend.phonemize(pieces, strip=True))
    if english:
        for pattern, replacement in _FIXES:
            raw = pattern.sub(replacement, raw)
        if language == "en-us":
            raw = _US_NINETY.sub("di", raw)
        if not fragment:
            raw = _PHRASES.sub(_stress_bare_phrase, raw)
    else:
        for tied, symbol in _TIED:
            raw = raw.replace(tied, symbol)
        raw = raw.replace("^", "").replace("-", "").replace("«", "(").replace("»", ")")
        if language == "it":
            raw = _ITALIAN_FINAL_I.sub("i", raw)
        elif language == "es":
            raw = _SPANISH_RR.sub("rr", raw)
    return _in_vocabulary(raw)


def _in_vocabulary(raw: str) -> str:
    phonemes = "".join(p for p in raw if p in VOCAB)
    if _MARKS.issuperset(phonemes):
        return ""
    return " ".join(phonemes.split())


def tokenize(phonemes: str) -> list[int]:
    return [VOCAB[p] for p in phonemes if p in VOCAB]

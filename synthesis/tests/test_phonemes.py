"""Text to the model's phonemes, per language: English with Kokoro's English fixes, the others as Kokoro's own
pipeline (misaki's EspeakG2P) writes them. No model: eSpeak only."""

import pytest

from synthesis.engine.phonemes import VOCAB, phonemize


@pytest.mark.parametrize(
    ("language", "text", "has", "lacks"),
    [
        # The trill and the tap stay r and ɾ, the jota stays x (the English fixes made them ɹ and k).
        ("es", "El carro corre rápido.", ["kˈarro", "kˈorre", "rˈapiðo"], ["ɹ"]),  # rr: a long trill
        ("es", "La jota.", ["xˈota"], ["k"]),
        # Brazilian "rr" and initial "r" are x: "carro" was said "caco".
        ("pt-br", "O carro corre rápido.", ["kˈaxʊ", "xˈapidʊ"], ["ɹ"]),
        ("it", "Il treno arriva.", ["trˈɛno", "arɾˈiva"], ["ɹ"]),
    ],
)
def test_other_languages_keep_their_own_sounds(language, text, has, lacks):
    phonemes = phonemize(text, language)
    for piece in has:
        assert piece in phonemes, (piece, phonemes)
    for piece in lacks:
        assert piece not in phonemes, (piece, phonemes)


@pytest.mark.parametrize(
    ("language", "text", "symbol"),
    [("es", "El chico.", "ʧ"), ("it", "Ciao.", "ʧ"), ("it", "La pizza.", "ʦ"), ("it", "Lo zero.", "ʣ"), ("pt-br", "Noite de dia.", "ʤ"), ("it", "Gelato.", "ʤ")],
)
def test_other_languages_write_affricates_as_the_models_single_symbols(language, text, symbol):
    phonemes = phonemize(text, language)
    assert symbol in phonemes and "^" not in phonemes and all(p in VOCAB for p in phonemes)


def test_parentheses_survive_in_other_languages():
    assert phonemize("Un coche (nuevo).", "es").count("(") == 1


@pytest.mark.parametrize("language", ["en-us", "en-gb"])
def test_english_keeps_kokoros_english_fixes(language):
    phonemes = phonemize("The red car is here.", language)
    assert "ɹ" in phonemes and "r" not in phonemes.replace("ɹ", "")
    assert "tʃ" in phonemize("The church.", language)  # English affricates stay two symbols, as the voices learned


@pytest.mark.parametrize(
    ("language", "text", "has"),
    [
        # Mandarin: misaki's pinyin IPA, the tones as arrows (→ first, ↗ second, ↓ third, ↘ fourth).
        ("cmn", "今天天气很好。", ["ʨi→n", "xə↓n", "xau↓"]),
        ("cmn", "我有3本书。", ["sa→n"]),  # numbers as Chinese numerals (cn2an)
        # Japanese: misaki's cutlet reading (は as the particle wa, long vowels with ː).
        ("ja", "今日はいい天気ですね。", ["kʲoː βa", "teŋkʲi"]),
        ("ja", "りんごを3個ください。", ["saɴ"]),
    ],
)
def test_mandarin_and_japanese_are_read_by_misaki_in_the_models_vocabulary(language, text, has):
    phonemes = phonemize(text, language)
    assert phonemes and set(phonemes) <= set(VOCAB), phonemes
    for piece in has:
        assert piece in phonemes, (piece, phonemes)


@pytest.mark.parametrize("language", ["cmn", "ja"])
def test_latin_words_in_mandarin_or_japanese_are_read_as_english(language):
    phonemes = phonemize("Python と 中文", language) if language == "ja" else phonemize("我用Python写代码。", language)
    assert "pˈaɪθən" in phonemes, phonemes


@pytest.mark.parametrize(
    ("text", "said", "not_said"),
    [
        ("Du lait et des œufs.", "dy lˈɛ e", "lˈɛt"),  # eSpeak said "lette"
        ("Il est grand et fort.", "ɡʁˈɑ̃ e", "ɡʁˈɑ̃t"),
        ("Vingt et un.", "vˈɛ̃t e", None),  # the t of vingt is said
    ],
)
def test_french_makes_no_liaison_into_et(text, said, not_said):
    phonemes = phonemize(text, "fr-fr")
    assert said in phonemes, phonemes
    assert not_said is None or not_said not in phonemes, phonemes


@pytest.mark.parametrize(("text", "said"), [("Il cielo è sereno.", "ʧˈɛlo ˈɛ serˈeno"), ("È vero.", "ˈɛ vˈero")])
def test_italian_says_the_verb_e_stressed_and_open(text, said):
    assert said in phonemize(text, "it")
    assert "kˈaldo e il" in phonemize("Fa caldo e il cielo è sereno.", "it")  # the conjunction stays e


def test_italian_ends_words_in_i_not_in_a_lax_i():
    phonemes = phonemize("Oggi i nonni, domani!", "it")
    assert "ˈɔʤːi" in phonemes and "nˈɔnni," in phonemes and "domˈani!" in phonemes, phonemes
    assert "ɪ" not in phonemes


def test_mandarin_and_japanese_voices_are_not_offered_without_misakis_packages(monkeypatch):
    from pathlib import Path

    from synthesis.engine import cjk
    from synthesis.engine.voices import VoiceLibrary

    voices = Path(__file__).resolve().parents[2] / "voices"
    assert VoiceLibrary.load(voices).voices["jf_alpha"].available == cjk.installed("ja")
    monkeypatch.setattr(cjk, "installed", lambda language: language != "ja")
    library = VoiceLibrary.load(voices)
    assert not library.voices["jf_alpha"].available and not library.voices["jm_kumo"].available
    assert library.voices["zf_xiaobei"].available and library.voices["ef_dora"].available


@pytest.mark.parametrize(("language", "one"), [("cmn", "i→"), ("ja", "iʨi")])
@pytest.mark.parametrize("number", ["１２３４５６７８９０１２３４５６７８９０", "100000000000"])
def test_numbers_past_what_misaki_reads_are_said_digit_by_digit(language, one, number):
    # cn2an says nothing past 16 digits; misaki's Japanese numbers assert past a hundred billion (was a 500).
    phonemes = phonemize(f"{number}。", language)
    assert phonemes.startswith(one) and set(phonemes) <= set(VOCAB), phonemes


def test_spanish_says_the_trill_between_vowels_long():
    phonemes = phonemize("El carro rojo corre por la carretera.", "es")
    # rr between vowels is a long trill (two r); a word's first r stays one; the tap stays ɾ.
    assert "kˈarro" in phonemes and "kˈorre" in phonemes and "rˈoxo" in phonemes and "poɾ" in phonemes, phonemes

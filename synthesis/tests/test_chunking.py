"""Chunking never drops or repeats text, and every chunk fits the model."""

import random

import pytest

from synthesis.engine.chunking import plan_chunks, split_sentences
from synthesis.engine.phonemes import MAX_TOKENS, phonemize

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly box "
    "extraordinary jugglers near Cambridge University and photosynthesis happens"
).split()


def english(text):
    return phonemize(text, "en-us")


def make_text(length, *, punctuation, seed):
    rng = random.Random(seed)
    words = []
    while sum(len(w) + 1 for w in words) < length:
        word = rng.choice(WORDS)
        if punctuation:
            word += rng.choice(["", "", "", "", ",", ".", "!", "?", ";"])
        words.append(word)
    return " ".join(words)[:length].strip() or "a"


def spoken_text(chunks):
    return " ".join(chunk.text for chunk in chunks)


@pytest.mark.parametrize("punctuation", [True, False], ids=["punctuated", "unpunctuated"])
@pytest.mark.parametrize("length", [1, 2, 7, 40, 120, 509, 510, 511, 1000, 2500, 5000, 9999, 20000])
def test_every_word_is_spoken_once_and_in_order(length, punctuation):
    text = make_text(length, punctuation=punctuation, seed=length)

    chunks = plan_chunks(text, english)

    assert spoken_text(chunks).split() == text.split()
    assert all(0 < chunk.tokens <= MAX_TOKENS for chunk in chunks)


@pytest.mark.parametrize("quick_start", [True, False])
def test_a_word_longer_than_the_context_is_cut_but_not_lost(quick_start):
    text = "start " + "abcdefghij" * 150 + " end."

    chunks = plan_chunks(text, english, quick_start=quick_start)

    assert "".join(spoken_text(chunks).split()) == "".join(text.split())
    assert all(chunk.tokens <= MAX_TOKENS for chunk in chunks)


def test_quick_start_speaks_the_first_sentence_alone():
    text = "Hello there. " + "This is a much longer second sentence that goes on for a while. " * 10

    chunks = plan_chunks(text, english, quick_start=True)

    assert chunks[0].text == "Hello there."
    assert spoken_text(chunks).split() == text.split()


def test_quick_start_cuts_a_long_first_sentence_at_a_clause():
    text = "When the long first sentence finally begins, " + "it keeps going and going " * 30 + "until the end."

    chunks = plan_chunks(text, english, quick_start=True)

    assert chunks[0].text == "When the long first sentence finally begins,"
    assert spoken_text(chunks).split() == text.split()


def test_without_quick_start_short_sentences_share_one_model_call():
    chunks = plan_chunks("One. Two. Three.", english)

    assert [chunk.text for chunk in chunks] == ["One. Two. Three."]


def test_long_text_is_split_into_evenly_sized_chunks():
    text = make_text(3000, punctuation=True, seed=3)

    sizes = [chunk.tokens for chunk in plan_chunks(text, english)]

    assert len(sizes) > 1
    assert min(sizes) > 0.5 * max(sizes), sizes


def test_sentences_split_at_end_marks_and_line_breaks():
    assert split_sentences('He said "stop." Then left!\nNew line? Yes…  ok') == [
        'He said "stop."',
        "Then left!",
        "New line?",
        "Yes…",
        "ok",
    ]


def test_text_with_nothing_to_speak_gives_no_chunks():
    assert plan_chunks("   ", english) == []

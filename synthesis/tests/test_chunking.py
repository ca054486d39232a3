"""Chunking never drops or repeats text, and every chunk fits the model."""

import random

import pytest

from synthesis.engine.chunking import (
    CHUNK_TOKENS,
    CLAUSE_PAUSE,
    COMMA_PAUSE,
    DEFAULT_COSTS,
    PARAGRAPH_PAUSE,
    SENTENCE_PAUSE,
    pause_after,
    plan_chunks,
    split_sentences,
)
from synthesis.engine.phonemes import MAX_TOKENS, phonemize

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly box "
    "extraordinary jugglers near Cambridge University and photosynthesis happens"
).split()


# The first chunk of a stream: what one model call makes in 0.6 s, or a clause a little over.
FIRST_BUDGET = DEFAULT_COSTS.tokens_within(DEFAULT_COSTS.first_audio) * 5 // 4


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
    assert all(0 < chunk.tokens <= CHUNK_TOKENS <= MAX_TOKENS for chunk in chunks)


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
    text = "When it finally begins, " + "it keeps going and going " * 30 + "until the end."

    chunks = plan_chunks(text, english, quick_start=True)

    assert chunks[0].text == "When it finally begins,"
    assert spoken_text(chunks).split() == text.split()


def test_quick_start_cuts_a_long_first_clause_between_words():
    text = "When the very long first clause of this sentence finally begins to be read aloud " * 3 + "it ends."

    chunks = plan_chunks(text, english, quick_start=True)

    assert chunks[0].tokens <= FIRST_BUDGET
    assert text.startswith(chunks[0].text + " ")
    assert spoken_text(chunks).split() == text.split()


@pytest.mark.parametrize("words", [1, 10, 50, 200, 2000])
@pytest.mark.parametrize("speed", [0.5, 1.0, 2.0])
def test_each_stream_chunk_is_ready_before_the_audio_ahead_of_it_runs_out(words, speed):
    """By the plan's own cost model, a listener never waits after the first chunk."""
    text = make_text(words * 6, punctuation=True, seed=words)

    chunks = plan_chunks(text, english, quick_start=True, speed=speed)

    assert spoken_text(chunks).split() == text.split()
    assert chunks[0].tokens <= FIRST_BUDGET
    ready = playing = DEFAULT_COSTS.cost(chunks[0].tokens)
    queued = DEFAULT_COSTS.audio(chunks[0].tokens, speed) + chunks[0].pause / speed
    for chunk in chunks[1:]:
        ready += DEFAULT_COSTS.cost(chunk.tokens)
        # One word alone may be dearer than the time left; nothing larger ever is.
        assert ready <= playing + queued or len(chunk.text.split()) == 1
        queued += DEFAULT_COSTS.audio(chunk.tokens, speed) + chunk.pause / speed


def test_stream_chunks_grow_geometrically_to_the_cap():
    text = make_text(12000, punctuation=True, seed=7)

    sizes = [chunk.tokens for chunk in plan_chunks(text, english, quick_start=True)]

    assert sizes[0] <= FIRST_BUDGET
    assert max(sizes) <= CHUNK_TOKENS
    large = next(i for i, size in enumerate(sizes) if size > CHUNK_TOKENS // 2)
    assert large <= 4, sizes  # about 2x a step or more: 30 -> 125+ in a handful of chunks
    assert sorted(sizes)[len(sizes) // 2] > CHUNK_TOKENS // 2, sizes  # then large chunks


@pytest.mark.parametrize("quick_start", [True, False])
def test_a_paragraph_break_ends_a_chunk_with_a_longer_pause(quick_start):
    text = "The first paragraph ends here.\n\nThe second one starts. It has two sentences."

    chunks = plan_chunks(text, english, quick_start=quick_start)

    first = [c for c in chunks if c.text.endswith("ends here.")]
    assert len(first) == 1 and first[0].ends_paragraph
    assert first[0].pause == PARAGRAPH_PAUSE > SENTENCE_PAUSE
    assert spoken_text(chunks).split() == text.split()


@pytest.mark.parametrize(
    ("text", "pause"),
    [
        ("It ended.", SENTENCE_PAUSE), ('He said "stop."', SENTENCE_PAUSE), ("Really?)", SENTENCE_PAUSE),
        ("first this;", CLAUSE_PAUSE), ("as follows:", CLAUSE_PAUSE), ("then,", COMMA_PAUSE), ("no mark", 0.0),
    ],
)
def test_the_pause_at_a_join_is_the_one_the_model_makes_after_that_mark(text, pause):
    assert pause_after(text) == pause


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


def test_a_paragraph_whose_first_word_is_over_the_budget_still_ends_its_chunk():
    text = "Hi " + "abcdefghij" * 8 + ".\n\nNext paragraph here."

    chunks = plan_chunks(text, english, quick_start=True)

    assert "".join(spoken_text(chunks).split()) == "".join(text.split())
    ends = [c for c in chunks if c.text.endswith("ij.")]  # the word is cut, so its halves are spaced apart
    assert len(ends) == 1 and ends[0].ends_paragraph
    assert not any("ij." in c.text and "Next" in c.text for c in chunks)


def test_chinese_and_japanese_sentences_and_clauses_end_at_their_own_marks():
    from synthesis.engine.chunking import _CLAUSE_END, pause_after, split_sentences

    assert split_sentences("今天天气很好。我们去公园吧！「好。」他说。") == [
        "今天天气很好。",
        "我们去公园吧！",
        "「好。」",
        "他说。",
    ]
    assert split_sentences("今日は晴れです。明日は雨です。") == ["今日は晴れです。", "明日は雨です。"]
    clauses = [p for p in _CLAUSE_END.split("今天很好，我们去公园、散步吧") if p]
    assert clauses == ["今天很好，", "我们去公园、", "散步吧"]
    assert pause_after("好。") == pause_after("Good.") and pause_after("「好。」") == pause_after("“Good.”")

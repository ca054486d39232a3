"""synthesis.engine.lexicon's matcher finds what one regex alternation of every rule found, in time that does not
grow with the number of rules."""

import random
import re

from synthesis.engine.lexicon import Lexicon, Marked, Rule, _pattern, kokoro_phonemes, pin


def by_alternation(lexicon: Lexicon, text: str) -> Marked:
    """The matcher lexicon.py had first: one regex of every rule, longest first (the reference)."""
    marked = Marked(text)
    rules = lexicon._rules
    pattern = re.compile("|".join(f"(?P<r{i}>{_pattern(rule)})" for i, rule in enumerate(rules)))

    def replace(match):
        rule = rules[int(match.lastgroup[1:])]
        if rule.is_alias:
            return pin(marked, match.group(), say=rule.alias)
        return pin(marked, match.group(), kokoro_phonemes(rule.phonemes, rule.alphabet))

    marked.text = pattern.sub(replace, text)
    return marked


WORDS = ["UN", "un", "Un", "U.N.", "New York", "New York City", "C++", ".NET", "ab", "abc", "b", "Dr.", "x_y", "é"]


def test_the_matcher_agrees_with_one_alternation_of_every_rule():
    chance = random.Random(17)
    for _ in range(400):
        rules = []
        for _ in range(chance.randint(1, 8)):
            word = chance.choice(WORDS)
            flags = {"case_sensitive": chance.random() < 0.5, "word_boundaries": chance.random() < 0.7}
            if chance.random() < 0.6:
                rules.append(Rule(word, alias=chance.choice(["ALIAS", "x", "United Nations"]), **flags))
            else:
                rules.append(Rule(word, phonemes="kəˈkɔɹoʊ", **flags))
        text = " ".join(chance.choice(WORDS + ["the", "unit", "abcd", "NEW YORK", "new york city,"]) for _ in range(12))
        text = text.replace(" ", chance.choice([" ", "", ", "]), chance.randint(0, 3))
        lexicon = Lexicon(rules)

        ours, reference = lexicon.mark(text), by_alternation(lexicon, text)

        assert (ours.text, ours.pins) == (reference.text, reference.pins), (rules, text)


def test_longest_rule_wins_and_the_earlier_of_two_for_one_word():
    lexicon = Lexicon(
        [
            Rule("New York", alias="NY"),
            Rule("New York City", alias="NYC"),
            Rule("UN", alias="first"),
            Rule("UN", alias="second"),
        ]
    )

    marked = lexicon.mark("New York City and New York, the UN.")
    assert marked.restore(marked.text, spoken=True) == "NYC and NY, the first."
    assert marked.restore(marked.text) == "New York City and New York, the UN."  # the written words keep their place


def test_a_thousand_rules_mark_a_long_text():
    lexicon = Lexicon([Rule(f"word{i}", alias="said") for i in range(1000)])

    marked = lexicon.mark("a word7 and word999 but not word1000 " * 2000)

    assert marked.restore(marked.text, spoken=True).count("said") == 4000

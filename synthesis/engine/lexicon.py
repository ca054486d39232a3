"""
Words said as someone decided: pronunciation rules (a dictionary's, or SSML's) applied to the text.

Two kinds of rule, as in a W3C Pronunciation Lexicon (PLS) and ElevenLabs'
pronunciation dictionaries:

- an **alias** says other text in place of the written word ("UN" →
  "United Nations", "Dr." → "Doctor"), normalized and phonemized on its own;
- a **phoneme** rule gives the word's sounds (IPA, or CMU ARPAbet), said as
  given whatever eSpeak would make of the word.

A rule's word must survive normalization untouched (the normalizer would
spell "SQL" out), so `Lexicon.mark()` puts a *pin* in place of each matching
word: one private-use character the normalizer leaves alone, which the
phonemizer (`Marked.phonemizer`) replaces by the rule's phonemes (or the
alias's) and `restore()` turns back into the word for every text a client
sees (chunk texts, timestamps): the written word keeps its place.

The rules are matched longest first (so "New York City" beats "New York"),
each word once, case-sensitively unless the rule says otherwise, and at word
boundaries unless the rule says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .phonemes import VOCAB

# One private-use code point per pinned word (Supplementary Private Use Area-A): the normalizer, eSpeak's
# input cleaning and the chunker treat it as an ordinary word character.
PIN_BASE = 0xF0000
MAX_PINS = 0xFFFD - 0x0000  # code points in the plane
_PIN = re.compile("[\U000f0000-\U000ffffd]")
# "Voicehub's", "APIs": a suffix written right after a pinned word.
_MARKS = frozenset(";:,.!?—…)”»\"")
_SUFFIX = re.compile(r"^(['’]s|s)\b")

ALPHABETS = ("ipa", "cmu-arpabet")
MAX_GRAPHEME = 100
MAX_ALIAS = 500
MAX_PHONEMES = 200


class InvalidRule(ValueError):
    """A rule that cannot be applied: the message says why (a 400 `invalid_pronunciation_rule`)."""


@dataclass(frozen=True)
class Rule:
    grapheme: str  # the written word or phrase to replace (ElevenLabs' string_to_replace)
    alias: str | None = None
    phonemes: str | None = None  # as given, in `alphabet`
    alphabet: str = "ipa"
    case_sensitive: bool = True
    word_boundaries: bool = True

    def __post_init__(self) -> None:
        if not self.grapheme.strip() or len(self.grapheme) > MAX_GRAPHEME:
            raise InvalidRule(f"A rule's word must be 1-{MAX_GRAPHEME} characters, not {len(self.grapheme)}.")
        if (self.alias is None) == (self.phonemes is None):
            raise InvalidRule(f"The rule for {self.grapheme!r} needs either an alias or phonemes (exactly one).")
        if self.alias is not None and (not self.alias.strip() or len(self.alias) > MAX_ALIAS):
            raise InvalidRule(f"The alias of {self.grapheme!r} must be 1-{MAX_ALIAS} characters.")
        if self.phonemes is not None:
            if self.alphabet not in ALPHABETS:
                raise InvalidRule(f"Unknown phonetic alphabet {self.alphabet!r}; use one of: {', '.join(ALPHABETS)}.")
            if len(self.phonemes) > MAX_PHONEMES:
                raise InvalidRule(f"The phonemes of {self.grapheme!r} are longer than {MAX_PHONEMES} characters.")
            kokoro_phonemes(self.phonemes, self.alphabet, english=True)  # raises InvalidRule when nothing is sayable

    @property
    def is_alias(self) -> bool:
        return self.alias is not None


@dataclass(frozen=True)
class Pin:
    """A word said as given: its written form and either its phonemes (in the model's symbols) or the text
    to say instead (an alias, SSML's <sub> and <say-as>), phonemized on its own."""

    written: str
    phonemes: str = ""
    say: str = ""


@dataclass
class Marked:
    """A text with its aliases applied and its phoneme words pinned (see the module docstring)."""

    text: str
    pins: list[Pin] = field(default_factory=list)

    def restore(self, text: str, *, spoken: bool = False) -> str:
        """`text` (a part of the marked text, normalized or not) with every pin turned back into its word; with
        `spoken`, an alias's pin into what is said instead (the text as spoken, as a normalized alignment spells
        it: "United Nations" for "UN", as the normalizer's "Doctor" for "Dr."), a phoneme word's into the word."""
        if not self.pins:
            return text

        def word(match: re.Match) -> str:
            pin = self.pins[ord(match.group()) - PIN_BASE]
            return pin.say if spoken and pin.say else pin.written

        return _PIN.sub(word, text)

    def phonemizer(self, phonemize: Callable[..., str], *, english: bool) -> Callable[[str], str]:
        """`phonemize(text, fragment=...)` for a piece of the marked text: the pinned words said as given, the
        rest as ever (in fragments between them)."""
        if not self.pins:
            return phonemize

        def pinned(text: str) -> str:
            if not _PIN.search(text):
                return phonemize(text)
            out: list[str] = []
            position = 0
            for match in _PIN.finditer(text):
                out.append(phonemize(text[position:match.start()], fragment=True))
                pin = self.pins[ord(match.group()) - PIN_BASE]
                sounds = pin.phonemes or phonemize(pin.say, fragment=True)
                position = match.end()
                suffix = _SUFFIX.match(text[position:])
                if suffix:  # the plural or possessive of a pinned word: "Voicehub's"
                    sounds += "z" if english or suffix.group(1)[-1] == "s" else ""
                    position += len(suffix.group(0))
                out.append(sounds)
            out.append(phonemize(text[position:], fragment=True))
            joined = ""
            for part in filter(None, out):
                # No space before punctuation: "ˈvɔɪshʌb," as eSpeak would write it.
                joined += part if not joined or part[0] in _MARKS else " " + part
            return joined

        return pinned


class Lexicon:
    """Rules applied in order of preference: of two rules for the same word, the earlier one wins
    (as ElevenLabs applies the first dictionary of `pronunciation_dictionary_locators` first)."""

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        chosen: dict[tuple[str, bool], Rule] = {}
        for rule in self.rules:
            key = (rule.grapheme if rule.case_sensitive else rule.grapheme.casefold(), rule.case_sensitive)
            chosen.setdefault(key, rule)
        self._rules = sorted(chosen.values(), key=lambda r: -len(r.grapheme))
        # Found by length and first character, not by one regex alternation of every rule: Python's re tries each
        # branch at each position, so 1,000 rules over a 1,700-character text took seconds (3,000: 7.7 s). This
        # finds what that alternation found (the longest rule matching at the leftmost position, the earlier of two
        # of one length) in time that follows the text's length, not the number of rules.
        self._anywhere = _Index([r for r in self._rules if not _needs_start(r)])
        self._all = _Index(self._rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lexicon) and other.rules == self.rules

    def __hash__(self) -> int:
        return hash(self.rules)

    def __repr__(self) -> str:
        return f"Lexicon({len(self.rules)} rules)"

    def mark(self, text: str, *, english: bool = True, into: Marked | None = None) -> Marked:
        """`text` with aliases applied and phoneme words pinned (add to `into`'s pins when given)."""
        marked = into if into is not None else Marked(text)
        if not self._rules:
            marked.text = text
            return marked
        out: list[str] = []
        position = done = 0
        while position < len(text):
            # Inside a word, only rules that need no word start can begin.
            inside = position > 0 and _WORD.match(text[position - 1]) is not None
            found = (self._anywhere if inside else self._all).find(text, position)
            if found is None:
                position += 1
                continue
            written = text[position:position + len(found.grapheme)]
            out.append(text[done:position])
            if found.is_alias:
                out.append(pin(marked, written, say=found.alias))
            else:
                out.append(pin(marked, written, kokoro_phonemes(found.phonemes, found.alphabet, english=english)))
            position = done = position + len(written)
        out.append(text[done:])
        marked.text = "".join(out)
        return marked


_WORD = re.compile(r"\w")


def _needs_start(rule: Rule) -> bool:
    return rule.word_boundaries and _WORD.match(rule.grapheme) is not None


def _needs_end(rule: Rule) -> bool:
    return rule.word_boundaries and re.search(r"\w$", rule.grapheme) is not None


class _Index:
    """Rules (in order of preference: longest first) by length and by their text, to find the rule a position
    starts without trying every rule."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.exact: dict[tuple[int, str], tuple[int, Rule]] = {}
        self.folded: dict[tuple[int, str], tuple[int, Rule]] = {}
        self.exact_starts: dict[str, set[int]] = {}
        self.folded_starts: dict[str, set[int]] = {}
        for order, rule in enumerate(rules):
            word, size = rule.grapheme, len(rule.grapheme)
            if rule.case_sensitive:
                self.exact.setdefault((size, word), (order, rule))
                self.exact_starts.setdefault(word[0], set()).add(size)
            else:
                self.folded.setdefault((size, word.lower()), (order, rule))
                self.folded_starts.setdefault(word[0].lower(), set()).add(size)
        self._lengths: dict[str, tuple[int, ...]] = {}

    def lengths(self, first: str) -> tuple[int, ...]:
        """The lengths of the rules a word starting with `first` may match, longest first."""
        known = self._lengths.get(first)
        if known is None:
            sizes = self.exact_starts.get(first, set()) | self.folded_starts.get(first.lower(), set())
            known = self._lengths[first] = tuple(sorted(sizes, reverse=True))
        return known

    def find(self, text: str, position: int) -> Rule | None:
        """The rule that matches `text` at `position` (the longest; of two of one length, the preferred), or None."""
        for size in self.lengths(text[position]):
            end = position + size
            if end > len(text):
                continue
            piece = text[position:end]
            best = None
            for candidate in (self.exact.get((size, piece)), self.folded.get((size, piece.lower()))):
                if candidate is None or (best is not None and best[0] < candidate[0]):
                    continue
                rule = candidate[1]
                if _needs_start(rule) and position > 0 and _WORD.match(text[position - 1]):
                    continue
                if _needs_end(rule) and end < len(text) and _WORD.match(text[end]):
                    continue
                best = candidate
            if best is not None:
                return best[1]
        return None


def pin(marked: Marked, written: str, phonemes: str = "", *, say: str = "") -> str:
    """Add a pinned word to `marked`; the character that stands for it in the text."""
    if len(marked.pins) >= MAX_PINS:
        raise InvalidRule("Too many words with given pronunciations in one text.")
    marked.pins.append(Pin(written, phonemes, say))
    return chr(PIN_BASE + len(marked.pins) - 1)


def _pattern(rule: Rule) -> str:
    body = re.escape(rule.grapheme)
    if not rule.case_sensitive:
        body = f"(?i:{body})"
    if rule.word_boundaries:
        # \b only where the word starts or ends with a word character ("C++", ".NET" have none there).
        before = r"(?<!\w)" if re.match(r"\w", rule.grapheme) else ""
        after = r"(?!\w)" if re.search(r"\w$", rule.grapheme) else ""
        body = before + body + after
    return body


# -- phonetic alphabets --------------------------------------------------------------------------------------

# What people write in IPA that the model spells otherwise (or not at all).
_IPA_FIXES = (
    ("d͡ʒ", "ʤ"), ("t͡ʃ", "ʧ"), ("t͡s", "ʦ"), ("d͡z", "ʣ"), ("͡", ""), ("‿", ""), ("g", "ɡ"), ("'", "ˈ"), ("ɫ", "l"),
    ("ε", "ɛ"), (":", "ː"),
)
_ENGLISH_IPA = (("r", "ɹ"), ("x", "k"), ("dʒ", "ʤ"), ("tʃ", "ʧ"))

# CMU ARPAbet (as in the CMU Pronouncing Dictionary and ElevenLabs' "cmu-arpabet"): stress digits 0/1/2 on vowels.
ARPABET = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "B": "b", "CH": "ʧ", "D": "d", "DH": "ð",
    "EH": "ɛ", "ER": "ɜɹ", "EY": "eɪ", "F": "f", "G": "ɡ", "HH": "h", "IH": "ɪ", "IY": "i", "JH": "ʤ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "OW": "oʊ", "OY": "ɔɪ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ",
    "T": "t", "TH": "θ", "UH": "ʊ", "UW": "u", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}
_ARPABET_TOKEN = re.compile(r"([A-Z]{1,2})([012])?$")


def arpabet_to_ipa(arpabet: str) -> str:
    out = []
    for token in arpabet.upper().split():
        match = _ARPABET_TOKEN.match(token)
        if match is None or match.group(1) not in ARPABET:
            raise InvalidRule(f"{token!r} is not a CMU ARPAbet phoneme.")
        symbol, stress = ARPABET[match.group(1)], match.group(2)
        if symbol == "ʌ" and stress == "0":
            symbol = "ə"  # unstressed AH is a schwa
        out.append({"1": "ˈ", "2": "ˌ"}.get(stress or "", "") + symbol)
    return "".join(out)


def kokoro_phonemes(phonemes: str, alphabet: str = "ipa", *, english: bool = True) -> str:
    """Phonemes as given, in the model's symbols; InvalidRule when none of them can be said."""
    ipa = arpabet_to_ipa(phonemes) if alphabet == "cmu-arpabet" else phonemes
    ipa = ipa.strip().strip("/[]").strip()
    for written, symbol in _IPA_FIXES:
        ipa = ipa.replace(written, symbol)
    if english:
        for written, symbol in _ENGLISH_IPA:
            ipa = ipa.replace(written, symbol)
    kept = "".join(p for p in " ".join(ipa.split()) if p in VOCAB)
    if not kept.strip(" ˈˌː"):
        raise InvalidRule(f"{phonemes!r} holds no phoneme the model can say ({alphabet}).")
    return kept

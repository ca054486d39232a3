"""
English heteronyms: the pronunciation a word's neighbours call for, as a spelling eSpeak reads right.

eSpeak NG reads a heteronym ("read", "record", "close") one way unless its
own few rules (after "to", a modal or a pronoun it takes the verb) say
otherwise, so "I read it yesterday" comes out "I reed it", "a lead pipe"
"a leed pipe" and "Close the door" with the "s" of "close by". `respell`
rewrites such a word, in the text handed to eSpeak only, into a spelling
eSpeak says the intended way ("red", "led", "cloze", "rekord"): one word
stays one word, so the phoneme words still line up with the written words
by position (synthesis.engine.timing), and the spoken text the rest of the
engine sees is unchanged.

The choice is made by simple context rules, not a tagger: the word before
(skipping adverbs such as "not", "just", "already") and the word after.

- a determiner, adjective or preposition before it: the noun ("the record",
  "fresh produce", "of lead");
- "to", a modal, "please", "don't" or a subject pronoun before it: the verb
  ("to record", "we object", "they live");
- at the start of a clause with an object after it: the imperative verb
  ("Record the meeting.", "Close the door.");
- "read" after have/has/had, a form of "be", he/she/it or a name, or with a
  past-time word later in its clause ("yesterday", "ago", "last week"): the
  past tense "red";
- word-specific cues: "lead" before "pipe", "paint", "poisoning" … is the
  metal; "close to", "so close", "a close friend" are "kloce"; "live music",
  "go live" are "lyve"; "wind up", "tear down", "take a bow" are the verbs;
  "minute details" is "my-noot"; "wound up" is "wownd".

One more respelling of the same kind: the letter "A" at the end of a spelled
acronym ("U S A", "C A 94103") is written "Eigh", which eSpeak says as the
letter, where "A" alone would be the article "uh".

When no rule applies the word is left as written and eSpeak's own choice
stands. The respellings were chosen by the phonemes eSpeak NG (en-us)
writes for them (synthesis/tests/test_heteronyms.py checks each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["respell"]

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# Punctuation between two words that starts a new clause.
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n\u2014\"()]")

_DETERMINERS = frozenset(
    """
    a an the this that these those my your his her its our their no every each some any another either
    neither whose which what one first last next such same own
    """.split()
)
_ADJECTIVES = frozenset(
    """
    new old good bad great best worst big small world personal perfect whole main final real public
    private criminal medical school police track clean spotless local fresh organic seasonal social
    digital current previous latest formal written verbal signed short long open hidden strange foreign
    red white heavy
    """.split()
)
_PREPOSITIONS = frozenset("of in on for with from about by at into without under over than".split())
_NOUN_CUES = _DETERMINERS | _ADJECTIVES | _PREPOSITIONS
_MODALS = frozenset(
    """
    to will would can could shall should may might must do does did don't doesn't didn't won't wouldn't
    can't cannot couldn't shouldn't mustn't please let's i'll you'll we'll they'll he'll she'll
    """.split()
)
_SUBJECTS = frozenset("i you we they he she it who".split())
_VERB_CUES = _MODALS | _SUBJECTS
_HAVE = frozenset("have has had having i've you've we've they've he's she's it's who's".split())
_BE = frozenset("am is are was were be been being get gets got gotten".split())
# Adverbs skipped when looking at the word before: "I have never read", "to not record".
_ADVERBS = frozenset(
    """
    not never always also just often usually really only still even already then ever sometimes rarely
    all both recently finally once actually first
    """.split()
)
# Words that begin an object: after a verb at a clause start they make it an imperative.
_OBJECTS = frozenset("the a an your my our their his her its it them him me us this these those all".split())
_DEGREE = frozenset("so very too quite pretty really as more most extremely fairly rather up".split())
_PAST_TIME = frozenset("yesterday ago earlier previously already".split())
_PAST_LAST = frozenset("night week month year time summer winter spring fall weekend term semester".split())


@dataclass(frozen=True)
class _Context:
    before: str  # the word before (adverbs skipped), lowercased; "" at a clause start
    before2: str  # the word before that
    after: str  # the next word, lowercased; "" before a clause break
    after2: str
    clause_start: bool
    skipped: tuple[str, ...]  # the adverbs skipped before it ("already", "never")
    capitalised_before: bool  # the word before is a capitalised word inside the clause (a name)
    rest: tuple[str, ...]  # the next words of the clause, lowercased

    @property
    def noun_cue(self) -> bool:
        return self.before in _NOUN_CUES

    @property
    def verb_cue(self) -> bool:
        return self.before in _VERB_CUES


def _context(text: str, words: list[re.Match], index: int) -> _Context:
    def gap(a: int, b: int) -> str:
        return text[words[a].end() : words[b].start()]

    # Backwards, within the clause, skipping adverbs.
    before: list[str] = []
    skipped: list[str] = []
    capitalised = False
    i = index
    while i > 0 and len(before) < 2 and not _CLAUSE_BREAK.search(gap(i - 1, i)):
        word = words[i - 1].group(0)
        i -= 1
        if word.lower() in _ADVERBS and not before:
            skipped.append(word.lower())
            continue
        if not before:
            starts_clause = i == 0 or bool(_CLAUSE_BREAK.search(gap(i - 1, i)))
            capitalised = word[:1].isupper() and word != "I" and not starts_clause
        before.append(word.lower())
    # Forwards, to the end of the clause.
    rest: list[str] = []
    j = index
    while j + 1 < len(words) and len(rest) < 8 and not _CLAUSE_BREAK.search(gap(j, j + 1)):
        rest.append(words[j + 1].group(0).lower())
        j += 1
    return _Context(
        before=before[0] if before else "",
        before2=before[1] if len(before) > 1 else "",
        after=rest[0] if rest else "",
        after2=rest[1] if len(rest) > 1 else "",
        clause_start=not before,
        skipped=tuple(skipped),
        capitalised_before=capitalised,
        rest=tuple(rest),
    )


def _part_of_speech(c: _Context) -> str | None:
    """'noun', 'verb' or None (no cue: eSpeak's own choice stands)."""
    if c.verb_cue:
        return "verb"
    if c.noun_cue or c.before in _BE:
        return "noun"
    if c.after in _OBJECTS and (c.clause_start or c.before == "and" or c.capitalised_before):
        return "verb"  # "Record the meeting.", "and close the door", "Farmers produce the …"
    return None


# -- The words: each rule returns a respelling, or None to leave the word.

Rule = Callable[[_Context], "str | None"]


def _stress_pair(noun: str | None, verb: str | None) -> Rule:
    """Words stressed on the first syllable as nouns and on the second as verbs ("REcord", "reCORD")."""

    def rule(c: _Context) -> str | None:
        return {"noun": noun, "verb": verb}.get(_part_of_speech(c) or "")

    return rule


def _read(c: _Context) -> str | None:
    if c.before in _MODALS:
        return None  # "to read", "will read", "didn't read": the present (eSpeak's own)
    past = (
        c.before in _HAVE
        or c.before in _BE
        or c.before in ("he", "she", "it", "who")
        or c.capitalised_before  # "John read the letter": a present would be "reads"
        or (c.before in ("i", "you", "we", "they") and c.before2 in _HAVE)  # "Have you read it?"
        or any(w in _PAST_TIME for w in c.rest)
        or any(w in ("already", "recently", "once", "finally", "just") for w in c.skipped)
        or any(w == "last" and n in _PAST_LAST for w, n in zip(c.rest, c.rest[1:]))
        or c.after == "by"
    )
    return "red" if past else None


_METAL_AFTER = frozenset(
    """
    pipe pipes paint poisoning pencil pencils acid bullet bullets weight weights shot crystal oxide solder
    contamination exposure levels level mine mines ore sheet sheets roof balloon apron glass free based
    """.split()
)


def _lead(c: _Context) -> str | None:
    if c.after in _METAL_AFTER:
        return "led"
    if c.before in ("of", "with", "unleaded", "red", "white", "heavy") and c.after in ("", "and", "or"):
        return "led"  # "made of lead.", "contaminated with lead"
    return None


_CLOSE_ADJ_AFTER = frozenset(
    "to by friend friends call relative relatives relationship enough attention contact range second eye".split()
)


def _close(c: _Context) -> str | None:
    if c.after in _CLOSE_ADJ_AFTER or c.before in _DEGREE or c.before in _BE:
        return "kloce"  # "close to", "so close", "we are close"
    if c.before in ("stay", "stays", "stayed", "keep", "kept", "come", "came", "sit", "sat", "stand", "stood"):
        return "kloce"
    if c.noun_cue:
        return "cloze" if c.after == "of" else "kloce"  # "the close of business" / "a close call"
    if c.verb_cue or c.after in _OBJECTS or c.after in ("down", "up") or c.clause_start:
        return "cloze"
    return None


_LIVE_ADJ_AFTER = frozenset(
    """
    music show shows stream streams streaming event events broadcast broadcasts performance performances
    audience coverage concert concerts recording album version feed tv television radio update updates
    demo chat session sessions wire bait animals animal ammunition rounds action sports match game
    """.split()
)


def _live(c: _Context) -> str | None:
    if c.after in _LIVE_ADJ_AFTER:
        return "lyve"
    if c.before in ("go", "goes", "went", "going", "gone", "now", "a", "an", "the") or c.before in _BE:
        return "lyve"  # "go live", "we are live", "a live show"
    if c.verb_cue or c.before == "long":
        return "liv"  # "to live", "they live", "long live the king"
    return None


def _wind(c: _Context) -> str | None:
    if c.noun_cue:
        return None  # "the wind", "of wind": eSpeak's own noun
    if c.verb_cue or c.after in ("up", "down") or (c.clause_start and c.after in _OBJECTS):
        return "wined"
    return None


def _tear(c: _Context) -> str | None:
    if c.before == "and" and c.before2 == "wear":
        return "tare"
    if c.noun_cue:
        return "teer"  # "a tear", "the tear" (eSpeak's own, but not after "to")
    if c.verb_cue or c.after in ("up", "down", "apart", "off", "open", "out", "away", "through", "into", "along"):
        return "tare"
    if c.clause_start and c.after in _OBJECTS:
        return "tare"
    return None


def _tears(c: _Context) -> str | None:
    if c.before in ("he", "she", "it", "who") or c.after in ("up", "down", "apart", "off", "open"):
        return "tares"  # "she tears up the letter"
    return None


def _bow(c: _Context) -> str | None:
    if c.after in ("tie", "ties", "and", "string", "strings", "hunting") or c.before in ("violin", "cello", "ribbon"):
        return "boe"  # "bow tie", "bow and arrow"
    if c.before in _DETERMINERS and c.before2 in ("take", "takes", "took", "taking"):
        return "bau"  # "take a bow"
    if c.verb_cue or c.after in ("down", "before", "to", "out", "of"):
        return "bau"  # "to bow", "bow down", "the bow of the ship"
    return None


_MINUTE_ADJ_AFTER = frozenset(
    """
    detail details amount amounts quantity quantities trace traces particle particles change changes
    difference differences fraction portion
    """.split()
)


def _minute(c: _Context) -> str | None:
    if c.after in _MINUTE_ADJ_AFTER or c.before in _DEGREE:
        return "mynoot"
    return None


def _wound(c: _Context) -> str | None:
    if c.noun_cue:
        return None  # "a wound": eSpeak's own
    if c.before in _SUBJECTS or c.before in _HAVE or c.before in _BE or c.capitalised_before:
        if c.before not in ("to",):
            return "wownd"  # "he wound the clock", "I'm wound up"
    if c.after in ("up", "down", "around", "round", "through", "its", "his", "her", "their", "the"):
        return "wownd"
    return None


def _use(c: _Context) -> str | None:
    if c.noun_cue or c.before in ("no", "any"):
        return "yoose"  # "the use of", "no use", "in use"
    if c.verb_cue or (c.clause_start and c.after in _OBJECTS):
        return "yooz"
    return None


def _content(c: _Context) -> str | None:
    if c.noun_cue:
        return None  # "the content to display": the noun
    if c.before in _BE or c.before in ("feel", "feels", "felt", "seem", "seems", "seemed", "remain", "perfectly"):
        return "conntent"  # "I am content": satisfied
    if c.after in ("with", "to"):
        return "conntent"
    return None


_RULES: dict[str, Rule] = {
    "read": _read,
    "lead": _lead,
    "close": _close,
    "live": _live,
    "wind": _wind,
    "tear": _tear,
    "tears": _tears,
    "bow": _bow,
    "minute": _minute,
    "wound": _wound,
    "use": _use,
    "content": _content,
    "record": _stress_pair(None, "rekord"),
    "records": _stress_pair(None, "rekords"),
    "object": _stress_pair("obbject", "objeckt"),
    "objects": _stress_pair("obbjects", "objeckts"),
    "present": _stress_pair("prezzent", "prezent"),
    "presents": _stress_pair(None, "prezents"),
    "produce": _stress_pair("proddoose", None),
    "project": _stress_pair("prodject", "projeckt"),
    "projects": _stress_pair("prodjects", None),
    "refuse": _stress_pair("reffuce", "refewz"),
    "permit": _stress_pair("purmit", "permitt"),
    "permits": _stress_pair("purmits", "permitts"),
    "conduct": _stress_pair("kondukt", "condukt"),
    "conducts": _stress_pair("kondukts", "condukts"),
    "contract": _stress_pair("contrakt", "conntract"),
    "contracts": _stress_pair("contrakts", "conntracts"),
    "desert": _stress_pair("dezzert", "dessert"),
    "deserts": _stress_pair("dezzerts", None),
    "increase": _stress_pair(None, "inkrease"),
    "increases": _stress_pair(None, "inkreases"),
    "decrease": _stress_pair(None, "decreese"),
    "insult": _stress_pair(None, "inssult"),
    "insults": _stress_pair(None, "inssults"),
    "rebel": _stress_pair(None, "rebell"),
    "rebels": _stress_pair(None, "rebells"),
    "suspect": _stress_pair("susspect", "suspeckt"),
    "suspects": _stress_pair("susspects", "suspeckts"),
    "export": _stress_pair(None, "expoart"),
    "exports": _stress_pair(None, "expoarts"),
    "excuse": _stress_pair("excuce", "excuze"),
    "excuses": _stress_pair("excuces", "excuzes"),
    "separate": _stress_pair(None, "separrate"),
    "estimate": _stress_pair(None, "estimait"),
}


def _same_case(spelling: str, word: str) -> str:
    if word.isupper() and len(word) > 1:
        return spelling.upper()
    if word[:1].isupper():
        return spelling[:1].upper() + spelling[1:]
    return spelling


def _letter_a(text: str, words: list[re.Match], index: int) -> str | None:
    """The letter "A" at the end of a spelled acronym ("U S A", "C A" for California): "Eigh".

    eSpeak reads a lone "A" as the article ("uh"); the normalizer joins an
    "A" to the letter after it ("A-P I") but one at the end has none.
    """
    if index == 0 or text[words[index - 1].end() : words[index].start()] != " ":
        return None
    letter = words[index - 1].group(0)
    if len(letter) != 1 or not letter.isupper():
        return None
    if letter == "I" and not (index > 1 and len(words[index - 2].group(0)) == 1 and words[index - 2].group(0).isupper()):
        return None  # "Am I A..." would be the pronoun; "C I A" is three letters
    return "Eigh"


def respell(text: str) -> str:
    """`text` with each heteronym whose context is clear respelled for eSpeak; never raises."""
    try:
        words = list(_WORD.finditer(text))
        out: list[str] = []
        last = 0
        for index, match in enumerate(words):
            if match.group(0) == "A":
                spelling = _letter_a(text, words, index)
                if spelling:
                    out.append(text[last : match.start()])
                    out.append(spelling)
                    last = match.end()
                continue
            rule = _RULES.get(match.group(0).lower())
            if rule is None:
                continue
            spelling = rule(_context(text, words, index))
            if spelling:
                out.append(text[last : match.start()])
                out.append(_same_case(spelling, match.group(0)))
                last = match.end()
        out.append(text[last:])
        return "".join(out)
    except Exception:  # noqa: BLE001 - a wrong vowel is better than no speech
        return text

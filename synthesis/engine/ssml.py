"""
SSML (a subset of W3C SSML 1.1) and ElevenLabs' inline tags, turned into a script the engine speaks.

A script is parts in order, each a run of text spoken in one language at one
rate, followed by a pause. Words whose sounds the markup decides (<phoneme>,
<sub>, <say-as>) are pinned in their part's text (synthesis.engine.lexicon):
they keep their written place, so what is charged, kept in history and
aligned in timestamps is the text a reader sees, never the markup.

Supported: <speak>, <p>, <s>, <break time|strength>, <phoneme alphabet ph>,
<sub alias>, <say-as interpret-as=characters|spell-out|cardinal|number|
ordinal|date|time|telephone>, <prosody rate>, <lang xml:lang>. Any other tag
is an error that names it. XML is parsed by defusedxml: a DTD, an entity or
an external reference is refused.

ElevenLabs' routes read only its two inline tags in ordinary text,
`<break time="1.5s" />` and `<phoneme alphabet="cmu-arpabet|ipa" ph="...">word</phoneme>`
(`inline()`); everything else there stays text, as on ElevenLabs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from .chunking import PARAGRAPH_PAUSE, pause_after
from .lexicon import InvalidRule, Marked, Pin, kokoro_phonemes, pin
from .normalize import _cardinal, _date, _digits, _ordinal, _spell, _year

MAX_BREAK = 10.0  # seconds: a longer <break> is cut to this (as Amazon Polly)
MAX_BREAK_INLINE = 3.0  # ElevenLabs' documented ceiling for its inline <break>
MAX_BREAKS = 200
MAX_DEPTH = 32
_NS = "{http://www.w3.org/2001/10/synthesis}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# SSML's strengths, sized like the pauses the engine makes itself (chunking): a comma's, a sentence's, a paragraph's.
STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.6, "x-strong": 1.2}
RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
MIN_RATE, MAX_RATE = 0.25, 4.0
SAY_AS = ("characters", "spell-out", "verbatim", "cardinal", "number", "ordinal", "date", "time", "telephone")
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$", re.IGNORECASE)
_RATE = re.compile(r"^\s*([+-]?)(\d+(?:\.\d+)?)\s*(%?)\s*$")


class InvalidSSML(ValueError):
    """Markup that cannot be spoken: the message says what and where (a 400 `invalid_ssml`)."""


@dataclass(frozen=True)
class Part:
    text: str  # the written text, each pinned word one private-use character standing for pins[i]
    pins: tuple[Pin, ...] = ()
    language: str | None = None  # <lang xml:lang>: read in that language, in the voice's timbre
    rate: float = 1.0  # <prosody rate>: times the request's speed
    pause: float = 0.0  # seconds of silence after it (at speed 1.0)

    @property
    def written(self) -> str:
        return Marked(self.text, list(self.pins)).restore(self.text)


@dataclass(frozen=True)
class Script:
    parts: tuple[Part, ...]
    lead: float = 0.0  # seconds of silence before the first part (a <break> before any text)

    @property
    def text(self) -> str:
        """What a reader sees (and history keeps): the parts' written text, a space between two."""
        return " ".join(part.written for part in self.parts)


@dataclass
class _State:
    language: str | None = None
    rate: float = 1.0


@dataclass
class _Builder:
    english: bool
    parts: list[Part] = field(default_factory=list)
    lead: float = 0.0
    breaks: int = 0
    explicit: bool = False  # the last part's pause is a <break>'s
    # The part being written:
    marked: Marked = field(default_factory=lambda: Marked(""))
    state: _State = field(default_factory=_State)

    def text(self, text: str | None, state: _State) -> None:
        if not text:
            return
        text = re.sub(r"\s+", " ", text)
        if not text.strip() and not self._has_words():
            return
        self._switch(state)
        if self.marked.text.endswith(("\n", " ")) or not self.marked.text:
            text = text.lstrip()
        self.marked.text += text

    def pinned(self, written: str, state: _State, *, phonemes: str = "", say: str = "") -> None:
        written = " ".join(written.split())
        if not written:
            raise InvalidSSML("A <phoneme>, <sub> or <say-as> element has no text to replace.")
        self._switch(state)
        self.marked.text += pin(self.marked, written, phonemes, say=say)

    def boundary(self, mark: str) -> None:
        """The end of a sentence (<s>: a line break) or a paragraph (<p>: a blank line), inside the part."""
        stripped = self.marked.text.rstrip()
        if stripped:
            self.marked.text = stripped + mark

    def pause(self, seconds: float) -> None:
        self.breaks += 1
        if self.breaks > MAX_BREAKS:
            raise InvalidSSML(f"At most {MAX_BREAKS} <break> elements may be used in one text.")
        if not self._has_words():
            if self.parts:
                # A break replaces the pause a part's last mark made; breaks in a row add up.
                last = self.parts[-1]
                pause = last.pause + seconds if self.explicit else seconds
                self.parts[-1] = Part(last.text, last.pins, last.language, last.rate, pause)
                self.explicit = True
            else:
                self.lead += seconds
            return
        self._close(pause=seconds)

    def _has_words(self) -> bool:
        return bool(self.marked.text.strip())

    def _switch(self, state: _State) -> None:
        if (state.language, state.rate) != (self.state.language, self.state.rate):
            if self._has_words():
                self._close(pause=None)
            self.state = _State(state.language, state.rate)

    def _close(self, *, pause: float | None) -> None:
        text = self.marked.text
        self.explicit = pause is not None
        if pause is None:  # no <break>: the pause its last mark makes ("." a sentence's), as between chunks
            written = Marked(text, self.marked.pins).restore(text)
            pause = PARAGRAPH_PAUSE if text.endswith("\n\n") else pause_after(written.rstrip())
        self.parts.append(Part(text.strip(), tuple(self.marked.pins), self.state.language, self.state.rate, pause))
        self.marked = Marked("")

    def finish(self) -> Script:
        if self._has_words():
            self._close(pause=0.0)
        return Script(tuple(self.parts), self.lead)


# -- full SSML (text_type "ssml") --------------------------------------------------------------------------------


def parse(ssml: str, *, english: bool = True) -> Script:
    """The script of an SSML document (or fragment: a <speak> root is added when missing). InvalidSSML."""
    source = ssml.strip()
    if re.search(r"<!(DOCTYPE|ENTITY)", source, re.IGNORECASE):
        raise InvalidSSML("SSML may not declare a DTD, entities or external references.")
    if not re.match(r"^(<\?xml[^>]*\?>\s*)?<speak[\s>/]", source):
        source = f"<speak>{source}</speak>"
    try:
        root = fromstring(source, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise InvalidSSML("SSML may not declare a DTD, entities or external references.") from None
    except ParseError as error:
        line, column = error.position
        raise InvalidSSML(f"The SSML is not well-formed XML (line {line}, column {column + 1}).") from None
    builder = _Builder(english=english)
    _visit(root, builder, _State(), depth=0, english=english)
    script = builder.finish()
    if not script.parts:
        raise InvalidSSML("The SSML contains no text to speak.")
    return script


def _tag(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag[len(_NS):] if tag.startswith(_NS) else tag


def _visit(element: Element, out: _Builder, state: _State, *, depth: int, english: bool) -> None:
    if depth > MAX_DEPTH:
        raise InvalidSSML(f"SSML elements may be nested at most {MAX_DEPTH} deep.")
    tag = _tag(element)
    inner = state
    if tag == "speak":
        inner = _State(element.get(_XML_LANG) or state.language, state.rate) if element.get(_XML_LANG) else state
    elif tag in ("p", "s", "paragraph", "sentence"):
        pass
    elif tag == "break":
        out.pause(_break(element, MAX_BREAK))
        out.text(element.tail, state)
        return
    elif tag == "phoneme":
        alphabet = (element.get("alphabet") or "ipa").lower()
        alphabet = {"x-cmu-arpabet": "cmu-arpabet", "x-sampa": "x-sampa"}.get(alphabet, alphabet)
        if alphabet not in ("ipa", "cmu-arpabet"):
            raise InvalidSSML(f"<phoneme alphabet={alphabet!r}> is not supported; use \"ipa\" or \"x-cmu-arpabet\".")
        ph = element.get("ph")
        if not ph:
            raise InvalidSSML("<phoneme> needs a ph attribute with the word's phonemes.")
        try:
            phonemes = kokoro_phonemes(ph, alphabet, english=english and not state.language)
        except InvalidRule as error:
            raise InvalidSSML(f"<phoneme ph={ph!r}>: {error}") from None
        out.pinned(_only_text(element), state, phonemes=phonemes)
        out.text(element.tail, state)
        return
    elif tag == "sub":
        alias = element.get("alias")
        if not alias or not alias.strip():
            raise InvalidSSML("<sub> needs an alias attribute: the text to say instead.")
        out.pinned(_only_text(element), state, say=alias.strip())
        out.text(element.tail, state)
        return
    elif tag == "say-as":
        written = _only_text(element)
        out.pinned(written, state, say=say_as(written, element, english=english and not state.language))
        out.text(element.tail, state)
        return
    elif tag == "prosody":
        inner = _State(state.language, state.rate * _rate(element.get("rate")) if element.get("rate") else state.rate)
        if not MIN_RATE <= inner.rate <= MAX_RATE:
            raise InvalidSSML(f"<prosody rate> makes a rate of {inner.rate:g}, outside {MIN_RATE:g}-{MAX_RATE:g}.")
        for attribute in ("pitch", "volume"):
            if element.get(attribute) is not None:
                raise InvalidSSML(f"<prosody {attribute}> is not supported (rate is); remove it.")
    elif tag == "lang":
        language = element.get(_XML_LANG) or element.get("lang")
        if not language:
            raise InvalidSSML("<lang> needs an xml:lang attribute (a language tag such as fr-FR).")
        inner = _State(language, state.rate)
    else:
        raise InvalidSSML(f"The SSML tag <{tag or element.tag}> is not supported. Supported: {', '.join(SUPPORTED)}.")
    out.text(element.text, inner)
    for child in element:
        _visit(child, out, inner, depth=depth + 1, english=english)
    if tag in ("p", "paragraph"):
        out.boundary("\n\n")
    elif tag in ("s", "sentence"):
        out.boundary("\n")
    if tag != "speak":
        out.text(element.tail, state)


SUPPORTED = ("speak", "p", "s", "break", "phoneme", "sub", "say-as", "prosody", "lang")


def _only_text(element: Element) -> str:
    if len(element):
        raise InvalidSSML(f"<{_tag(element)}> may hold only text, not <{_tag(element[0])}>.")
    return element.text or ""


def _break(element: Element, ceiling: float) -> float:
    time, strength = element.get("time"), element.get("strength")
    if time is not None:
        match = _TIME.match(time)
        if match is None:
            raise InvalidSSML(f"<break time={time!r}>: write a duration such as \"500ms\" or \"1.5s\".")
        seconds = float(match.group(1)) / (1000 if match.group(2).lower() == "ms" else 1)
        return min(seconds, ceiling)
    if strength is not None:
        if strength not in STRENGTHS:
            raise InvalidSSML(f"<break strength={strength!r}>: use one of {', '.join(STRENGTHS)}.")
        return STRENGTHS[strength]
    return STRENGTHS["medium"]


def _rate(value: str) -> float:
    if value in RATES:
        return RATES[value]
    match = _RATE.match(value)
    if match is None:
        raise InvalidSSML(f"<prosody rate={value!r}>: use x-slow…x-fast, a percentage (\"120%\") or a number.")
    sign, number, percent = match.groups()
    amount = float(number) / 100 if percent else float(number)
    if sign:  # relative: "+20%" is 1.2 times, "-20%" 0.8 times
        return 1.0 + amount if sign == "+" else 1.0 - amount
    return amount


def say_as(written: str, element: Element, *, english: bool) -> str:
    """What <say-as> says for its text (English words; other languages read digits and letters themselves)."""
    kind = (element.get("interpret-as") or "").lower()
    if kind not in SAY_AS:
        raise InvalidSSML(f"<say-as interpret-as={kind!r}> is not supported; use one of: {', '.join(SAY_AS)}.")
    text = written.strip()
    if kind in ("characters", "spell-out", "verbatim"):
        letters = [c for c in text if not c.isspace()]
        if not english:
            return " ".join(letters)
        return " ".join(_digits(c) if c.isdigit() else _spell(c) if c.isalpha() else c for c in letters)
    if not english:
        return text
    digits = re.sub(r"[,\s]", "", text)
    if kind in ("cardinal", "number"):
        if re.fullmatch(r"[+-]?\d+", digits):
            return ("minus " if digits.startswith("-") else "") + _cardinal(digits.lstrip("+-"))
        return text
    if kind == "ordinal":
        return _ordinal(digits) if digits.isdigit() else text
    if kind == "telephone":
        groups = ", ".join(_digits(group) for group in re.findall(r"\d+", text))
        return ("plus " + groups) if text.startswith("+") else groups or text
    if kind == "date":
        return _say_date(text, (element.get("format") or "mdy").lower()) or text
    return text  # time: the normalizer reads "3:45 pm", "15:30"


def _say_date(text: str, fmt: str) -> str | None:
    numbers = re.findall(r"\d+", text)
    if len(numbers) != len(fmt) or not set(fmt) <= set("dmy"):
        return None
    values = dict(zip(fmt, numbers, strict=True))
    month = int(values.get("m", 0))
    if "d" in values and "m" in values:
        return _date(month, int(values["d"]), values.get("y"), day_first=fmt.index("d") < fmt.index("m"))
    if "y" in values and len(values) == 1:
        return _year(int(values["y"]))
    return None


# -- ElevenLabs' inline tags ------------------------------------------------------------------------------------

_INLINE = re.compile(
    r"<break\s+time\s*=\s*(?P<q>[\"'])(?P<time>[^\"']*)(?P=q)\s*/>"
    r"|<phoneme\s+(?P<attrs>[^>]*)>(?P<word>[^<]*)</phoneme>",
    re.IGNORECASE,
)
_ATTRIBUTE = re.compile(r"(\w[\w:-]*)\s*=\s*([\"'])(.*?)\2")


def has_inline(text: str) -> bool:
    return _INLINE.search(text) is not None


def inline(text: str, *, english: bool = True) -> Script:
    """ElevenLabs' inline tags in ordinary text: <break time> (at most 3 s) and <phoneme>; the rest is text."""
    builder = _Builder(english=english)
    state = _State()
    position = 0
    for match in _INLINE.finditer(text):
        builder.text(text[position:match.start()], state)
        position = match.end()
        if match.group("time") is not None:
            found = _TIME.match(match.group("time"))
            if found is None:
                raise InvalidSSML(f"<break time={match.group('time')!r}>: write a duration such as \"1.5s\".")
            seconds = float(found.group(1)) / (1000 if found.group(2).lower() == "ms" else 1)
            builder.pause(min(seconds, MAX_BREAK_INLINE))
            continue
        attributes = {k.lower(): v for k, _, v in _ATTRIBUTE.findall(match.group("attrs"))}
        alphabet = attributes.get("alphabet", "ipa").lower()
        alphabet = "cmu-arpabet" if alphabet in ("cmu-arpabet", "x-cmu-arpabet") else alphabet
        if alphabet not in ("ipa", "cmu-arpabet") or not attributes.get("ph"):
            raise InvalidSSML("<phoneme> needs alphabet=\"ipa\" or \"cmu-arpabet\" and a ph attribute.")
        try:
            phonemes = kokoro_phonemes(attributes["ph"], alphabet, english=english)
        except InvalidRule as error:
            raise InvalidSSML(f"<phoneme ph={attributes['ph']!r}>: {error}") from None
        builder.pinned(match.group("word"), state, phonemes=phonemes)
    builder.text(text[position:], state)
    return builder.finish()

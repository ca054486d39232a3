"""
English text normalization: written text in, the words a reader would say out.

eSpeak NG reads digits, symbols and abbreviations on its own, but not as a
person would (measured with our phonemizer, en-us): "$5.50" as "dollar five
point five zero", "1999" as "nineteen hundred ninety nine", "3:30" as "three
colon thirty", "Dr. Smith" with a sentence pause after "doctor". So English
text is rewritten into plain words before it is phonemized:

    normalize("Dr. Smith paid $5.50 at 3:30 pm on 2024-03-15.")
    -> "Doctor Smith paid five dollars and fifty cents at three thirty p m on
        March fifteenth, twenty twenty-four."

How it works: `_PASSES` is an ordered list of (compiled regex, replacement
function). Each pass rewrites one kind of token into words, so a later pass
never sees its digits or symbols (only the range and "No." passes rewrite
just the connecting symbol and leave the numbers to later passes). The order
is the design; where it matters, the comment on the pass says why. In short:
the tokens that contain other tokens go first (a URL contains dots and digits,
a date contains a range-like hyphen, money contains a decimal), and the
general catch-alls (bare integers, symbols, acronyms) go last.

The passes, in order (each one's comment says why it stands where it does):

    0.  Markdown: code fences, setext underlines, horizontal rules, tables,
        blockquotes, headings, list items, link definitions, links and
        images, autolinks, code spans, emphasis. First, because a link's
        target is a URL and "**" and "#" are symbols the later passes would
        read; headings, items, rows and code lines become sentences (a full
        stop is added where no punctuation ends them).
    1.  emails, URLs; then file names ("report.pdf" -> "report dot P D F"),
        "www", hashtags ("#BlackFriday" -> "hashtag Black Friday") and "C#".
    2.  ZIP codes ("CA 94103", "94103-1234") and phone numbers ("555-0199",
        "+44 20 7946 0958", "call 911"), digit by digit in comma-separated
        groups, before ranges and integers can read them as quantities.
    3.  "No. 5" / "#1"; weekday ("Mon-Fri") and address ("Apt 4B", "5th Ave")
        abbreviations, while the numbers that tell them apart are digits.
    4.  dates, ranges, times, version numbers, money, percentages,
        dimensions, plural numbers, compound units ("mg/dL", "km/h"), units,
        ordinals, named numbers ("room 101" -> "room one oh one", "port
        8080" -> "port eighty eighty"), years, decimals, fractions,
        arithmetic ("+", "*"), the remaining integers.
    5.  symbols, a leftover "*" (dropped), abbreviations, dotted acronyms,
        roman numerals (any size after "Chapter", "Part", "Super Bowl", a
        king's name; I-X after any capitalised word), and acronyms last
        (spelled, except those said as words and capitalised ordinary words
        such as "DEBUG" or "README").

Numbers are spelled by num2words (its default English style, "one hundred
and five"); only years, times and digit strings are assembled here.

Guarantees: `normalize` never raises; text with nothing to normalize comes
back unchanged apart from whitespace (runs of spaces become one space, runs
of blank lines one line break, which the chunker uses as a sentence end);
sentence punctuation stays where it is real punctuation; the regexes start
only at token boundaries (lookbehinds) and have no nested unbounded repeats,
so the time is linear in the length of the text (the tests time 20,000
characters of adversarial input).

No Django imports: this is part of the engine core.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from num2words import num2words

__all__ = ["normalize"]

Replacement = Callable[[re.Match], str]

# --------------------------------------------------------------------------
# Reading numbers
# --------------------------------------------------------------------------

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Ungrouped digit strings longer than this are identifiers (card numbers,
# order ids), read digit by digit; "one quadrillion ..." helps nobody.
_MAX_CARDINAL_DIGITS = 15
# num2words raises OverflowError past ~10**66 (and Python's int() refuses
# strings over 4300 digits); anything this long is read digit by digit.
_MAX_GROUPED_DIGITS = 60


def _digits(text: str) -> str:
    """'4567' -> 'four five six seven' (any Unicode decimal digit)."""
    return " ".join(_DIGIT_WORDS[unicodedata.digit(c)] for c in text if unicodedata.digit(c, None) is not None)


def _cardinal(number: str) -> str:
    """'1,234' -> 'one thousand two hundred and thirty-four'.

    Leading zeros ('007'), very long numbers and anything num2words refuses
    are read digit by digit instead, so this never raises on digits.
    """
    grouped = "," in number
    digits = number.replace(",", "")
    if len(digits) > 1 and digits.startswith("0"):
        return _digits(digits)
    if len(digits) > (_MAX_GROUPED_DIGITS if grouped else _MAX_CARDINAL_DIGITS):
        return _digits(digits)
    try:
        # num2words puts commas between groups ("one million, two hundred"):
        # those are not punctuation the reader wrote, so they go.
        return num2words(int(digits)).replace(",", "")
    except (OverflowError, ValueError, ArithmeticError):
        return _digits(digits)


def _ordinal(number: str) -> str:
    """'23' -> 'twenty-third'."""
    digits = number.replace(",", "")
    if len(digits) <= _MAX_CARDINAL_DIGITS:
        try:
            return num2words(int(digits), to="ordinal").replace(",", "")
        except (OverflowError, ValueError, ArithmeticError):
            pass
    # Too long to say as one number: the digits, the last one as an ordinal.
    head = _digits(digits[:-1])
    last = num2words(unicodedata.digit(digits[-1]), to="ordinal")
    return f"{head} {last}".strip()


def _number(integer: str | None, fraction: str | None = None, negative: bool = False) -> str:
    """'3', '14' -> 'three point one four'; a decimal's digits are read one by one."""
    words = _cardinal(integer) if integer else "zero"
    if fraction:
        words += " point " + _digits(fraction)
    return ("minus " + words) if negative else words


def _is_one(integer: str | None, fraction: str | None) -> bool:
    """Whether a quantity takes the singular: '1 km' but '1.5 km', '0 km'."""
    return integer is not None and integer.lstrip("0") == "1" and not fraction


def _attributive(m: re.Match) -> bool:
    """'a 5 km walk', 'a $5 bill': after "a"/"an" the unit is singular ("a five kilometer walk")."""
    return _word_before(m.string, m.start()).lower() in ("a", "an")


def _year(year: int) -> str:
    """1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five', 1900 -> 'nineteen hundred'."""
    century, rest = divmod(year, 100)
    if century % 10 == 0 and rest < 10:
        # 2000-2009 (and 1000-1009) are said as cardinals, without num2words' "and".
        thousands = _cardinal(str(year // 1000)) + " thousand"
        return f"{thousands} {_cardinal(str(year % 1000))}" if year % 1000 else thousands
    if rest == 0:
        return f"{_cardinal(str(century))} hundred"
    if rest < 10:
        return f"{_cardinal(str(century))} oh {_cardinal(str(rest))}"
    return f"{_cardinal(str(century))} {_cardinal(str(rest))}"


def _plural(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties', 'six' -> 'sixes', 'hundred' -> 'hundreds'."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith(("x", "s")):
        return words + "es"
    return words + "s"


def _spell(letters: str) -> str:
    """'FBI' -> 'F B I': letter names, one word each.

    eSpeak reads a lone "A" before another word as the article ("A P I" ->
    "uh P I") but reads "A-P" as two letter names, so an "A" is joined to
    the next letter by a hyphen: 'API' -> 'A-P I', 'am' -> 'a-m'.
    """
    out = []
    for index, letter in enumerate(letters):
        out.append(letter)
        out.append("-" if letter in "Aa" and index + 1 < len(letters) else " ")
    return "".join(out).strip()


# --------------------------------------------------------------------------
# Context around a match
# --------------------------------------------------------------------------

# Words that start a sentence far more often than they follow "Dr." or "St.":
# "on Main St. The house" is a sentence end, "St. Louis" is not.
_SENTENCE_STARTERS = frozenset(
    """
    A After Also An And Are As At Before But Can Did Do Does For From He Her Here His How However I If In
    Is It Its Let Let's Many Meanwhile Most My No Now On Once Our Please She So Some Still That The Their
    Then There These They This Those Thus To We What When Where While Why Will With Yes You Your
    """.split()
)
_CLOSERS = "\"')]}"


def _sentence_ends_after(text: str, index: int) -> bool:
    """Whether the period of an abbreviation ending at `index` also ends its sentence.

    It does at the end of the text or of a line (after any closing quotes or
    brackets) and before a word that usually starts a sentence.
    """
    window = text[index : index + 80]
    rest = window.lstrip(_CLOSERS + " \t")
    if not rest:
        return index + 80 >= len(text)
    if rest[0] == "\n":
        return True
    if rest[0] in ".,;:!?" or len(rest) == len(window):
        return False  # other punctuation follows, or the next word is glued on
    word = re.match(r"[A-Za-z']+", rest)
    return bool(word) and word.group(0) in _SENTENCE_STARTERS


def _word_before(text: str, index: int) -> str:
    match = re.search(r"([^\W\d_][\w'-]*)[\s,]*$", text[max(0, index - 40) : index])
    return match.group(1) if match else ""


def _word_after(text: str, index: int) -> str:
    match = re.match(r"\s*([^\W\d_][\w'-]*)", text[index : index + 40])
    return match.group(1) if match else ""


def _period(match: re.Match, group: str = "dot") -> str:
    """The abbreviation's own '.' is kept only when it also ends the sentence."""
    if match.group(group) and _sentence_ends_after(match.string, match.end()):
        return "."
    return ""


# --------------------------------------------------------------------------
# Unicode clean-up (before any pass)
# --------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        # Quotes: eSpeak reads "don’t" wrong but "don't" right.
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        # Hyphens and the minus sign; the en dash is handled below (range or clause dash).
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-", "\ufe63": "-", "\uff0d": "-",
        "\u2015": "\u2014",  # horizontal bar: the em dash, which the model knows as punctuation
        # Spaces that are not plain spaces.
        "\u00a0": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
        "\u205f": " ", "\u3000": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ",
        "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2028": "\n", "\u2029": "\n",
        # Invisible characters.
        "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None, "\u00ad": None,
        "\ufffd": None,
        # Symbols with a spelled form.
        "\u00d7": " times ", "\u00f7": " divided by ", "\u2103": "\u00b0C", "\u2109": "\u00b0F",
        "\u00ba": "\u00b0",
        "\u00bd": "1/2", "\u2153": "1/3", "\u2154": "2/3", "\u00bc": "1/4", "\u00be": "3/4",
        "\u215b": "1/8", "\u215c": "3/8", "\u215d": "5/8", "\u215e": "7/8", "\u2155": "1/5",
    }
)
_VULGAR_AFTER_DIGIT = re.compile(r"(?<=\d)(?=[\u00bd\u2153\u2154\u00bc\u00be\u215b-\u215e\u2155])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_EN_DASH_SPACED = re.compile(r"\s\u2013\s")  # whitespace runs are one character by then
_DOUBLE_HYPHEN = re.compile(r"(?<=\w)--(?=\w)|(?<=\s)--(?=\s)")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n[\s]*")


def _line_break(match: re.Match) -> str:
    return "\n\n" if match.group(0).count("\n") > 1 else "\n"


def _clean(text: str) -> str:
    # Lone surrogates cannot be encoded (eSpeak would choke); real pairs are joined.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _VULGAR_AFTER_DIGIT.sub(" ", text)  # "2½" -> "2 1/2", a mixed number
    text = text.translate(_TRANSLATE)
    # A blank line (a paragraph break) stays one: the chunker gives it a longer pause.
    text = _LINE_BREAKS.sub(_line_break, _HORIZONTAL_SPACE.sub(" ", text)).strip()
    # A spaced en dash (or "--") is a clause dash; an unspaced one is a hyphen ("10–20" is a range).
    text = _EN_DASH_SPACED.sub(" \u2014 ", text).replace("\u2013", "-")
    return _DOUBLE_HYPHEN.sub("\u2014", text)


# --------------------------------------------------------------------------
# The passes, in order
# --------------------------------------------------------------------------

_PASSES: list[tuple[re.Pattern, Replacement]] = []


def _pass(pattern: str, flags: int = 0) -> Callable[[Replacement], Replacement]:
    """Register the decorated function as the next pass, for `pattern`."""

    def register(function: Replacement) -> Replacement:
        _PASSES.append((re.compile(pattern, flags), function))
        return function

    return register


# A number with optional thousands separators and decimals; a sign is only a
# minus when it is not a hyphen (nothing word-like right before it).
_INT = r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
_NUM = _INT + r"(?:\.(?P<frac>\d+))?"
_SIGN = r"(?:(?<![\w.\-])(?P<neg>-))?"
_START = r"(?<![\w.,])"  # a number starts here, not in the middle of "v1.5" or "1,5"


# -- 0. Markdown and list markup, before everything: a link's target is a URL
#       the URL pass would read out, "**" and "#" would be read as symbols,
#       and the line-level markup (headings, bullets, tables) only makes
#       sense while the lines are still lines. Block markup is taken first
#       (code fences, then rules, tables, quotes, headings and list items),
#       then the inline markup inside the lines (images, links, code spans,
#       emphasis). A heading, list item, table row or code line becomes a
#       sentence of its own: it gets a full stop unless it already ends in
#       punctuation, because eSpeak and the model make no pause at a bare
#       line break inside a chunk. Every pattern is anchored at a line start
#       or at its own delimiter and scans to the end of one line at most.

_ENDS_SENTENCE = frozenset(".!?…:;,")


def _sentence(line: str) -> str:
    """'Title' -> 'Title.': a line of markup read as a sentence of its own."""
    line = line.strip()
    if not line or line[-1] in _ENDS_SENTENCE:
        return line
    if not any(c.isalnum() for c in line):
        return ""  # nothing to say ("| |", "{", "```")
    return line + "."


@_pass(r"^(?:```|~~~)[^\n]*\n?(?P<body>.*?)(?:\n(?:```|~~~)[ ]*$|\Z)", re.MULTILINE | re.DOTALL)
def _code_fence(m: re.Match) -> str:
    """A fenced code block: the fences and the language tag go, each code line is read as a sentence.

    A person reading a tutorial aloud reads the code, line by line; the
    lines' own symbols are left to the passes below ("x = 1" -> "x equals one.").
    """
    lines = (_sentence(line) for line in m["body"].split("\n"))
    return "\n".join(line for line in lines if line)


@_pass(r"^(?P<head>[^\n]*[^\s.!?…:;,])\n(?:=+|-+)[ ]*$", re.MULTILINE)
def _setext_heading(m: re.Match) -> str:
    """'Title\\n=====' -> 'Title.': the underline is markup, the heading a sentence.

    Before the rule pass, which would drop the underline but leave the heading
    without its sentence end; before the list pass, which would take a
    "- item" line above a "---" for a heading's text (harmless: it gets its stop).
    """
    if m["head"].lstrip().startswith(("|", "#", ">")):
        return m.group(0)  # a table row or heading of its own, not a setext heading
    return _sentence(m["head"])


@_pass(r"^(?=[-*_])[-*_ ]{3,}$\n?", re.MULTILINE)
def _horizontal_rule(m: re.Match) -> str:
    """'---', '* * *', '___': a horizontal rule says nothing."""
    marks = m.group(0).replace(" ", "").strip()
    return "" if len(marks) >= 3 and len(set(marks)) == 1 else m.group(0)


@_pass(r"^(?=[|:\- ]*\|)(?=[|:\- ]*-)[|:\- ]+$\n?", re.MULTILINE)
def _table_separator(m: re.Match) -> str:
    """'|---|:--:|' under a table's header row says nothing."""
    return ""


@_pass(r"^\|(?P<cells>[^\n]*)$", re.MULTILINE)
def _table_row(m: re.Match) -> str:
    """'| Apple | $1 |' -> 'Apple, $1.': a row is read as a sentence, its cells a list."""
    cells = [cell.strip() for cell in m["cells"].split("|")]
    return _sentence(", ".join(cell for cell in cells if cell))


@_pass(r"^>[> ]*", re.MULTILINE)
def _blockquote(m: re.Match) -> str:
    """'> quoted' -> 'quoted' (before headings and lists, which a quote may contain)."""
    return ""


_CLOSING_HASHES = re.compile(r"(?:^|[ ])#+[ ]*$")


@_pass(r"^#{1,6}(?:[ ]+(?P<text>[^\n]*))?$", re.MULTILINE)
def _heading(m: re.Match) -> str:
    """'## Getting started' -> 'Getting started.' ('#1' and '#hashtag' have no space: not headings)."""
    return _sentence(_CLOSING_HASHES.sub("", m["text"] or ""))


@_pass(r"^(?:[-*+]|\d{1,3}[.)])[ ]+(?:\[[ xX]\][ ]+)?(?P<text>[^\n]*)$", re.MULTILINE)
def _list_item(m: re.Match) -> str:
    """'- milk', '* eggs', '1. Preheat the oven', '- [x] done': the marker goes, the item is a sentence."""
    return _sentence(m["text"])


@_pass(r"^\[[^\]\n]+\]:[ ]*\S+[^\n]*$\n?", re.MULTILINE)
def _link_definition(m: re.Match) -> str:
    """'[1]: https://example.com "Title"': a reference link's target, never read."""
    return ""


@_pass(
    r"(?P<image>!?)\[(?P<text>[^\[\]\n]*)\]"
    r"(?:\([ ]*[^()\s]*(?:\([^()\s]*\)[^()\s]*)?(?:[ ]+\"[^\"\n]*\")?[ ]*\)|\[[^\[\]\n]*\])"
)
def _link(m: re.Match) -> str:
    """'[the docs](https://...)' -> 'the docs'; '![a cat](cat.png)' -> 'a cat'; '[text][ref]' -> 'text'."""
    return m["text"].strip()


@_pass(r"<(?P<target>(?:https?|ftp)://[^\s<>]+|[^\s<>@]+@[^\s<>@]+)>")
def _autolink(m: re.Match) -> str:
    """'<https://example.com>' -> the address alone, for the URL and email passes."""
    return m["target"]


@_pass(r"`+(?P<code>[^`\n]+)`+")
def _code_span(m: re.Match) -> str:
    """'`pip install`' -> 'pip install': the backticks are markup."""
    return m["code"].strip()


# Emphasis: the delimiters go, the words stay. A "*" or "_" counts only when
# it hugs a word on the inside and not on the outside, so "5 * 3", "2*3*4"
# and "snake_case_name" are prose. The pass runs twice, for one level of
# nesting ("**bold *and italic***").
_EMPHASIS = (
    r"(?<!\w)(?P<mark>\*{1,3}|_{1,3}|~~)(?=[^\s*_~])(?P<text>[^*_~\n]+?)(?<=[^\s*_~])(?P=mark)(?!\w)"
)


@_pass(_EMPHASIS)
def _emphasis(m: re.Match) -> str:
    return m["text"]


_pass(_EMPHASIS)(_emphasis)


# -- 1. Emails, then URLs: they contain dots, digits, hyphens, "@" and "/"
#       that every later pass would otherwise misread.

_URL_SYMBOLS = {
    ".": "dot", "/": "slash", "-": "dash", "_": "underscore", ":": "colon", "@": "at", "+": "plus",
    "?": "question mark", "=": "equals", "&": "and", "#": "hash", "%": "percent", "~": "tilde",
}


def _spell_address(address: str) -> str:
    """'jane.doe42' -> 'jane dot doe four two': words kept, symbols named, digits one by one."""
    if address.isupper():
        address = address.lower()  # "INFO@EXAMPLE.COM" is not a string of acronyms
    words = []
    for part in re.findall(r"[^\W\d_]+|\d+|.", address):
        if part[0].isdigit():
            words.append(_digits(part))
        elif part[0].isalpha():
            words.append(part)
        elif part in _URL_SYMBOLS:
            words.append(_URL_SYMBOLS[part])
    return " ".join(words)


@_pass(r"(?<![\w.+\-])[\w.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
def _email(m: re.Match) -> str:
    return _spell_address(m.group(0))


_TLDS = "com|org|net|edu|gov|io|ai|dev|app|co|uk|info|biz|tv|ly|gg|fm"
_URL_TRAILING = re.compile(r"[.,;:!?)\]'\"]+$")


@_pass(
    r"(?<![\w@/.\-])(?:"
    r"(?:https?|ftp)://[^\s<>\"'()\[\]{}]+"  # with a scheme: anything up to a space
    r"|www\.[^\s<>\"'()\[\]{}]+"
    rf"|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.(?:{_TLDS})(?![\w\-])(?:/[^\s<>\"'()\[\]{{}}]*)?"  # bare domain
    r")",
    re.IGNORECASE,
)
def _url(m: re.Match) -> str:
    url = m.group(0)
    trailing = _URL_TRAILING.search(url)  # a sentence's "." or ")" after the URL is not part of it
    tail = trailing.group(0) if trailing else ""
    url = url[: len(url) - len(tail)]
    url = re.sub(r"^(?:[a-z]+://)?(?:www\.)?", "", url, flags=re.IGNORECASE).rstrip("/")
    return _spell_address(url) + tail


# -- 1b. File names: "report.pdf" -> "report dot P D F". After URLs and
#        emails (a domain's ".com" is theirs; no extension below is a TLD
#        that pass knows) and before the dotted numbers, decimals and
#        acronyms, which would take "v2.pdf" or "README" apart.

_EXTENSIONS = {
    # extension: how it is said (anything not listed is spelled letter by letter)
    "json": "JSON", "yaml": "YAML", "toml": "toml", "gif": "gif", "zip": "zip", "tar": "tar",
    "log": "log", "lock": "lock", "conf": "conf", "jpeg": "J peg", "docx": "doc X", "wav": "wave",
    "java": "java", "html": "H T M L", "epub": "E pub", "ipynb": "I P Y N B", "txt": "text",
}
_EXTENSION_NAMES = (
    "pdf|py|txt|md|csv|tsv|json|yaml|yml|xml|html|htm|css|js|mjs|ts|tsx|jsx|doc|docx|xls|xlsx|ppt|pptx|"
    "png|jpg|jpeg|gif|svg|webp|mp3|mp4|wav|ogg|flac|mov|avi|zip|tar|gz|tgz|exe|dmg|sh|bat|ini|cfg|conf|"
    "log|sql|db|toml|lock|java|rb|rs|cpp|ipynb|epub|srt|vtt"
)


@_pass(
    rf"(?<![\w.@/\\\-])(?P<name>[\w\-]+(?:\.[\w\-]+)*)\.(?P<ext>{_EXTENSION_NAMES})(?![\w\-]|\.\w)",
    re.IGNORECASE,
)
def _file_name(m: re.Match) -> str:
    name, ext = m["name"], m["ext"].lower()
    if not (m["ext"].islower() or m["ext"].isupper()) or not any(c.isalpha() for c in name):
        return m.group(0)  # "1.5.py"? not a name anyone writes; leave the numbers to their passes
    spoken = _EXTENSIONS.get(ext) or _spell(ext.upper())
    return f"{_spell_address(name)} dot {spoken}"


# -- 1c. "www" on its own (a URL's "www." was dropped above): three letters.

@_pass(r"(?<![\w.])www(?![\w]|\.\w)", re.IGNORECASE)
def _www(m: re.Match) -> str:
    return "W W W"


# -- 1d. Hashtags and C#: after URLs (a URL's "#section" is theirs) and the
#        Markdown headings (which take only "# " with a space, at a line
#        start, so "#tag" is left here), beside the "#1" -> "number one" pass
#        below (a tag needs a letter), and before the integers and acronyms
#        read the tag's parts ("#100DaysOfCode", "#AI").

_DIRECTIVES = frozenset("include define pragma ifdef ifndef endif undef if elif else error import".split())
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Za-z])|(?<=[A-Z])(?=[A-Z][a-z])|_+")


@_pass(r"(?<![\w&#])#(?P<tag>\d*[^\W\d_][\w]*)")
def _hashtag(m: re.Match) -> str:
    """'#BlackFriday' -> 'hashtag Black Friday', '#100DaysOfCode' -> 'hashtag 100 Days Of Code'."""
    if m["tag"] in _DIRECTIVES:
        return "hash " + m["tag"]  # "#include <stdio.h>" in a code listing
    return "hashtag " + " ".join(_CAMEL.sub(" ", m["tag"]).split())


@_pass(r"(?<![\w#])(?P<letter>[A-Ga-g])#(?![\w#])")
def _sharp(m: re.Match) -> str:
    """'C#', 'F#' (the languages, the notes): 'C sharp'."""
    return m["letter"].upper() + " sharp"


# -- 2. ZIP codes, then phone numbers, before dates and ranges read
#       "94103-1234" or "555-0199" as ranges and the integers read them as
#       quantities. Both are read digit by digit, a comma (a short pause)
#       between groups.

_STATES = frozenset(
    """
    AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC
    ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR
    """.split()
)


@_pass(r"(?<![\w\-])(?:(?P<state>[A-Z]{2}),? )?(?P<zip>\d{5})(?:-(?P<plus4>\d{4}))?(?![\w\-]|[.,]\d)")
def _zip_code(m: re.Match) -> str:
    """'CA 94103' -> 'CA nine four one zero three'; '94103-1234' is ZIP+4 wherever it stands."""
    if m["state"] and m["state"] not in _STATES:
        return m.group(0)  # "ID 12345", "OK 50000": not a state before a ZIP
    cue = m["state"] or m["plus4"] or _word_before(m.string, m.start()).lower() in ("zip", "zipcode", "postcode")
    if not cue:
        return m.group(0)  # a lone five-digit number is a quantity
    words = _digits(m["zip"]) + (", " + _digits(m["plus4"]) if m["plus4"] else "")
    return m.group(0)[: m.start("zip") - m.start()] + words


# Words that say a number is a phone number whatever it looks like.
_PHONE_WORDS = frozenset("call phone tel telephone fax dial text mobile cell number line hotline".split())


@_pass(
    r"(?<![\w+(\-$£€¥₹.,])(?:"
    r"\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)|\d{1,4})(?:[ .\-]?\d{2,4}){2,4}"  # +1 555 123 4567, +33 1 23 45 67 89
    r"|(?:1[ .\-])?\(\d{3}\) ?\d{3}[ .\-]\d{4}"  # (555) 123-4567
    r"|(?:1-)?\d{3}-\d{3}-\d{4}"  # 555-123-4567, 1-800-555-1234
    r"|\d{3}\.\d{3}\.\d{4}"  # 555.123.4567
    r"|(?P<short>\d{3}[ \-]\d{4})"  # 555-0199, 555 0199: checked below
    r"|(?P<service>[1-9]11|999|112|988)"  # 911, 999, 112: only after "call" or "dial"
    r")(?!\w|[.,\-]\d)"
)
def _phone(m: re.Match) -> str:
    if m["service"]:
        if _word_before(m.string, m.start()).lower() not in ("call", "dial", "calling", "called", "dialed", "dialled"):
            return m.group(0)
        return _digits(m["service"])  # "call 911": nine one one
    if m["short"]:
        first, second = re.split(r"[ \-]", m["short"])
        cue = _word_before(m.string, m.start()).lower() in _PHONE_WORDS
        # "100-1000", "250 1500": round numbers are a range or two quantities;
        # an exchange never starts with 0 or 1.
        round_numbers = first.endswith("0") and second.endswith("00") and not second.startswith("0")
        if not cue and (first[0] in "01" or round_numbers):
            return m.group(0)
    groups = ", ".join(_digits(group) for group in re.findall(r"\d+", m.group(0)))
    return ("plus " + groups) if m.group(0).startswith("+") else groups


# -- 3. "No. 5" and "#1" -> "number": before the integers pass turns the 5 into words.

@_pass(r"(?<![\w.])No\.\s?(?=\d)|(?<![\w&#])#(?=\d)")
def _number_sign(m: re.Match) -> str:
    return "number "


# -- 4. Dates, before ranges (the hyphens of "2024-03-15") and fractions
#       (the slashes of "3/15/2024") and before years and ordinals, which
#       they contain.

_MONTH_NAMES = (
    "January February March April May June July August September October November December".split()
)
_MONTHS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, 1)}
_MONTHS.update({name[:3].lower(): number for number, name in enumerate(_MONTH_NAMES, 1)})
_MONTHS["sept"] = 9
_MONTH = "(?P<mon>" + "|".join(_MONTH_NAMES) + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# -- 3b. Weekday and address abbreviations, before dates and numbers: what
#        tells them from ordinary words is often the number beside them
#        ("Sat 3 pm", "Apt 4B", "5th Ave"), still digits here.

_WEEKDAYS = {
    "Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
    "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday",
}
_WEEKDAY = r"(?:Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)"
# Words as well as weekdays: expanded only beside another weekday, a number or a month.
_WEEKDAY_WORDS = frozenset({"Wed", "Sat", "Sun"})
_WEEKDAY_JOINERS = {"-": " to ", "/": " and ", "&": " and ", "to": " to ", ",": ", "}


@_pass(
    rf"(?<![\w.'])(?P<a>{_WEEKDAY})(?P<adot>\.)?"
    rf"(?:(?P<join> ?[-/&] ?| to |, )(?P<b>{_WEEKDAY})(?P<dot>\.)?)?(?![\w'])"
)
def _weekday(m: re.Match) -> str:
    """'Mon-Fri' -> 'Monday to Friday'; 'Tue.' -> 'Tuesday'; 'Sat 9am' -> 'Saturday 9am'; 'the Sun' stays."""
    if not m["b"] and m["a"] in _WEEKDAY_WORDS:
        after = m.string[m.end() : m.end() + 12]
        if not re.match(rf",?\s?(?:\d|{_MONTH}\b)", after):
            return m.group(0)
    first = _WEEKDAYS[m["a"]]
    if not m["b"]:
        return first + _period(m, "adot")
    return first + _WEEKDAY_JOINERS[m["join"].strip() or ","] + _WEEKDAYS[m["b"]] + _period(m)


_ADDRESS = {
    "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Hwy": "Highway", "Pkwy": "Parkway", "Ln": "Lane",
    "Ct": "Court", "Apt": "Apartment", "Ste": "Suite", "Fl": "Floor", "Bldg": "Building",
}
# A street type after a street's name ("Park Ave", "5th Ave"); a unit before its number ("Apt 4B").
_STREET_TYPES = frozenset({"Ave", "Ln", "Ct"})
_UNIT_TYPES = frozenset({"Apt", "Ste", "Fl", "Bldg"})


@_pass(r"(?<![\w.'])(?P<abbr>Ave|Blvd|Rd|Hwy|Pkwy|Ln|Ct|Apt|Ste|Fl|Bldg)(?P<dot>\.)?(?![\w'])")
def _address(m: re.Match) -> str:
    """'5th Ave' -> '5th Avenue', 'Apt 4B' -> 'Apartment 4B', 'Ste 200' -> 'Suite 200'."""
    abbr = m["abbr"]
    if abbr in _UNIT_TYPES:
        if not re.match(r"\s?#?\s?(?:\d|[A-Z]\b)", m.string[m.end() : m.end() + 4]):
            return m.group(0)  # "Ste. Marie" is Sainte
        return _ADDRESS[abbr]  # a unit is never the last word of a sentence: its number follows
    if abbr in _STREET_TYPES:
        before = re.search(r"(\S+)\s$", m.string[max(0, m.start() - 20) : m.start()])
        word = before.group(1) if before else ""
        if not (word[:1].isupper() or word[:1].isdigit()) or _word_after(m.string, m.end()) == "Maria":
            return m.group(0)
    return _ADDRESS[abbr] + _period(m)



def _date(month: int, day: int, year: str | None, *, day_first: bool = False) -> str | None:
    """The spoken date, or None when it is not a real one (then the text is left for other passes)."""
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return None
    name, nth = _MONTH_NAMES[month - 1], _ordinal(str(day))
    words = f"the {nth} of {name}" if day_first else f"{name} {nth}"
    return f"{words}, {_year(int(year))}" if year else words


@_pass(r"(?<![\w\-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w]|-\d)")
def _iso_date(m: re.Match) -> str:
    # Not a real date (2023-02-30): still not a range, so read the parts.
    return _date(int(m["m"]), int(m["d"]), m["y"]) or f"{_year(int(m['y']))} {_digits(m['m'])} {_digits(m['d'])}"


@_pass(r"(?<![\w/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})(?![\w/])")
def _slash_date(m: re.Match) -> str:
    month, day = int(m["a"]), int(m["b"])
    if month > 12 >= day:  # 15/3/2024 can only be day first
        month, day = day, month
    return _date(month, day, m["y"]) or m.group(0)


_SUFFIX = r"(?:st|nd|rd|th)?"


@_pass(rf"\b{_MONTH}\.?\s+(?P<d>\d{{1,2}}){_SUFFIX}(?![\w:])(?:,?\s+(?P<y>\d{{4}})(?![\w,.]\d|\w))?")
def _month_day(m: re.Match) -> str:
    """March 15, 2024 -> March fifteenth, twenty twenty-four."""
    return _date(_MONTHS[m["mon"].lower()], int(m["d"]), m["y"]) or m.group(0)


@_pass(
    rf"(?<![\w.,])(?P<d>\d{{1,2}}){_SUFFIX}\s+(?:of\s+)?{_MONTH}\b(?:\.(?=,?\s+\d))?"
    r"(?:,?\s+(?P<y>\d{4})(?![\w,.]\d|\w))?"
)
def _day_month(m: re.Match) -> str:
    """15 March 2024 -> the fifteenth of March, twenty twenty-four."""
    words = _date(_MONTHS[m["mon"].lower()], int(m["d"]), m["y"], day_first=True)
    if words and _word_before(m.string, m.start()).lower() == "the":
        words = words.removeprefix("the ")  # "the 15th of March"
    return words or m.group(0)


# -- 5. Ranges: "10-20" -> "10 to 20". Only the hyphen is rewritten; the two
#       numbers stay for the passes below, so "10-20%" and "5-10 km" and
#       "$10-$20" come out right. After phones and dates, which have hyphens
#       between digits that are not ranges.

@_pass(r"(?<=\d)-(?=[$£€¥₹]?\d)")
def _range(m: re.Match) -> str:
    return " to "


# -- 6. Times, before the integers pass reads "3:30" as two numbers, and
#       before abbreviations (a.m./p.m. after a number belong to the time).

_MERIDIEM = r"(?P<mer>[aApP])(?:(?P<dotted>\.)[mM](?P<dot>\.)?|[mM])(?!\w)"


def _meridiem(m: re.Match) -> str:
    """'p.m.' -> ' p m', 'am' -> ' a-m' ('p m.' when its period also ends the sentence)."""
    if not m["mer"]:
        return ""
    return " " + _spell(m["mer"].lower() + "m") + (_period(m) if m["dotted"] else "")


# "3.30 pm" is the British way of writing 3:30 pm (the point only with am/pm after it: "3.30 million" is a decimal).
@_pass(
    rf"(?<![\w:.])(?P<h>\d{{1,2}})(?::|\.(?=\d{{2}}\s?[aApP]\.?[mM](?!\w)))(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?(?![\d:])"
    rf"(?:\s?{_MERIDIEM})?"
)
def _clock_time(m: re.Match) -> str:
    """3:30 pm (or 3.30 pm) -> three thirty p m; 10:05 -> ten oh five; 9:00 -> nine o'clock."""
    hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"] or 0)
    if hour > 24 or minute > 59 or second > 59:
        return m.group(0)
    words = _cardinal(str(hour))
    if minute == 0:
        words += "" if m["mer"] else " o'clock"
    elif minute < 10:
        words += " oh " + _cardinal(str(minute))
    else:
        words += " " + _cardinal(str(minute))
    if second:
        words += f" and {_cardinal(str(second))} second" + ("" if second == 1 else "s")
    return words + _meridiem(m)


@_pass(rf"(?<![\w:.])(?P<h>\d{{1,2}})\s?{_MERIDIEM}")
def _hour_time(m: re.Match) -> str:
    """7 a.m. -> seven a-m; 5 pm -> five p m."""
    if not 1 <= int(m["h"]) <= 12:
        return m.group(0)
    return _cardinal(str(int(m["h"]))) + _meridiem(m)


# -- 7. Version numbers and IP addresses (1.2.3, 192.168.0.1), before the
#       decimals pass reads "1.2" of them as a decimal.

@_pass(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d]|\.\d)")
def _dotted_numbers(m: re.Match) -> str:
    return " dot ".join(_cardinal(part) for part in m.group(0).split("."))


# -- 8. Money, before percentages/units/decimals: "$5.50" is not "5.50".

_CURRENCIES = {
    # symbol: (unit, units, subunit, subunits)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_SCALES = {
    "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
    "k": "thousand", "m": "million", "b": "billion", "bn": "billion", "tn": "trillion",
}


def _money(cur: str, integer: str, fraction: str | None, negative: bool, scale: str | None, singular: bool) -> str:
    unit, units, subunit, subunits = _CURRENCIES[cur]
    if singular:
        units, subunits = unit, subunit
    sign = "minus " if negative else ""
    if scale:  # "$1.5 million" -> "one point five million dollars"
        return f"{_number(integer, fraction, negative)} {_SCALES[scale.lower()]} {units}"
    if fraction and (len(fraction) > 2 or not subunit):
        return f"{_number(integer, fraction, negative)} {units}"  # $0.005: not a number of cents
    whole = int(integer.replace(",", "")) if len(integer) <= _MAX_GROUPED_DIGITS else None
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if whole != 0 or not cents:
        parts.append(f"{_cardinal(integer)} {unit if whole == 1 else units}")
    if cents:
        parts.append(f"{_cardinal(str(cents))} {subunit if cents == 1 else subunits}")
    return sign + " and ".join(parts)


@_pass(
    _SIGN + r"(?P<cur>[$£€¥₹])\s?" + _START + _NUM
    + r"(?:\s?(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>bn|tn|[kKmMbB])(?!\w))?"
)
def _money_before(m: re.Match) -> str:
    return _money(m["cur"], m["int"], m["frac"], bool(m["neg"]), m["scale"] or m["abbr"], _attributive(m))


@_pass(_SIGN + _START + _NUM + r"\s?(?P<cur>€|¢)(?!\w)")
def _money_after(m: re.Match) -> str:
    """5€ -> five euros; 50¢ -> fifty cents."""
    singular = _attributive(m)
    if m["cur"] == "¢":
        one = singular or _is_one(m["int"], m["frac"])
        return _number(m["int"], m["frac"], bool(m["neg"])) + (" cent" if one else " cents")
    return _money("€", m["int"], m["frac"], bool(m["neg"]), None, singular)


# -- 9. Percentages.

@_pass(_SIGN + _START + _NUM + r"\s?%")
def _percent(m: re.Match) -> str:
    return _number(m["int"], m["frac"], bool(m["neg"])) + " percent"


# -- 10. Dimensions and multipliers: "4x4" -> "four by four", "10x" -> "ten times".
#        Before years, so "1920x1080" is not read as the year 1920.

@_pass(r"(?<![\w.])(?P<a>\d+(?:\.\d+)?) ?x ?(?P<b>\d+(?:\.\d+)?)(?![\w.]?\w)")
def _dimensions(m: re.Match) -> str:
    a, b = (m["a"].split(".") + [None])[:2], (m["b"].split(".") + [None])[:2]
    return f"{_number(*a)} by {_number(*b)}"


@_pass(r"(?<![\w.])(?P<a>\d+(?:\.\d+)?)x(?!\w)")
def _multiplier(m: re.Match) -> str:
    return _number(*(m["a"].split(".") + [None])[:2]) + " times"


# -- 11. Decades and plural numbers: "1990s", "the '90s", "5s". Before units,
#        which would otherwise take the "s", and before years.

@_pass(r"(?<![\w.,])'?(?P<n>\d{1,3}(?:,\d{3})+|\d+)'?s(?!\w)")
def _plural_number(m: re.Match) -> str:
    number = m["n"].replace(",", "")
    value = int(number) if len(number) <= _MAX_CARDINAL_DIGITS else None
    if len(number) == 4 and value is not None and 1100 <= value <= 2099 and value % 10 == 0:
        return _plural(_year(value))  # 1990s -> nineteen nineties
    words = _cardinal(number)
    if value in (100, 1000, 1000000):
        words = words.removeprefix("one ")  # 1000s -> thousands
    return _plural(words)


# -- 12. Units after a number, pluralised by the number: "1 km", "5 km".

_UNITS = {
    # unit: (singular, plural)
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "µm": ("micrometer", "micrometers"), "μm": ("micrometer", "micrometers"),
    "nm": ("nanometer", "nanometers"), "mi": ("mile", "miles"), "ft": ("foot", "feet"), "in": ("inch", "inches"),
    "yd": ("yard", "yards"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "km/hr": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "kbps": ("kilobit per second", "kilobits per second"), "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "ms": ("millisecond", "milliseconds"), "s": ("second", "seconds"), "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "L": ("liter", "liters"), "l": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "mAh": ("milliamp hour", "milliamp hours"),
}
# Longest first, so "km/h" wins over "km" and "mph" over "m".
_UNIT = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))


# -- 11b. Compound units with "/": "5 mg/dL" -> "five milligrams per
#         deciliter". Before the single units, which would take the "mg" and
#         leave "/dL" (the unit pass refuses a unit followed by "/").

_PER_UNITS = {
    "s": "second", "sec": "second", "min": "minute", "h": "hour", "hr": "hour", "d": "day", "day": "day",
    "wk": "week", "L": "liter", "l": "liter", "dL": "deciliter", "mL": "milliliter", "ml": "milliliter",
    "kg": "kilogram", "g": "gram", "m": "meter", "km": "kilometer", "ft": "foot", "mi": "mile",
    "gal": "gallon", "m2": "square meter", "m²": "square meter", "m3": "cubic meter", "m³": "cubic meter",
}
_TOP_UNITS = {
    **{unit: names for unit, names in _UNITS.items() if "/" not in unit and not unit.startswith("°")},
    "mmol": ("millimole", "millimoles"), "mol": ("mole", "moles"), "µg": ("microgram", "micrograms"),
    "μg": ("microgram", "micrograms"), "mcg": ("microgram", "micrograms"), "ug": ("microgram", "micrograms"),
    "dL": ("deciliter", "deciliters"), "kcal": ("kilocalorie", "kilocalories"), "cal": ("calorie", "calories"),
    "IU": ("international unit", "international units"), "gal": ("gallon", "gallons"),
    "W": ("watt", "watts"), "kJ": ("kilojoule", "kilojoules"), "J": ("joule", "joules"),
}
_TOP_UNIT = "|".join(re.escape(unit) for unit in sorted(_TOP_UNITS, key=len, reverse=True))
_PER_UNIT = "|".join(re.escape(unit) for unit in sorted(_PER_UNITS, key=len, reverse=True))


@_pass(
    r"(?:" + _SIGN + _START + _NUM + r" ?|(?<![\w/]))"
    + rf"(?P<top>{_TOP_UNIT})/(?P<per>{_PER_UNIT})(?![\w/²³])"
)
def _compound_unit(m: re.Match) -> str:
    if m["int"] is None and m["frac"] is None:
        # No number: only a unit nobody writes as a word ("in/out", "s/he" are not units).
        if len(m["top"]) < 2 or m["top"] in ("in", "min", "sec", "secs", "mins"):
            return m.group(0)
        return f"{_TOP_UNITS[m['top']][1]} per {_PER_UNITS[m['per']]}"
    singular, plural = _TOP_UNITS[m["top"]]
    amount = _number(m["int"], m["frac"], bool(m["neg"]))
    one = _is_one(m["int"], m["frac"]) or _attributive(m)
    return f"{amount} {singular if one else plural} per {_PER_UNITS[m['per']]}"


@_pass(_SIGN + _START + _NUM + rf"(?P<space> ?)(?P<unit>{_UNIT})(?![\w/])")
def _unit(m: re.Match) -> str:
    # "5 in the box" is not five inches: "in" is a unit only when glued to
    # the number ("27in") or when no word follows ("it is 5 in.").
    if m["unit"] == "in" and m["space"] and re.match(r"\s*[^\W_]", m.string[m.end() : m.end() + 3]):
        return m.group(0)
    # A glued "s" was read as a plural above ("5s" -> "fives"); "5 s" is seconds.
    if m["unit"] == "s" and not m["space"]:
        return m.group(0)
    singular, plural = _UNITS[m["unit"]]
    amount = _number(m["int"], m["frac"], bool(m["neg"]))
    one = _is_one(m["int"], m["frac"]) or _attributive(m)
    return f"{amount} {singular if one else plural}"


# -- 13. Ordinals: "1st", "23rd", "101st".

@_pass(_START + _INT + r"(?:st|nd|rd|th|ST|ND|RD|TH)(?!\w)")
def _ordinal_number(m: re.Match) -> str:
    return _ordinal(m["int"])


# -- 13b. Port, room, gate and flight numbers are names, not quantities:
#         "room 101" is "room one oh one", "port 8080" "port eighty eighty",
#         "flight 1549" "flight fifteen forty-nine", as people say them.
#         After units and ordinals ("room 5 ft" is a length), before years,
#         which would read "port 2000" as a year, and integers.

_NUMBER_NAMES = r"(?:[Pp]ort|[Ee]rror|ERROR|[Rr]oom|[Rr]m\.?|[Gg]ate|[Ff]light|[Ss]uite|[Pp]latform|[Ee]xt\.?|[Ee]xtension)"


def _pair(digits: str) -> str:
    """Two digits as said in a name: '05' -> 'oh five', '43' -> 'forty-three', '00' -> 'hundred'."""
    if digits == "00":
        return "hundred"
    if digits.startswith("0"):
        return "oh " + _cardinal(digits[1])
    return _cardinal(digits)


def _name_number(digits: str) -> str:
    """'101' -> 'one oh one', '8080' -> 'eighty eighty', '3000' -> 'three thousand', '65535' digit by digit."""
    if len(digits) <= 2 and not digits.startswith("0"):
        return _cardinal(digits)
    if digits.startswith("0") or len(digits) > 4:
        return _digits(digits)
    if len(digits) == 3:
        return f"{_cardinal(digits[0])} {_pair(digits[1:])}"
    if digits.endswith("000"):
        return _cardinal(digits)
    return f"{_cardinal(digits[:2])} {_pair(digits[2:])}"


@_pass(rf"(?<![\w.])(?P<name>{_NUMBER_NAMES}) ?#?(?P<n>\d{{1,6}})(?![\w]|[.,\-]\d)")
def _named_number(m: re.Match) -> str:
    name = m["name"].rstrip(".")
    if name.lower() == "ext":
        name = "extension"
    elif name.lower() == "rm":
        name = "room"
    if name.lower() == "extension":
        return f"{name} {_digits(m['n'])}"  # an extension is dialled
    return f"{name} {_name_number(m['n'])}"


# -- 14. Years: a lone 4-digit number from 1100 to 2099 is read as a year.
#        Money, units, dates and thousands separators were taken above, so
#        what is left ("in 1999", "2024 was") is almost always a year.

@_pass(r"(?<![\w.,\-])(?P<y>1[1-9]\d\d|20\d\d)(?![\w]|[.,]\d)")
def _year_number(m: re.Match) -> str:
    return _year(int(m["y"]))


# -- 15. Decimals ("3.14", ".5"), then fractions, before integers read their parts.

@_pass(_SIGN + r"(?:(?<![\d.,])" + _INT + r"|(?<![\w.,]))\.(?P<frac>\d+)")
def _decimal(m: re.Match) -> str:
    return _number(m["int"], m["frac"], bool(m["neg"])) if m["int"] else "point " + _digits(m["frac"])


_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}
_SPECIAL_FRACTIONS = {"24/7": "twenty-four seven", "9/11": "nine eleven", "50/50": "fifty fifty"}


def _fraction(numerator: str, denominator: str) -> str:
    special = _SPECIAL_FRACTIONS.get(f"{numerator}/{denominator}")
    if special:
        return special
    top = int(numerator) if len(numerator) <= _MAX_CARDINAL_DIGITS else 0
    bottom = int(denominator) if len(denominator) <= 3 else 0
    if not (2 <= bottom <= 10 or bottom in (12, 16, 32, 64, 100)) or top == 0:
        return f"{_cardinal(numerator)} over {_cardinal(denominator)}"
    singular, plural = _FRACTION_NAMES.get(bottom) or (
        _ordinal(denominator).removeprefix("one "),
        _ordinal(denominator).removeprefix("one ") + "s",
    )
    return f"{_cardinal(numerator)} {singular if top == 1 else plural}"


@_pass(r"(?<![\w/.])(?P<whole>\d+) (?P<n>\d)/(?P<d>\d{1,2})(?![\w/]|\.\d)")
def _mixed_fraction(m: re.Match) -> str:
    """2 1/2 -> two and a half."""
    if int(m["n"]) >= int(m["d"]) or int(m["d"]) < 2:
        return m.group(0)
    part = _fraction(m["n"], m["d"])
    if m["n"] == "1":
        part = "a " + part.removeprefix("one ")
    return f"{_cardinal(m['whole'])} and {part}"


@_pass(r"(?<![\w/.])(?P<n>\d+)/(?P<d>\d+)(?![\w/]|\.\d)")
def _simple_fraction(m: re.Match) -> str:
    """3/4 -> three quarters."""
    return _fraction(m["n"], m["d"])


# -- 16. Arithmetic between numbers, before the integers around it are words.

@_pass(r"(?<=\d) ?[+*] ?(?=\d)")
def _plus(m: re.Match) -> str:
    """'2 + 2' -> 'two plus two'; '5 * 3' -> 'five times three' (the asterisk of a formula)."""
    return " plus " if "+" in m.group(0) else " times "


# -- 17. Every remaining integer, the catch-all for digits: "1,234,567", "-5", "B2B".

@_pass(_SIGN + r"(?<!\d)" + _INT)
def _integer(m: re.Match) -> str:
    return _number(m["int"], None, bool(m["neg"]))


# -- 18. Symbols that are words. After numbers so that "+" and "=" between
#        numbers, and "%" and "°" after them, were already read above.

@_pass(r"(?<![\w&])(?P<a>[A-Z]{1,4})&(?P<b>[A-Z]{1,4})(?![\w&])")
def _letters_and_letters(m: re.Match) -> str:
    """AT&T -> A-T and T, R&D -> R and D: initials, not the words "at" or "a"."""
    return f"{_spell(m['a'])} and {_spell(m['b'])}"


_SYMBOLS = {"&": "and", "=": "equals", "@": "at", "%": "percent", "°": "degrees"}


@_pass(r" ?[&=@%°] ?")
def _symbol(m: re.Match) -> str:
    return f" {_SYMBOLS[m.group(0).strip()]} "


# An asterisk left over (not emphasis, not between numbers) is a footnote
# mark or a wildcard: nobody reading aloud says "asterisk".
@_pass(r"\*+")
def _asterisk(m: re.Match) -> str:
    return ""  # _safe puts a space back where it would glue two words


# -- 19. Abbreviations. After times (which took "a.m." after a number) and
#        after numbers; the period of an abbreviation is kept only where it
#        also ends the sentence ("at five p m." but "Doctor Smith").

_ABBREVIATIONS = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Mt": "Mount",
    "Jr": "Junior", "Sr": "Senior", "Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation",
    "etc": "et cetera", "vs": "versus", "approx": "approximately", "Approx": "Approximately",
    "e.g": "for example", "E.g": "For example", "i.e": "that is", "I.e": "That is",
}


@_pass(
    r"(?<![\w.])(?:"
    r"(?P<abbr>Mrs|Mr|Ms|Prof|Mt|Jr|Sr|Inc|Ltd|Corp|[Aa]pprox|[eE]\.g|[iI]\.e)(?P<dot>\.)"
    r"|(?P<title>Mrs|Mr|Ms|Prof|Mt)(?=\s+[A-Z])"  # "Mr Smith", British style
    r"|(?P<loose>etc|vs)\b(?P<loosedot>\.)?"
    r")"
)
def _abbreviation(m: re.Match) -> str:
    if m["abbr"]:
        return _ABBREVIATIONS[m["abbr"]] + _period(m)
    if m["title"]:
        return _ABBREVIATIONS[m["title"]]
    return _ABBREVIATIONS[m["loose"]] + _period(m, "loosedot")


@_pass(r"(?<![\w.])(?P<abbr>St|Dr)(?:(?P<dot>\.)|(?=\s+[A-Z]))")
def _saint_or_street(m: re.Match) -> str:
    """St. Louis -> Saint Louis, Main St. -> Main Street; Dr. Smith -> Doctor Smith, Elm Dr. -> Elm Drive."""
    title, place = {"St": ("Saint", "Street"), "Dr": ("Doctor", "Drive")}[m["abbr"]]
    following = _word_after(m.string, m.end())
    if following[:1].isupper() and following not in _SENTENCE_STARTERS:
        return title  # a name follows
    before = _word_before(m.string, m.start())
    if before[:1].isupper():
        return place + _period(m)  # a name precedes
    return (place if m["abbr"] == "St" else title) + _period(m)


@_pass(r"(?<![\w.])(?P<mer>[ap])\.m(?P<dot>\.)?(?!\w)")
def _lone_meridiem(m: re.Match) -> str:
    """'in the p.m.' -> 'in the p m'."""
    return _spell(m["mer"] + "m") + _period(m)


@_pass(r"(?<![\w.])(?P<letters>[A-Z](?:\.[A-Z])+)(?P<dot>\.)?(?!\w)")
def _dotted_acronym(m: re.Match) -> str:
    """U.S.A. -> U S A."""
    return _spell(m["letters"].replace(".", "")) + _period(m)


# -- 20. Roman numerals after a name or a heading word: "World War II",
#        "Henry VIII", "Chapter XIV", "Super Bowl LVII". eSpeak would say
#        "roman two" or spell them. Before acronyms, which would spell "I I".
#        I, V and X after any capitalised word are numerals (as before); a
#        numeral with L, C, D or M, or a lone "I", only after a word that
#        takes one ("Chapter", "Part", a king's name): "Washington DC",
#        "Size XL" and "Send your CV" are letters.

_REGNAL_NAMES = frozenset(
    """
    Alexander Alfonso Benedict Boniface Carlos Catherine Charles Clement Constantine Edward Elizabeth
    Ferdinand Francis Frederick George Gregory Gustav Harald Henry Innocent Ivan James John Juan Leo
    Louis Ludwig Mary Napoleon Nicholas Olaf Otto Paul Peter Philip Pius Ramesses Richard Sixtus Urban
    Wilhelm William
    """.split()
)
# Words a numeral follows as a number: "Chapter XIV" -> "Chapter fourteen".
_NUMERAL_WORDS = frozenset(
    """
    Act Appendix Article Book Bowl Canto Chapter Episode Level Part Phase Psalm Round Scene Season
    Section Stage Title Unit Vol Volume War
    """.split()
)
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
# After a king's name, "I" is the numeral only where no verb of its own follows ("said James I think").
_AFTER_REGNAL_I = frozenset("of and was had died became ruled reigned succeeded married".split())


def _roman_value(numeral: str) -> int:
    total = 0
    for letter, following in zip(numeral, numeral[1:] + " "):
        value = _ROMAN_VALUES[letter]
        total += -value if _ROMAN_VALUES.get(following, 0) > value else value
    return total


@_pass(r"(?<![\w'.])(?P<roman>[IVXLCDM]{1,12})(?![\w'])")
def _roman_numeral(m: re.Match) -> str:
    numeral, text = m["roman"], m.string
    if not _ROMAN.fullmatch(numeral):
        return m.group(0)
    glued = re.search(r"([^\W\d_][\w'-]*) $", text[max(0, m.start() - 40) : m.start()])
    name = glued.group(1) if glued else ""  # the word right before, a space between, no comma
    if not name[:1].isupper():
        return m.group(0)  # after a lowercase word "IV" is more likely an acronym
    trigger = name.rstrip(".") in _NUMERAL_WORDS
    if name in _REGNAL_NAMES:
        if numeral == "I":
            following = text[m.end() : m.end() + 2].strip()
            if following[:1].isalnum() and _word_after(text, m.end()).lower() not in _AFTER_REGNAL_I:
                return m.group(0)  # "James I think": the pronoun
        return "the " + _ordinal(str(_roman_value(numeral)))  # Henry VIII -> Henry the eighth
    if not trigger and (numeral == "I" or len(numeral) == 1 or set(numeral) - set("IVX")):
        return m.group(0)  # "Vitamin C", "Plan B", "Model X", "Washington DC": letters
    if numeral in ("L", "C", "D", "M"):
        return m.group(0)  # "Appendix C", "Section D": a letter even after a heading word
    return _cardinal(str(_roman_value(numeral)))  # World War II -> World War two


# -- 21. Acronyms last: by now every unit ("GB"), time ("PM") and
#        abbreviation is gone, and what is left in capitals is a name or an
#        acronym. Spelled out unless it is read as a word.

_READ_AS_WORDS = frozenset(
    """
    NASA NATO UNESCO UNICEF SCUBA LASER RADAR SONAR GIF JPEG ASAP AIDS OPEC FIFA UEFA IKEA COVID SARS
    SWAT FEMA OSHA NAFTA PIN RAM ROM SIM LAN WAN JSON YAML POTUS SCOTUS FOMO YOLO NIMBY WASP
    """.split()
)
# Capitalised for emphasis, not acronyms.
_ORDINARY_WORDS = frozenset(
    """
    A I AN AND ARE AS AT BE BUT BY DO FOR GO HE HI IF IN IS ME MY NO NOT NOW OF OH ON OR SO TO UP WE
    ALL BEST BIG CAN FREE GET HAS HAVE HELP HER HIS HOW JUST LET LOVE MUST NEW OUT SALE SHE STOP THAT
    THE THIS VERY WAS WHAT WHEN WHO WHY WILL WITH YES YOU YOUR OUR
    """.split()
) | frozenset(
    # Words written in capitals by software and signs (log levels, buttons,
    # SQL, notices): read as the words they are, "DEBUG" not "D E B U G".
    # Longer ones ("WARNING", "README") never reach the acronym pass.
    """
    DEBUG INFO ERROR WARN FATAL TRACE ALERT PANIC NOTE NOTES TODO FIXME TRUE FALSE NULL NONE VOID OK
    OKAY DONE FAIL PASS READY START BEGIN END EXIT QUIT ABORT RETRY RESET PAUSE PLAY ENTER CLICK SAVE
    OPEN CLOSE EDIT SEND LOGIN LOGOUT BACK NEXT HOME MENU MAIN DATA TEXT NAME DATE TIME TYPE FILE
    FILES ITEM LIST VIEW SHOW HIDE SKIP DROP ALTER TABLE INDEX FROM WHERE ORDER GROUP LIMIT JOIN INTO
    UNION CHECK ALARM FIRE EXIT DEAL SOLD ONLY LAST NEWS LIVE HOT HERE THERE THEN THEY THEM GOOD
    GREAT NICE COOL WOW HEY HELLO SORRY THANK THANKS PLEASE NEVER EVER EVERY ALWAYS MORE LESS MOST
    DANGER WET PAINT KEEP PULL PUSH WAIT WALK OFF LOST FOUND ZIP
    """.split()
)
_SPOKEN_ACRONYMS = {"WWI": "World War one", "WWII": "World War two"}
_CAPS_RUN_BEFORE = re.compile(r"(?:\b[A-Z][A-Z']*[ ]+)+$")
_CAPS_RUN_AFTER = re.compile(r"(?:[ ]+[A-Z][A-Z']*\b)+")


def _is_shouting(text: str, start: int, end: int) -> bool:
    """Whether the word is in a run of 3+ capitalised words that is ordinary text."""
    before = _CAPS_RUN_BEFORE.search(text[max(0, start - 60) : start])
    after = _CAPS_RUN_AFTER.match(text[end : end + 60])
    words = ((before.group(0) if before else "") + " " + (after.group(0) if after else "")).split()
    if len(words) < 2:
        return False
    return any(len(w) == 1 or len(w) > 5 or w.strip("'") in _ORDINARY_WORDS for w in words)


@_pass(r"(?<![\w'])(?P<word>[A-Z]{2,5})(?P<plural>s|'s)?(?![\w'])")
def _acronym(m: re.Match) -> str:
    word = m["word"]
    if word in _READ_AS_WORDS or word in _ORDINARY_WORDS or _is_shouting(m.string, m.start(), m.end()):
        return m.group(0)
    if word in _SPOKEN_ACRONYMS and not m["plural"]:
        return _SPOKEN_ACRONYMS[word]
    return _spell(word) + ("'s" if m["plural"] else "")  # APIs -> A-P I's


# --------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------

def _safe(function: Replacement) -> Replacement:
    """The replacement, never raising, and never gluing a word to its neighbours."""

    def replace(m: re.Match) -> str:
        try:
            words = function(m)
        except Exception:  # noqa: BLE001 - a pass that fails leaves its token as written
            return m.group(0)
        text = m.string
        if words and words[0].isalnum() and m.start() > 0 and text[m.start() - 1].isalnum():
            words = " " + words  # "US$5" -> "US five dollars", "B2B" -> "B two B"
        if words and words[-1].isalnum() and m.end() < len(text) and text[m.end()].isalnum():
            words += " "
        return words

    return replace


_COMPILED_PASSES = [(pattern, _safe(function)) for pattern, function in _PASSES]
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_LINES = re.compile(r" ?\n ?")
_EXTRA_BLANK_LINES = re.compile(r"\n\n\n+")  # where a Markdown line between two blank lines was dropped


def normalize(text: str) -> str:
    """The spoken form of English `text`, ready for eSpeak. Never raises."""
    try:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        text = _clean(text)
        for pattern, replace in _COMPILED_PASSES:
            text = pattern.sub(replace, text)
        text = _SPACE_LINES.sub("\n", _SPACES.sub(" ", text))
        return _EXTRA_BLANK_LINES.sub("\n\n", text).strip()
    except Exception:  # noqa: BLE001 - never worse than the input, whitespace collapsed
        try:
            return " ".join(str(text).split())
        except Exception:  # noqa: BLE001
            return ""

"""
JSON for bodies a stranger sends: `loads()` refuses what `json.loads` would
accept but we must not (ambiguous or absurd documents), and never raises
RecursionError.

Every door that reads a JSON body goes through here: the DRF parser
(synthesis.api.parsers), the landing demo and the studio websocket.
"""

from __future__ import annotations

import json
import math
import re

# The deepest body we accept is an ElevenLabs request: {"voice_settings": {...}},
# two levels; a jobs or history body is one or two. 32 leaves room for any client
# that wraps things, and stays far below the ~1,000 nested calls at which the C
# decoder raises RecursionError (a 500) instead of a parse error.
MAX_DEPTH = 32
# Members of one array or object. Our largest list is history/download's ids (a
# client sends at most a page of history, 100); 10,000 allows any real client
# and refuses a body that is only there to make us allocate.
MAX_ITEMS = 10_000


class StrictJSONError(ValueError):
    """The body is not JSON we accept; str(error) is a message for the client."""


# What the shape check looks at: brackets (braces made square), commas and quotes.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{},"')
_SQUARE = bytes.maketrans(b"{}", b"[]")
_INNERMOST = re.compile(rb"\[,*\]")  # an array or object with no array or object inside
_TOO_MANY = b"," * MAX_ITEMS  # MAX_ITEMS + 1 members, once what is inside them is gone
_TOO_DEEP = b"[" * (MAX_DEPTH + 1)  # each opened inside the one before


def _structure(raw: bytes) -> bytes:
    """The brackets (all made square) and commas outside string literals, by bytes methods only (C speed)."""
    # Escaped backslashes first, then escaped quotes: of a run of backslashes,
    # pairs go and an odd one left escapes the quote after it, as in JSON.
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # What remains between the 1st and 2nd quote, 3rd and 4th, … was inside a
    # string. An unterminated string hides the rest of the body: the decoder
    # will say so without descending into anything.
    return b"".join(raw.translate(_SQUARE, _NOT_STRUCTURE).split(b'"')[::2])


def _check_depth(brackets: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH, in at most MAX_DEPTH C-speed passes over the brackets.

    Each pass deletes every innermost "[]" pair, so a balanced document is
    empty after as many passes as it is deep. A run of MAX_DEPTH + 1 opening
    brackets ends it at once ("[[[[…", the usual attack). Whatever is left at
    the end never closes (a truncated body) and counts as depth too: the
    decoder would descend into it before noticing the end.
    """
    depth = 0
    while _TOO_DEEP not in brackets:
        if b"[]" not in brackets:
            if depth + brackets.count(b"[") <= MAX_DEPTH:
                return
            break
        if depth == MAX_DEPTH:
            break
        brackets, depth = brackets.replace(b"[]", b""), depth + 1
    raise StrictJSONError(f"The JSON body is nested deeper than {MAX_DEPTH} levels.")


def _check_members(structure: bytes) -> None:
    """Refuse an array or object of more than MAX_ITEMS members, before the decoder builds it.

    The same passes as _check_depth (as many as the body is deep, now known to
    be at most MAX_DEPTH), deleting innermost containers with their commas: a
    container's commas stand side by side once its children are gone.
    """
    while _TOO_MANY not in structure:
        reduced = _INNERMOST.sub(b"", structure)
        if reduced == structure:
            return
        structure = reduced
    raise StrictJSONError(f"An array or object in the JSON body has more than {MAX_ITEMS:,} members.")


def _check_shape(raw: bytes) -> None:
    """Depth and members, checked on the raw body without recursing or looping over it in Python."""
    structure = _structure(raw)
    _check_depth(structure.replace(b",", b""))  # commas close nothing: "[0,[0,[" is three deep
    if structure.count(b",") >= MAX_ITEMS:  # else no container can have MAX_ITEMS + 1 members
        _check_members(structure)


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"The JSON body repeats the key {key!r}: send each key once.")
            seen.add(key)
    return obj


def _constant(name: str):
    raise StrictJSONError(f"{name} is not a JSON number.")


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 would be Infinity under another name
        raise StrictJSONError(f"The number {literal[:40]} is out of range.")
    return value


def loads(data: bytes | str) -> object:
    """Parse a JSON body, or raise StrictJSONError saying what is wrong with it.

    Refused, beyond what the JSON grammar refuses: bytes that are not UTF-8,
    nesting deeper than MAX_DEPTH, arrays or objects with more than MAX_ITEMS
    members, an object that repeats a key (`{"text": "a", "text": "b"}`: which
    text is spoken and charged?), NaN, Infinity and numbers out of float range.

    A "\\ud800" escape is valid JSON and parses to a lone surrogate: the
    serializers refuse such text (400 `surrogate_characters_not_allowed`,
    which names the field), so it is left to them.
    """
    if isinstance(data, str):
        raw, text = data.encode("utf-8", "surrogatepass"), data
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise StrictJSONError(f"The body is not valid UTF-8 (byte {error.start}).") from None
    _check_shape(raw)
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
    except StrictJSONError:
        raise
    except json.JSONDecodeError as error:
        raise StrictJSONError(f"The body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).") from None
    except ValueError:  # int() refuses more than 4,300 digits (sys.get_int_max_str_digits)
        raise StrictJSONError("The JSON body has a number too long to read.") from None
    except RecursionError:  # cannot happen past _check_shape; if it ever did, still never a 500
        raise StrictJSONError(f"The JSON body is nested deeper than {MAX_DEPTH} levels.") from None
    return value

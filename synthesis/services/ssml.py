"""An order whose text is SSML (or carries ElevenLabs' inline tags), as the session's segments.

The doors build their order as ever, then pass it here: the script's parts
become the order's segments (each its language, rate, pinned words and pause),
its text what a reader sees (what history keeps and what is charged).
"""

from __future__ import annotations

import dataclasses

from synthesis.engine import ssml
from synthesis.engine.voices import VoiceNotFound
from synthesis.services.engine import get_engine
from synthesis.services.session import Order, Refused, Segment


def scripted(order: Order, *, markup: str = "text") -> Order:
    """`order` with its text read as `markup`: "text" (as it is), "ssml" (synthesis.engine.ssml.parse) or
    "elevenlabs" (ElevenLabs' inline <break> and <phoneme>; other text stays text). Refused 400 invalid_ssml."""
    if markup == "text" or (markup == "elevenlabs" and not ssml.has_inline(order.text)):
        return order
    english = _english(order)
    try:
        script = ssml.parse(order.text, english=english) if markup == "ssml" else ssml.inline(order.text, english=english)
    except ssml.InvalidSSML as error:
        raise Refused("invalid_ssml", 400, str(error)) from None
    if not script.parts:
        raise Refused("empty_text", 400, "The text contains nothing to speak once its markup is read.")
    segments = tuple(
        Segment(part.text, order.voice, part.pins, part.language, part.rate, part.pause) for part in script.parts
    )
    return dataclasses.replace(order, text=script.text, segments=segments, lead=script.lead)


def _english(order: Order) -> bool:
    """Whether the words <say-as> makes are English (the voice's language, or the order's)."""
    if order.language:
        return order.language.lower().startswith("en")
    try:
        return get_engine().voices.get(order.voice).is_english
    except VoiceNotFound:
        return True  # the session will answer 404 for the voice

"""ElevenLabs' premade voices, each spoken here by the Kokoro voice closest in gender, accent and character.

Code written against ElevenLabs names its voices by id (Rachel is
`21m00Tcm4TlvDq8ikWAM`) or, in many wrappers, by name ("Rachel"). Both are
resolved in one place, VoiceLibrary.get(), so every door (the REST routes, the
realtime websocket, long-form jobs, the native API) takes them; what is
synthesized, charged and kept in history is the Kokoro voice.

The ids are ElevenLabs' own (its voice library and SDK examples); the accents,
genders and characters are ElevenLabs' labels. Kokoro has American and British
English voices only: Australian, Irish and transatlantic voices get the nearer
British one. Where Kokoro has a voice of the same name it is that one, unless
it is graded far below the alternatives (Kokoro's Adam is F+, so ElevenLabs'
Adam is spoken by Fenrir, C+), as synthesis.api.openai.VOICES does for
OpenAI's names. docs/compatibility.md lists the table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PremadeVoice:
    id: str  # ElevenLabs' voice id
    name: str
    gender: str
    accent: str
    character: str  # ElevenLabs' description label
    voice: str  # the Kokoro voice that speaks it


ELEVENLABS_PREMADE: tuple[PremadeVoice, ...] = tuple(
    PremadeVoice(*row)
    for row in [
        # ElevenLabs' current default voices
        ("9BWtsMINqrJLrRacOk9x", "Aria", "female", "american", "expressive", "af_bella"),
        ("CwhRBWXzGAHq8TQ4Fs17", "Roger", "male", "american", "confident", "am_puck"),
        ("EXAVITQu4vr4xnSDxMaL", "Sarah", "female", "american", "soft", "af_sarah"),
        ("FGY2WhTYpPnrIDTdsKH5", "Laura", "female", "american", "upbeat", "af_nova"),
        ("IKne3meq5aSn9XLyUdCD", "Charlie", "male", "australian", "casual", "bm_lewis"),
        ("JBFqnCBsd6RMkjVDRZzb", "George", "male", "british", "warm", "bm_george"),
        ("N2lVS1w4EtoT3dr4eOWO", "Callum", "male", "transatlantic", "intense", "bm_fable"),
        ("SAz9YHcvj6GT2YYXdXww", "River", "neutral", "american", "confident", "af_river"),
        ("TX3LPaxmHKxFdv7VOQHJ", "Liam", "male", "american", "articulate", "am_liam"),
        ("XB0fDUnXU5powFXDhCwa", "Charlotte", "female", "swedish", "seductive", "bf_emma"),
        ("Xb7hH8MSUJpSbSDYk0k2", "Alice", "female", "british", "confident", "bf_alice"),
        ("XrExE9yKIg1WjnnlVkGX", "Matilda", "female", "american", "friendly", "af_nicole"),
        ("bIHbv24MWmeRgasZH58o", "Will", "male", "american", "friendly", "am_puck"),
        ("cgSgspJ2msm6clMCkdW9", "Jessica", "female", "american", "expressive", "af_jessica"),
        ("cjVigY5qzO86Huf0OWal", "Eric", "male", "american", "friendly", "am_eric"),
        ("iP95p4xoKVk53GoZ742B", "Chris", "male", "american", "casual", "am_puck"),
        ("nPczCjzI2devNBz1zQrb", "Brian", "male", "american", "deep", "am_onyx"),
        ("onwK4e9ZLuTAKqWW03F9", "Daniel", "male", "british", "authoritative", "bm_daniel"),
        ("pFZP5JQG7iQjIQuC4Bku", "Lily", "female", "british", "warm", "bf_lily"),
        ("pqHfZKP75CvOlQylNhV4", "Bill", "male", "american", "trustworthy", "am_michael"),
        # Earlier premade voices, still in code written against them
        ("21m00Tcm4TlvDq8ikWAM", "Rachel", "female", "american", "calm", "af_heart"),
        ("29vD33N1CtxCmqQRPOHJ", "Drew", "male", "american", "well-rounded", "am_michael"),
        ("2EiwWnXFnvU5JabPnv8n", "Clyde", "male", "american", "war veteran", "am_echo"),
        ("5Q0t7uMcjvnagumLfvZi", "Paul", "male", "american", "authoritative", "am_eric"),
        ("AZnzlk1XvdvUeBnXmlld", "Domi", "female", "american", "strong", "af_kore"),
        ("CYw3kZ02Hs0563khs1Fj", "Dave", "male", "british", "conversational", "bm_lewis"),
        ("D38z5RcWu1voky8WS1ja", "Fin", "male", "irish", "sailor", "bm_fable"),
        ("ErXwobaYiN019PkySvjV", "Antoni", "male", "american", "well-rounded", "am_michael"),
        ("GBv7mTt0atIp3Br8iCZE", "Thomas", "male", "american", "calm", "am_liam"),
        ("LcfcDJNUP1GQjkzn1xUU", "Emily", "female", "american", "calm", "af_aoede"),
        ("MF3mGyEYCl7XYWbV9V6O", "Elli", "female", "american", "emotional", "af_sky"),
        ("ODq5zmih8GrVes37Dizd", "Patrick", "male", "american", "shouty", "am_eric"),
        ("SOYHLrjzK2X1ezoPC6cr", "Harry", "male", "american", "anxious", "am_echo"),
        ("ThT5KcBeYPX3keUQqHPh", "Dorothy", "female", "british", "pleasant", "bf_isabella"),
        ("TxGEqnHWrfWFTfGW9XjX", "Josh", "male", "american", "deep", "am_onyx"),
        ("VR6AewLTigWG4xSOukaG", "Arnold", "male", "american", "crisp", "am_fenrir"),
        ("ZQe5CZNOzWyzPSCn5a3c", "James", "male", "australian", "calm", "bm_daniel"),
        ("Zlb1dXrM653N07WRdFW3", "Joseph", "male", "british", "news", "bm_george"),
        ("bVMeCyTHy58xNoL34h3p", "Jeremy", "male", "irish", "excited", "bm_fable"),
        ("flq6f7yk4E4fJM5XTYuZ", "Michael", "male", "american", "old", "am_michael"),
        ("g5CIjZEefAph4nQFvHAz", "Ethan", "male", "american", "soft", "am_liam"),
        ("jsCqWAN6TwO3QHNOWbJz", "Freya", "female", "american", "overhyped", "af_nova"),
        ("oWAxZDx7w5VEj9dCyTzz", "Grace", "female", "american", "southern", "af_alloy"),
        ("pMsXgVXv3BLzUgSXRplE", "Serena", "female", "american", "pleasant", "af_alloy"),
        ("pNInz6obpgDQGcFmaJgB", "Adam", "male", "american", "deep", "am_fenrir"),
        ("piTKgcLEGmPE4e6mEKli", "Nicole", "female", "american", "whisper", "af_nicole"),
        ("t0jbNlBVZ17f02VDIeMI", "Jessie", "male", "american", "raspy", "am_echo"),
        ("yoZ06aMxZJJ28mfd3POQ", "Sam", "male", "american", "raspy", "am_onyx"),
    ]
)

_BY_ID = {p.id: p for p in ELEVENLABS_PREMADE}
# Names as wrappers spell them ("Rachel", "rachel"); ids are matched exactly.
_BY_NAME = {p.name.lower(): p for p in ELEVENLABS_PREMADE}


def premade_voice(key: str) -> PremadeVoice | None:
    """The ElevenLabs premade voice an id or a name stands for, or None."""
    if not isinstance(key, str):
        return None
    return _BY_ID.get(key) or _BY_NAME.get(key.lower())

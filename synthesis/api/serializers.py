import math

from django.urls import reverse
from rest_framework import serializers

from synthesis.engine.core import MAX_SPEED, MIN_SPEED


class NumberField(serializers.FloatField):
    """A JSON number: no strings, no booleans, no NaN or infinity."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise serializers.ValidationError("must be a number.", code=self.field_code)
        if not math.isfinite(data):
            raise serializers.ValidationError("must be a finite number.", code=self.field_code)
        return super().to_internal_value(data)

    def __init__(self, *, field_code: str = "invalid", **kwargs):
        self.field_code = field_code
        super().__init__(**kwargs)


class StringField(serializers.CharField):
    """A JSON string; DRF's CharField would also take 42 and read it as "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string.", code="invalid")
        return super().to_internal_value(data)


class FormatField(StringField):
    """An output format's name exactly as sent. A CharField would trim "mp3\\n" to "mp3" and accept it; here it
    stays what it is, and the door's synthesis.audio.parse_format refuses it with the door's own error code."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def run_validators(self, value):
        # CharField's validators would answer a NUL with their own code; parse_format refuses every unknown name.
        pass


# -- Kokoro-FastAPI's request fields (remsky/Kokoro-FastAPI: POST /v1/audio/speech, /dev/captioned_speech) ----

# lang_code: its one-letter language codes, as our voices' languages.
KOKORO_LANG_CODES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "j": "ja", "p": "pt-br", "z": "cmn"}
# normalization_options: `normalize` switches our text normalization; the finer switches have no counterpart.
KOKORO_NORMALIZATION_OPTIONS = (
    "normalize", "unit_normalization", "url_normalization", "email_normalization",
    "optional_pluralization_normalization", "phone_normalization", "replace_remaining_symbols",
)
KOKORO_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
MAX_VOLUME = 10.0


def kokoro_voice(voice) -> str:
    """A voice as Kokoro-FastAPI takes it: an id, a mix "a(2)+b(1)" (spaces mean nothing), or a list of ids (an even mix)."""
    if isinstance(voice, list) and voice and all(isinstance(v, str) and v for v in voice):
        voice = "+".join(voice)
    if not isinstance(voice, str) or not voice or len(voice) > 200:
        raise serializers.ValidationError(
            "must be a voice name, a mix such as \"af_bella(2)+af_sky(1)\", a list of voice names or {\"id\": voice id}.",
            code="invalid_voice",
        )
    return voice.replace(" ", "") if "+" in voice else voice


class KokoroFields(serializers.Serializer):
    """Kokoro-FastAPI's extra speech fields, with its defaults; kokoro_ignored() names those that change nothing here."""

    stream = serializers.BooleanField(default=True, help_text="Kokoro-FastAPI: false sends the whole file (with Content-Length).")
    return_download_link = serializers.BooleanField(
        default=False, help_text="Kokoro-FastAPI: the header X-Download-Path names the kept file (GET /v1{X-Download-Path})."
    )
    download_format = serializers.ChoiceField(
        choices=KOKORO_FORMATS, required=False, allow_null=True, help_text="Kokoro-FastAPI: the kept file's format."
    )
    normalization_options = serializers.DictField(
        required=False, allow_null=True, help_text="Kokoro-FastAPI: `normalize` switches text normalization; the rest is ignored."
    )
    lang_code = StringField(
        required=False, allow_null=True, max_length=16, help_text="Kokoro-FastAPI: read the text in this language (a, b, e, f, h, i, j, p, z)."
    )
    volume_multiplier = NumberField(default=1.0, allow_null=True, field_code="invalid_volume", help_text="0-10, clipped.")
    return_timing = serializers.BooleanField(default=False, help_text="Accepted and ignored.")
    allow_voice_tags = serializers.BooleanField(default=False, help_text="Accepted and ignored.")
    ssml = serializers.BooleanField(default=False, help_text="Accepted and ignored.")
    voice_aliases = serializers.DictField(
        required=False, allow_null=True,
        help_text='Short names for voices, e.g. {"narrator": "af_bella(2)+af_sky"} or {"narrator": {"voice": "af_sky", "rate": 0.8}}; '
        "`voice` may name one (any case); `rate` multiplies `speed`.",
    )

    def validate_normalization_options(self, options):
        if options is None:
            return {}
        unknown = sorted(set(options) - set(KOKORO_NORMALIZATION_OPTIONS))
        if unknown:
            raise serializers.ValidationError(
                f"unknown option {unknown[0]!r}; the options are {', '.join(KOKORO_NORMALIZATION_OPTIONS)}.", code="invalid"
            )
        if not all(isinstance(v, bool) for v in options.values()):
            raise serializers.ValidationError("each option must be true or false.", code="invalid")
        return options

    def validate_lang_code(self, code):
        if code and code.lower() not in KOKORO_LANG_CODES and code.lower() not in KOKORO_LANG_CODES.values():
            raise serializers.ValidationError(
                f"unknown language code {code!r}; use one of {', '.join(KOKORO_LANG_CODES)}.", code="invalid_lang_code"
            )
        return code and KOKORO_LANG_CODES.get(code.lower(), code.lower())

    def validate_voice_aliases(self, aliases):
        resolved = {}
        for name, target in (aliases or {}).items():
            voice, rate = (target.get("voice"), target.get("rate", 1.0)) if isinstance(target, dict) else (target, 1.0)
            if not isinstance(voice, str) or not voice or isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise serializers.ValidationError(
                    f"{name!r} must name a voice, or be {{\"voice\": ..., \"rate\": number}}.", code="invalid_voice"
                )
            if not 0.25 <= rate <= 4.0:
                raise serializers.ValidationError(f"the rate of {name!r} must be between 0.25 and 4.0.", code="invalid_speed")
            resolved[name.lower()] = (kokoro_voice(voice), float(rate))
        return resolved

    def validate(self, attrs):
        # Kokoro-FastAPI: an alias stands for its voice wherever a voice is named, and its rate paces it.
        alias = (attrs.get("voice_aliases") or {}).get(str(attrs.get("voice", "")).lower())
        if alias is not None:
            voice, rate = alias
            attrs["voice"] = voice
            attrs["speed"] = min(max(attrs.get("speed", 1.0) * rate, 0.25), 4.0)
        return attrs

    def validate_volume_multiplier(self, volume):
        if volume is None:
            return 1.0
        if not 0 <= volume <= MAX_VOLUME:
            raise serializers.ValidationError(f"must be between 0 and {MAX_VOLUME:g}, got {volume}.", code="invalid_volume")
        return volume


def kokoro_ignored(body) -> list[str]:
    """The Kokoro-FastAPI fields this request set that change nothing here, for the x-voicehub-ignored header."""
    options = body.get("normalization_options") or {}
    ignored = [f"normalization_options.{name}" for name in options if name != "normalize"]
    ignored += [name for name in ("return_timing", "allow_voice_tags", "ssml") if body.get(name)]
    if body.get("download_format") and not body.get("return_download_link"):
        ignored.append("download_format")
    return ignored


class PronunciationLocatorSerializer(serializers.Serializer):
    pronunciation_dictionary_id = StringField(max_length=64)
    version_id = StringField(required=False, allow_null=True, max_length=64, help_text="Default: the latest version.")


def pronunciation_locators_field(**kwargs):
    """ElevenLabs' `pronunciation_dictionary_locators`, the same on every door (synthesis.services.pronunciation)."""
    return PronunciationLocatorSerializer(
        many=True, required=False, allow_null=True, max_length=3,
        help_text="Up to 3 of your organization's pronunciation dictionaries, the first winning where two have a rule "
        "for the same word: [{pronunciation_dictionary_id, version_id?}].", **kwargs,
    )


class TTSRequestSerializer(serializers.Serializer):
    text = StringField(
        trim_whitespace=False, allow_blank=True, help_text="The text to speak (up to the per-request limit)."
    )
    voice = StringField(default="af", max_length=64, help_text="A voice id from GET /voices.")
    speed = NumberField(default=1.0, field_code="invalid_speed", help_text="0.5 (slow) to 2.0 (fast).")
    pronunciation_dictionary_locators = pronunciation_locators_field()

    def validate_text(self, text):
        if not text.strip():
            raise serializers.ValidationError("must not be empty or only whitespace.", code="empty_text")
        limit = self.context["max_characters"]
        if len(text) > limit:
            raise serializers.ValidationError(
                f"is {len(text):,} characters; your plan's limit per request is {limit:,}.",
                code="max_character_limit_exceeded",
            )
        return text

    def validate_speed(self, speed):
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise serializers.ValidationError(
                f"must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}.", code="invalid_speed"
            )
        return speed


class VoiceSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    language = serializers.CharField(help_text="eSpeak NG language code, e.g. en-us.")
    language_name = serializers.CharField()
    accent = serializers.CharField()
    gender = serializers.CharField()
    description = serializers.CharField()
    quality_grade = serializers.CharField(allow_null=True)
    original = serializers.BooleanField(help_text="One of the 11 voices of the original product.")
    mix = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    saved = serializers.BooleanField(default=False, help_text="One of your organization's saved voices.")


class SavedVoiceSerializer(serializers.Serializer):
    """A saved voice as GET /api/v1/voices and /api/v1/voices/saved show it: VoiceSerializer's fields and more."""

    id = serializers.CharField(source="public_id", help_text="Use it as `voice` on every door: sv_...")
    name = serializers.CharField()
    language = serializers.CharField()
    language_name = serializers.SerializerMethodField()
    accent = serializers.SerializerMethodField()
    gender = serializers.SerializerMethodField()
    description = serializers.CharField()
    quality_grade = serializers.CharField(read_only=True, allow_null=True, default=None)
    original = serializers.BooleanField(read_only=True, default=False)
    mix = serializers.DictField(source="weights", child=serializers.FloatField(), help_text="The blend's weights.")
    saved = serializers.BooleanField(read_only=True, default=True)
    spec = serializers.CharField(help_text="The blend as a mix spec: af_bella(2)+af_sky(1).")
    preview_text = serializers.CharField()
    preview_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def _parts(self, voice):
        from synthesis.services.voices import catalog_voice

        return [v for v in (catalog_voice(part) for part in voice.weights) if v is not None]

    def get_language_name(self, voice) -> str:
        parts = self._parts(voice)
        return parts[0].language_name if parts else voice.language

    def get_accent(self, voice) -> str:
        return " / ".join(dict.fromkeys(v.accent for v in self._parts(voice)))

    def get_gender(self, voice) -> str:
        genders = {v.gender for v in self._parts(voice)}
        return genders.pop() if len(genders) == 1 else "Mixed"

    def get_preview_url(self, voice) -> str | None:
        request = self.context.get("request")
        path = reverse("api_v1:saved-voice-preview", kwargs={"saved_voice_id": voice.public_id})
        return request.build_absolute_uri(path) if request is not None else path


class SavedVoiceCreateSerializer(serializers.Serializer):
    name = StringField(max_length=100, help_text="Unique in your organization (case-insensitive).")
    spec = StringField(
        max_length=200, help_text="The blend: 2-5 voices of one language with weights, as in af_bella(2)+af_sky(1)."
    )
    description = StringField(required=False, allow_blank=True, default="", max_length=1000)
    preview_text = StringField(
        required=False, allow_blank=True, default="", max_length=200,
        help_text="What the preview says (charged as a request); default: a sentence in the voice's language.",
    )


class SavedVoiceUpdateSerializer(serializers.Serializer):
    name = StringField(required=False, max_length=100)
    description = StringField(required=False, allow_blank=True, max_length=1000)


class SynthesisSerializer(TTSRequestSerializer):
    """The native /api/v1/tts body: /tts's fields plus format, normalization and storage."""

    voice = StringField(default="af", max_length=200, help_text='A voice id, or a weighted mix: "af_bella(2)+af_sky(1)".')
    format = FormatField(default="mp3", help_text="wav, mp3, opus, flac, pcm, or an ElevenLabs name such as mp3_44100_128.")
    normalize = serializers.ChoiceField(choices=["auto", "on", "off"], default="auto", help_text="Read numbers, dates and symbols as words.")
    store = serializers.BooleanField(default=True, help_text="false: keep nothing but the usage row.")
    language = StringField(
        required=False, allow_null=True, max_length=35,
        help_text="The language of the text, a BCP 47 tag (en, en-GB, es, pt-BR, ...). It must be the voice's "
        "(400 unsupported_language otherwise); an English voice reads en-GB or en-US words. Default: the voice's.",
    )
    text_type = serializers.ChoiceField(
        choices=["text", "ssml"], default="text",
        help_text="ssml: `text` is SSML (speak, p, s, break, phoneme, sub, say-as, prosody rate, lang; see docs/ssml.md): "
        "the characters charged are its text's, not the markup's. text (default): markup stays text.",
    )


class GenerationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    voice = serializers.CharField()
    speed = serializers.FloatField()
    format = serializers.CharField(source="output_format")
    characters = serializers.IntegerField()
    audio_seconds = serializers.FloatField()
    source = serializers.CharField()
    status = serializers.CharField(help_text="complete, or cancelled/interrupted: only the audio heard was kept and charged.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    audio_url = serializers.SerializerMethodField()

    def get_audio_url(self, generation) -> str:
        return reverse("api_v1:history-audio", kwargs={"generation_id": generation.id})


class DownloadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=100)


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    characters = serializers.IntegerField()
    requests = serializers.IntegerField()
    audio_seconds = serializers.FloatField()


class UsageSerializer(serializers.Serializer):
    characters_used = serializers.IntegerField()
    character_limit = serializers.IntegerField()
    period_start = serializers.DateTimeField()
    resets_at = serializers.DateTimeField()
    days = UsageDaySerializer(many=True)


class UserInfoSerializer(serializers.Serializer):
    class Person(serializers.Serializer):
        email = serializers.EmailField()
        name = serializers.CharField()

    class Org(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()

    class Key(serializers.Serializer):
        name = serializers.CharField()
        prefix = serializers.CharField()
        scopes = serializers.ListField(child=serializers.CharField())

    class PlanInfo(serializers.Serializer):
        slug = serializers.CharField()
        name = serializers.CharField()
        monthly_characters = serializers.IntegerField()
        max_characters_per_request = serializers.IntegerField()
        max_audio_seconds_per_request = serializers.IntegerField(help_text="The most audio one request may produce, in seconds.")
        requests_per_minute = serializers.IntegerField()
        concurrent_requests = serializers.IntegerField()
        allowed_formats = serializers.ListField(child=serializers.CharField())
        history_retention_days = serializers.IntegerField()

    user = Person(allow_null=True)
    organization = Org()
    api_key = Key(allow_null=True)
    plan = PlanInfo()

import math

from rest_framework import serializers

from .engine.core import MAX_SPEED, MIN_SPEED


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


class TTSRequestSerializer(serializers.Serializer):
    text = StringField(
        trim_whitespace=False, allow_blank=True, help_text="The text to speak (up to the per-request limit)."
    )
    voice = StringField(default="af", max_length=64, help_text="A voice id from GET /voices.")
    speed = NumberField(default=1.0, field_code="invalid_speed", help_text="0.5 (slow) to 2.0 (fast).")

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

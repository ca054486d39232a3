"""
How the OpenAI and ElevenLabs routes appear in /api/schema: their own request bodies, error
shapes and examples, under tags of their own, so a developer can see in one document what the
drop-in routes accept and answer (the SDKs themselves need no schema from us).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

OPENAI_TAG = "OpenAI compatible"
ELEVENLABS_TAG = "ElevenLabs compatible"

OPENAI_ERROR = inline_serializer(
    "OpenAIError",
    {
        "error": inline_serializer(
            "OpenAIErrorBody",
            {
                "message": serializers.CharField(),
                "type": serializers.CharField(help_text="invalid_request_error, requests, insufficient_quota or server_error."),
                "param": serializers.CharField(allow_null=True),
                "code": serializers.CharField(help_text="Voicehub's machine-readable code, e.g. rate_limited."),
            },
        )
    },
)

ELEVENLABS_ERROR = inline_serializer(
    "ElevenLabsError",
    {
        "detail": inline_serializer(
            "ElevenLabsErrorBody",
            {
                "status": serializers.CharField(help_text="The machine-readable code, e.g. voice_not_found (ElevenLabs' legacy field)."),
                "code": serializers.CharField(required=False, help_text="The same code, as ElevenLabs' current errors name it."),
                "message": serializers.CharField(),
            },
        )
    },
)


OPENAI_SPEECH_ERRORS = {
    400: OpenApiResponse(OPENAI_ERROR, description="Invalid body: unknown model or voice, empty input, over 4,096 characters, bad speed or format."),
    401: OpenApiResponse(OPENAI_ERROR, description="No valid API key."),
    403: OpenApiResponse(OPENAI_ERROR, description="The key lacks the `tts` scope, or the format is not in the plan."),
    404: OpenApiResponse(
        OPENAI_ERROR, description="`pronunciation_dictionary_not_found`: a `pronunciation_dictionary_locators` entry (an "
        "extra field, ElevenLabs') names no dictionary or version of your organization.",
    ),
    429: OpenApiResponse(OPENAI_ERROR, description="`rate_limited`, `concurrency_limited` (Retry-After) or `insufficient_quota` (x-should-retry: false)."),
    503: OpenApiResponse(OPENAI_ERROR, description="`overloaded` (the server is at capacity) or `service_unavailable` (a backend is down); see Retry-After."),
}

# A body that is not JSON, or hostile JSON (nested 1,000 deep, a repeated key): 400 before the
# body's fields are read, which are ElevenLabs' 422.
ELEVENLABS_PARSE_ERROR = {
    400: OpenApiResponse(ELEVENLABS_ERROR, description="`parse_error`: the body is not valid JSON, or is hostile JSON."),
}

ELEVENLABS_TTS_ERRORS = {
    **ELEVENLABS_PARSE_ERROR,
    401: OpenApiResponse(ELEVENLABS_ERROR, description="No valid API key (`xi-api-key` or Bearer), or `quota_exceeded`: the monthly characters are spent (`resets_at`), as ElevenLabs answers it."),
    403: OpenApiResponse(ELEVENLABS_ERROR, description="Missing scope, or the output format is not in the plan."),
    404: OpenApiResponse(ELEVENLABS_ERROR, description="`voice_not_found`, or `pronunciation_dictionary_not_found` (or its version's)."),
    422: OpenApiResponse(ELEVENLABS_ERROR, description="Invalid body or `output_format`."),
    429: OpenApiResponse(ELEVENLABS_ERROR, description="`rate_limit_exceeded`, `too_many_concurrent_requests` or `system_busy` (the server is at capacity); see Retry-After."),
    503: OpenApiResponse(ELEVENLABS_ERROR, description="`service_unavailable`: a backend is down; see Retry-After."),
}

ELEVENLABS_READ_ERRORS = {
    401: OpenApiResponse(ELEVENLABS_ERROR, description="No valid API key."),
    403: OpenApiResponse(ELEVENLABS_ERROR, description="The key lacks the scope this route needs."),
}

OUTPUT_FORMAT = OpenApiParameter(
    "output_format",
    str,
    OpenApiParameter.QUERY,
    description="codec_samplerate[_bitrate]: mp3_44100_128 (default), mp3_22050_32, pcm_16000, pcm_24000, pcm_44100, ulaw_8000, opus_48000_64, wav_24000, ...",
)
ENABLE_LOGGING = OpenApiParameter(
    "enable_logging", bool, OpenApiParameter.QUERY, description="false: zero retention, nothing kept in history (only the usage row)."
)
VOICE_ID = OpenApiParameter("voice_id", str, OpenApiParameter.PATH, description="A Voicehub (Kokoro) voice id, e.g. af_heart.")
HISTORY_ITEM_ID = OpenApiParameter("history_item_id", str, OpenApiParameter.PATH)

OPENAI_SPEECH_EXAMPLES = [
    OpenApiExample(
        "OpenAI voice, MP3",
        value={"model": "tts-1", "input": "Hello from Voicehub!", "voice": "alloy", "response_format": "mp3"},
        request_only=True,
    ),
    OpenApiExample(
        "Kokoro voice, streamed as server-sent events",
        value={"model": "gpt-4o-mini-tts", "input": "Hello!", "voice": "bf_emma", "response_format": "pcm", "stream_format": "sse", "speed": 1.25},
        request_only=True,
    ),
]

ELEVENLABS_TTS_EXAMPLES = [
    OpenApiExample(
        "Speak with a speed",
        value={"text": "Hello from Voicehub!", "model_id": "eleven_multilingual_v2", "voice_settings": {"stability": 0.5, "speed": 1.1}},
        request_only=True,
    )
]

ELEVENLABS_TIMESTAMPS_RESPONSE = inline_serializer(
    "ElevenLabsWithTimestamps",
    {
        "audio_base64": serializers.CharField(),
        "alignment": inline_serializer(
            "ElevenLabsAlignment",
            {
                "characters": serializers.ListField(child=serializers.CharField()),
                "character_start_times_seconds": serializers.ListField(child=serializers.FloatField()),
                "character_end_times_seconds": serializers.ListField(child=serializers.FloatField()),
            },
        ),
        "normalized_alignment": serializers.DictField(help_text="The same, over the normalized text that was spoken."),
    },
)

BINARY_AUDIO = OpenApiResponse(OpenApiTypes.BINARY, description="The audio, in the requested format.")
JSON_OBJECT = OpenApiResponse(OpenApiTypes.OBJECT, description="ElevenLabs' shape for this route (see ElevenLabs' API reference).")

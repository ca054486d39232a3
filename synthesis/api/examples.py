"""
Examples in /api/schema for every route: what a developer sees in Swagger UI and ReDoc.

Values are shaped exactly like the serializers' output (a test checks each response example's
keys against the schema of its response).
"""

from drf_spectacular.utils import OpenApiExample

GENERATION = {
    "id": "7d3c7a8e-5b4f-4c47-9f0e-2b1f6a1c9d42",
    "text": "Hello from Voicehub!",
    "voice": "af_heart",
    "speed": 1.0,
    "format": "mp3",
    "characters": 20,
    "audio_seconds": 1.62,
    "source": "api",
    "status": "complete",
    "created_at": "2026-11-25T09:30:00Z",
    "expires_at": "2026-12-25T09:30:00Z",
    "audio_url": "https://voicehub.example/api/v1/history/7d3c7a8e-5b4f-4c47-9f0e-2b1f6a1c9d42/audio",
}

VOICE = {
    "id": "af_heart",
    "name": "Heart",
    "language": "en-us",
    "language_name": "English (US)",
    "accent": "American",
    "gender": "Female",
    "description": "Warm and expressive; Kokoro's highest-graded voice.",
    "quality_grade": "A",
    "original": False,
    "mix": None,
}


def response(name, value, status=200):
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


def error(name, detail, code, status):
    return response(name, {"detail": detail, "code": code}, status)


NOT_FOUND = error("Not found", "Not found.", "not_found", 404)
UNAUTHENTICATED = error("No key", "Authentication credentials were not provided.", "not_authenticated", 401)

# A list view's example is one item: drf-spectacular puts it in a page ({next, previous, results}) itself.
HISTORY_LIST = [
    response("A page of history", GENERATION),
    error("Bad date", "'from' must be a date as YYYY-MM-DD.", "invalid_date", 400),
]
HISTORY_ITEM = [response("One item", GENERATION), NOT_FOUND]
HISTORY_DELETE = [NOT_FOUND]
HISTORY_AUDIO = [NOT_FOUND]
HISTORY_DOWNLOAD = [
    OpenApiExample("Two items", value={"ids": [GENERATION["id"], "0b6b1a8e-3f2d-4f57-8a51-9a3c0f6e2d11"]}, request_only=True),
    NOT_FOUND,
]
VOICES_LIST = [response("Voices", VOICE), UNAUTHENTICATED]
VOICE_DETAIL = [response("One voice", VOICE), error("Unknown voice", "Voice 'xx_nobody' was not found.", "voice_not_found", 404)]
VOICE_PREVIEW = [error("Unknown voice", "Voice 'xx_nobody' was not found.", "voice_not_found", 404)]
SAVED_VOICE = {
    "id": "sv_k3n7q2xw9d4m",
    "name": "Narrator",
    "language": "en-us",
    "language_name": "English",
    "accent": "American",
    "gender": "Female",
    "description": "Warm and calm, for audiobooks.",
    "quality_grade": None,
    "original": False,
    "mix": {"af_bella": 2.0, "af_sky": 1.0},
    "saved": True,
    "spec": "af_bella(2)+af_sky(1)",
    "preview_text": "Hello! This is my new voice. I hope you like how it sounds.",
    "preview_url": "https://voicehub.example/api/v1/voices/saved/sv_k3n7q2xw9d4m/preview",
    "created_at": "2026-12-06T10:15:00Z",
}
SAVED_VOICE_NOT_FOUND = error("Unknown saved voice", "Voice 'sv_k3n7q2xw9d4m' was not found.", "voice_not_found", 404)
SAVED_VOICES_LIST = [response("Saved voices", SAVED_VOICE), UNAUTHENTICATED]
SAVED_VOICE_CREATE = [
    OpenApiExample(
        "A blend", value={"name": "Narrator", "spec": "af_bella(2)+af_sky(1)", "description": "Warm and calm."},
        request_only=True,
    ),
    response("Saved", SAVED_VOICE, 201),
    error(
        "Two languages",
        "A mix speaks one language: af_bella speaks English and ef_dora speaks Spanish. "
        "Mix voices of the same language.",
        "invalid_voice_mix", 400,
    ),
    error(
        "Name taken", "Your organization already has a voice named 'Narrator'; choose another name.",
        "voice_name_taken", 409,
    ),
]
SAVED_VOICE_DETAIL = [response("One saved voice", SAVED_VOICE), SAVED_VOICE_NOT_FOUND]
SAVED_VOICE_UPDATE = [
    OpenApiExample("Rename", value={"name": "Storyteller"}, request_only=True),
    response("Renamed", {**SAVED_VOICE, "name": "Storyteller"}),
    SAVED_VOICE_NOT_FOUND,
]
SAVED_VOICE_DELETE = [SAVED_VOICE_NOT_FOUND]
SAVED_VOICE_PREVIEW = [SAVED_VOICE_NOT_FOUND]
USAGE = [
    response(
        "This period",
        {
            "characters_used": 1840,
            "character_limit": 10000,
            "period_start": "2026-11-01T00:00:00Z",
            "resets_at": "2026-12-01T00:00:00Z",
            "days": [
                {"date": "2026-11-24", "characters": 1200, "requests": 9, "audio_seconds": 81.4},
                {"date": "2026-11-25", "characters": 640, "requests": 4, "audio_seconds": 43.0},
            ],
        },
    ),
    error("Bad range", "'from' must be before 'to', at most a year apart.", "invalid_date_range", 400),
]
USER = [
    response(
        "An API key",
        {
            "user": {"email": "ada@example.com", "name": "Ada"},
            "organization": {"name": "Acme", "slug": "acme"},
            "api_key": {"name": "backend", "prefix": "vh_a1b2c3d4e5f6_…", "scopes": ["tts", "history:read"]},
            "plan": {
                "slug": "starter",
                "name": "Starter",
                "monthly_characters": 100000,
                "max_characters_per_request": 5000,
                "max_audio_seconds_per_request": 600,
                "requests_per_minute": 60,
                "concurrent_requests": 2,
                "allowed_formats": ["wav", "mp3", "opus", "flac", "pcm"],
                "history_retention_days": 30,
            },
        },
    )
]

# Compatibility routes (their vendors' shapes)
OPENAI_MODELS = [response("Models", {"object": "list", "data": [{"id": "tts-1", "object": "model", "created": 1737936000, "owned_by": "voicehub"}]})]
OPENAI_MODEL = [
    response("One model", {"id": "tts-1", "object": "model", "created": 1737936000, "owned_by": "voicehub"}),
    response("Unknown model", {"error": {"message": "The model 'tts-9' does not exist.", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}, 404),
]
ELEVENLABS_VOICE = {
    "voice_id": "af_heart",
    "name": "Heart",
    "category": "premade",
    "labels": {"accent": "american", "gender": "female", "language": "en", "description": VOICE["description"]},
    "description": VOICE["description"],
    "preview_url": "https://voicehub.example/voices/af_heart/preview.mp3",
}
ELEVENLABS_VOICES = [response("Voices", {"voices": [ELEVENLABS_VOICE]})]
ELEVENLABS_VOICES_SEARCH = [response("A page of voices", {"voices": [ELEVENLABS_VOICE], "has_more": True, "total_count": 49, "next_page_token": "10"})]
ELEVENLABS_VOICE_DETAIL = [
    response("One voice", ELEVENLABS_VOICE),
    response("Unknown voice", {"detail": {"status": "voice_not_found", "message": "A voice with the voice_id 'xx' was not found."}}, 404),
]
ELEVENLABS_MODELS = [response("Models", [{"model_id": "kokoro", "name": "Kokoro-82M", "can_do_text_to_speech": True, "maximum_text_length_per_request": 5000}])]
ELEVENLABS_SUBSCRIPTION = [
    response("Subscription", {"tier": "starter", "character_count": 1840, "character_limit": 100000, "next_character_count_reset_unix": 1764547200, "status": "active"})
]
ELEVENLABS_USER = [response("User", {"user_id": "42", "first_name": "Ada", "workspace_id": "acme", "subscription": {"tier": "starter", "character_count": 1840}})]
ELEVENLABS_HISTORY_ITEM = {
    "history_item_id": GENERATION["id"],
    "voice_id": "af_heart",
    "voice_name": "Heart",
    "model_id": "kokoro",
    "text": "Hello from Voicehub!",
    "date_unix": 1764063000,
    "character_count_change_from": 0,
    "character_count_change_to": 20,
    "content_type": "audio/mpeg",
    "state": "created",
}
ELEVENLABS_HISTORY = [response("History", {"history": [ELEVENLABS_HISTORY_ITEM], "last_history_item_id": GENERATION["id"], "has_more": False})]
ELEVENLABS_HISTORY_GET = [
    response("One item", ELEVENLABS_HISTORY_ITEM),
    response("Unknown item", {"detail": {"status": "history_item_not_found", "message": "A history item with the id 'x' was not found."}}, 404),
]
ELEVENLABS_HISTORY_AUDIO = [ELEVENLABS_HISTORY_GET[1]]
ELEVENLABS_HISTORY_DELETE = [response("Deleted", {"status": "ok"})]
ELEVENLABS_HISTORY_DOWNLOAD = [OpenApiExample("Two items", value={"history_item_ids": [GENERATION["id"], "0b6b1a8e-3f2d-4f57-8a51-9a3c0f6e2d11"]}, request_only=True)]

# Long-form jobs and webhooks
JOB_ID = "5f0c2d8a-1e47-4b8e-9a3b-6c7d2e1f0a99"
JOB = {
    "id": JOB_ID,
    "status": "running",
    "title": "The Adventure of the Speckled Band",
    "voice": "bm_george",
    "speed": 1.0,
    "format": "mp3",
    "characters": 48213,
    "chunks_done": 12,
    "chunks_total": 96,
    "progress": 0.125,
    "eta_seconds": 1520.0,
    "error": None,
    "notice": None,
    "audio_seconds": 0.0,
    "audio_url": None,
    "timing_url": None,
    "chapters": [{"index": 0, "title": "Chapter 1", "characters": 24100, "audio_seconds": 0.0, "audio_url": None}],
    "created_at": "2026-11-25T09:30:00Z",
    "started_at": "2026-11-25T09:30:02Z",
    "finished_at": None,
}
JOB_NOT_FOUND = error("Unknown job", "Not found.", "not_found", 404)
JOBS_LIST = [response("A page of jobs", JOB)]
JOBS_CREATE = [
    OpenApiExample(
        "A chapter as JSON",
        value={"title": "Chapter 1", "text": "# Chapter 1\n\nIt was a dark and stormy night...", "voice": "bm_george", "format": "mp3"},
        request_only=True,
    ),
    response("Queued", dict(JOB, status="queued", chunks_done=0, chunks_total=0, progress=0.0, eta_seconds=None, started_at=None), 202),
    response(
        "Queued, but no worker is running",
        dict(JOB, status="queued", chunks_done=0, chunks_total=0, progress=0.0, eta_seconds=None, started_at=None,
             notice={"code": "no_worker", "detail": "No job worker is running, so this job is waiting. Start one with "
                     "`python manage.py jobs_worker` (or run Voicehub with `python manage.py up`, which runs one), "
                     "or ask your operator."}),
        202,
    ),
    error("Too long", "The text is 612,400 characters; your plan's long-form limit is 500,000.", "max_character_limit_exceeded", 400),
]
JOB_DETAIL = [response("Running", JOB), JOB_NOT_FOUND]
JOB_CANCEL = [response("Cancelled", dict(JOB, status="cancelled", eta_seconds=None, finished_at="2026-11-25T09:41:00Z")), JOB_NOT_FOUND]
JOB_FILE = [error("Not ready", "This job has no result yet.", "job_not_finished", 409), JOB_NOT_FOUND]
JOB_TIMING = [
    response(
        "Timing",
        {"chapters": [{"index": 0, "title": "Chapter 1", "start": 0.0, "end": 1402.6}], "words": [{"text": "It", "start": 0.21, "end": 0.33, "chapter": 0}]},
    ),
    JOB_NOT_FOUND,
]
WEBHOOK = {"url": "https://hooks.example.com/voicehub", "secret": "whsec_3q2+7w…", "is_active": True}
WEBHOOK_GET = [response("The webhook", WEBHOOK), error("None set", "No webhook is set for your organization.", "not_found", 404)]
WEBHOOK_SET = [
    OpenApiExample("Set", value={"url": "https://hooks.example.com/voicehub"}, request_only=True),
    response("Set", WEBHOOK),
    error("Private address", "The webhook URL must be a public https address.", "invalid_webhook_url", 400),
]
WEBHOOK_DELETE = [error("None set", "No webhook is set for your organization.", "not_found", 404)]
WEBHOOK_DELIVERIES = [
    response(
        "Deliveries",
        {
            "id": "5f0c3a1e-8d2b-4c6a-9e7f-1b2c3d4e5f60",
            "job": JOB_ID,
            "url": "https://hooks.example.com/voicehub",
            "event": "job.succeeded",
            "status": "delivered",
            "attempts": 1,
            "response_status": 204,
            "last_error": "",
            "next_attempt_at": None,
            "created_at": "2026-11-25T10:02:11Z",
            "delivered_at": "2026-11-25T10:02:11Z",
        },
    )
]

"""The API's websocket routes: realtime input streaming, authenticated by API key (voicehub_site/asgi.py)."""

from django.urls import path

from synthesis.api import realtime

PREFIXES = ("/v1/", "/api/v1/")

websocket_urlpatterns = [
    path(
        "v1/text-to-speech/<str:voice_id>/stream-input", realtime.ElevenLabsStreamInput.as_asgi(), name="elevenlabs-stream-input"
    ),
    path(
        "v1/text-to-speech/<str:voice_id>/multi-stream-input",
        realtime.ElevenLabsMultiStreamInput.as_asgi(),
        name="elevenlabs-multi-stream-input",
    ),
    path("api/v1/tts/realtime", realtime.NativeRealtime.as_asgi(), name="tts-realtime"),
]

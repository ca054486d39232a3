"""Websocket routes (composed with session auth and the Origin check in voicehub_site/asgi.py)."""

from django.urls import path

from synthesis.studio import consumers

websocket_urlpatterns = [
    path("ws/tts/", consumers.TTSConsumer.as_asgi(), name="ws-tts"),
]

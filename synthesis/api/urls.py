from django.urls import path

from synthesis import health
from synthesis.api import legacy as api

app_name = "synthesis"

urlpatterns = [
    path("tts", api.TTSView.as_view(), name="tts"),
    path("voices", api.VoiceListView.as_view(), name="voices"),
    path("voices/<str:voice_id>/preview.mp3", api.VoicePreviewView.as_view(), name="voice-preview"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("status", health.status_page, name="status"),
]

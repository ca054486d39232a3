from django.urls import path

from . import api_v1

app_name = "api_v1"

urlpatterns = [
    path("tts", api_v1.SynthesizeView.as_view(), name="tts"),
    path("tts/stream", api_v1.StreamView.as_view(), name="tts-stream"),
    path("tts/with-timestamps", api_v1.SynthesizeWithTimestampsView.as_view(), name="tts-timestamps"),
    path("voices", api_v1.VoicesView.as_view(), name="voices"),
    path("voices/<str:voice_id>", api_v1.VoiceDetailView.as_view(), name="voice"),
    path("voices/<str:voice_id>/preview", api_v1.VoicePreviewView.as_view(), name="voice-preview"),
    path("history", api_v1.HistoryListView.as_view(), name="history"),
    path("history/download", api_v1.HistoryDownloadView.as_view(), name="history-download"),
    path("history/<uuid:generation_id>", api_v1.HistoryDetailView.as_view(), name="history-item"),
    path("history/<uuid:generation_id>/audio", api_v1.HistoryAudioView.as_view(), name="history-audio"),
    path("usage", api_v1.UsageView.as_view(), name="usage"),
    path("user", api_v1.UserView.as_view(), name="user"),
]

from django.urls import path

from synthesis.api import dictionaries as api_dictionaries, jobs as api_jobs, native as api_v1

app_name = "api_v1"

urlpatterns = [
    path("tts", api_v1.SynthesizeView.as_view(), name="tts"),
    path("tts/stream", api_v1.StreamView.as_view(), name="tts-stream"),
    path("tts/with-timestamps", api_v1.SynthesizeWithTimestampsView.as_view(), name="tts-timestamps"),
    path("voices", api_v1.VoicesView.as_view(), name="voices"),
    path("voices/saved", api_v1.SavedVoicesView.as_view(), name="saved-voices"),
    path("voices/saved/<str:saved_voice_id>", api_v1.SavedVoiceDetailView.as_view(), name="saved-voice"),
    path(
        "voices/saved/<str:saved_voice_id>/preview", api_v1.SavedVoicePreviewView.as_view(), name="saved-voice-preview"
    ),
    path("voices/<str:voice_id>", api_v1.VoiceDetailView.as_view(), name="voice"),
    path("voices/<str:voice_id>/preview", api_v1.VoicePreviewView.as_view(), name="voice-preview"),
    path("history", api_v1.HistoryListView.as_view(), name="history"),
    path("history/download", api_v1.HistoryDownloadView.as_view(), name="history-download"),
    path("history/<uuid:generation_id>", api_v1.HistoryDetailView.as_view(), name="history-item"),
    path("history/<uuid:generation_id>/audio", api_v1.HistoryAudioView.as_view(), name="history-audio"),
    path("usage", api_v1.UsageView.as_view(), name="usage"),
    path("user", api_v1.UserView.as_view(), name="user"),
    path("jobs", api_jobs.JobsView.as_view(), name="jobs"),
    path("jobs/<uuid:job_id>", api_jobs.JobDetailView.as_view(), name="job"),
    path("jobs/<uuid:job_id>/cancel", api_jobs.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/audio", api_jobs.JobAudioView.as_view(), name="job-audio"),
    path("jobs/<uuid:job_id>/chapters/<int:index>/audio", api_jobs.JobChapterAudioView.as_view(), name="job-chapter-audio"),
    path("jobs/<uuid:job_id>/timing", api_jobs.JobTimingView.as_view(), name="job-timing"),
    path("webhook", api_jobs.WebhookView.as_view(), name="webhook"),
    path("webhooks/deliveries", api_jobs.WebhookDeliveriesView.as_view(), name="webhook-deliveries"),
    path("pronunciation-dictionaries", api_dictionaries.DictionariesView.as_view(), name="pronunciation-dictionaries"),
    path(
        "pronunciation-dictionaries/<str:pronunciation_dictionary_id>",
        api_dictionaries.DictionaryView.as_view(),
        name="pronunciation-dictionary",
    ),
    path(
        "pronunciation-dictionaries/<str:pronunciation_dictionary_id>/rules",
        api_dictionaries.RulesView.as_view(),
        name="pronunciation-dictionary-rules",
    ),
    path(
        "pronunciation-dictionaries/<str:pronunciation_dictionary_id>/download",
        api_dictionaries.DownloadView.as_view(),
        name="pronunciation-dictionary-download",
    ),
]

"""
Drop-in routes for OpenAI's and ElevenLabs' SDKs, and Kokoro-FastAPI's routes, at the paths their clients call.

OpenAI clients use base_url ".../v1"; ElevenLabs clients use base_url "..." (the SDK adds /v1).
Both SDKs call GET /v1/models, and they expect different shapes: ElevenLabs' SDK authenticates
with `xi-api-key`, OpenAI's with `Authorization: Bearer`, so the header says which one is asking.
"""

from django.urls import path
from rest_framework.views import APIView

from synthesis.api import elevenlabs, kokoro_fastapi, openai

app_name = "compat"

_openai_models = openai.ModelsView.as_view()
_elevenlabs_models = elevenlabs.ModelsView.as_view()


class ModelsView(APIView):
    """GET /v1/models: ElevenLabs' shape when the request carries `xi-api-key`, OpenAI's otherwise.

    Each inner view authenticates and answers errors in its own shape; the schema documents
    OpenAI's (one operation per path and method).
    """

    authentication_classes = []
    permission_classes = []
    content_negotiation_class = openai.IgnoreAccept

    @openai.MODELS_LIST_SCHEMA
    def get(self, request):
        view = _elevenlabs_models if "xi-api-key" in request.headers else _openai_models
        return view(request._request)


urlpatterns = [
    # OpenAI
    path("v1/audio/speech", openai.SpeechView.as_view(), name="openai-speech"),
    path("v1/models", ModelsView.as_view(), name="models"),
    path("v1/models/<str:model_id>", openai.ModelDetailView.as_view(), name="openai-model"),
    # Kokoro-FastAPI (its POST /v1/audio/speech is OpenAI's, above, which takes its fields)
    path("v1/audio/voices", kokoro_fastapi.VoicesView.as_view(), name="kokoro-voices"),
    path("v1/audio/voices/combine", kokoro_fastapi.CombineView.as_view(), name="kokoro-voices-combine"),
    path("v1/download/<str:filename>", kokoro_fastapi.DownloadView.as_view(), name="kokoro-download"),
    path("dev/captioned_speech", kokoro_fastapi.CaptionedSpeechView.as_view(), name="kokoro-captioned-speech"),
    path("dev/phonemize", kokoro_fastapi.PhonemizeView.as_view(), name="kokoro-phonemize"),
    path("dev/generate_from_phonemes", kokoro_fastapi.GenerateFromPhonemesView.as_view(), name="kokoro-generate-from-phonemes"),
    # ElevenLabs
    path("v1/text-to-speech/<str:voice_id>", elevenlabs.TextToSpeechView.as_view(), name="elevenlabs-tts"),
    path("v1/text-to-speech/<str:voice_id>/stream", elevenlabs.TextToSpeechStreamView.as_view(), name="elevenlabs-tts-stream"),
    path(
        "v1/text-to-speech/<str:voice_id>/with-timestamps",
        elevenlabs.TextToSpeechWithTimestampsView.as_view(),
        name="elevenlabs-tts-timestamps",
    ),
    path(
        "v1/text-to-speech/<str:voice_id>/stream/with-timestamps",
        elevenlabs.TextToSpeechStreamWithTimestampsView.as_view(),
        name="elevenlabs-tts-stream-timestamps",
    ),
    path("v1/text-to-dialogue", elevenlabs.TextToDialogueView.as_view(), name="elevenlabs-dialogue"),
    path("v1/text-to-dialogue/stream", elevenlabs.TextToDialogueStreamView.as_view(), name="elevenlabs-dialogue-stream"),
    path(
        "v1/text-to-dialogue/with-timestamps",
        elevenlabs.TextToDialogueWithTimestampsView.as_view(),
        name="elevenlabs-dialogue-timestamps",
    ),
    path(
        "v1/text-to-dialogue/stream/with-timestamps",
        elevenlabs.TextToDialogueStreamWithTimestampsView.as_view(),
        name="elevenlabs-dialogue-stream-timestamps",
    ),
    path("v1/voices", elevenlabs.VoicesView.as_view(), name="elevenlabs-voices"),
    path("v2/voices", elevenlabs.VoicesSearchView.as_view(), name="elevenlabs-voices-search"),
    path("v1/voices/settings/default", elevenlabs.VoiceSettingsDefaultView.as_view(), name="elevenlabs-voice-settings-default"),
    path("v1/voices/<str:voice_id>", elevenlabs.VoiceDetailView.as_view(), name="elevenlabs-voice"),
    path("v1/voices/<str:voice_id>/edit", elevenlabs.VoiceEditView.as_view(), name="elevenlabs-voice-edit"),
    path("v1/voices/<str:voice_id>/settings", elevenlabs.VoiceSettingsView.as_view(), name="elevenlabs-voice-settings"),
    path("v1/user", elevenlabs.UserView.as_view(), name="elevenlabs-user"),
    path("v1/user/subscription", elevenlabs.SubscriptionView.as_view(), name="elevenlabs-subscription"),
    path("v1/history", elevenlabs.HistoryView.as_view(), name="elevenlabs-history"),
    path("v1/history/download", elevenlabs.HistoryDownloadView.as_view(), name="elevenlabs-history-download"),
    path("v1/history/<str:history_item_id>", elevenlabs.HistoryItemView.as_view(), name="elevenlabs-history-item"),
    path("v1/history/<str:history_item_id>/audio", elevenlabs.HistoryAudioView.as_view(), name="elevenlabs-history-audio"),
    path("v1/pronunciation-dictionaries", elevenlabs.PronunciationListView.as_view(), name="elevenlabs-pronunciation-list"),
    path(
        "v1/pronunciation-dictionaries/add-from-file",
        elevenlabs.PronunciationAddFromFileView.as_view(),
        name="elevenlabs-pronunciation-add-from-file",
    ),
    path(
        "v1/pronunciation-dictionaries/add-from-rules",
        elevenlabs.PronunciationAddFromRulesView.as_view(),
        name="elevenlabs-pronunciation-add-from-rules",
    ),
    path(
        "v1/pronunciation-dictionaries/<str:pronunciation_dictionary_id>",
        elevenlabs.PronunciationDictionaryView.as_view(),
        name="elevenlabs-pronunciation-dictionary",
    ),
    path(
        "v1/pronunciation-dictionaries/<str:pronunciation_dictionary_id>/add-rules",
        elevenlabs.PronunciationAddRulesView.as_view(),
        name="elevenlabs-pronunciation-add-rules",
    ),
    path(
        "v1/pronunciation-dictionaries/<str:pronunciation_dictionary_id>/set-rules",
        elevenlabs.PronunciationSetRulesView.as_view(),
        name="elevenlabs-pronunciation-set-rules",
    ),
    path(
        "v1/pronunciation-dictionaries/<str:pronunciation_dictionary_id>/remove-rules",
        elevenlabs.PronunciationRemoveRulesView.as_view(),
        name="elevenlabs-pronunciation-remove-rules",
    ),
    path(
        "v1/pronunciation-dictionaries/<str:pronunciation_dictionary_id>/<str:version_id>/download",
        elevenlabs.PronunciationDownloadView.as_view(),
        name="elevenlabs-pronunciation-download",
    ),
]

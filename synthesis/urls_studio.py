"""The signed-in dashboard under /studio/: studio, history, API keys, usage."""

from django.urls import path

from accounts import views_keys

from . import views_studio

app_name = "studio"

urlpatterns = [
    path("", views_studio.studio, name="studio"),
    path("history/", views_studio.history, name="history"),
    path("history/<uuid:pk>/audio", views_studio.history_audio, name="history_audio"),
    path("history/<uuid:pk>/delete", views_studio.history_delete, name="history_delete"),
    path("keys/", views_keys.keys, name="keys"),
    path("keys/<int:pk>/revoke", views_keys.key_revoke, name="key_revoke"),
    path("usage/", views_studio.usage, name="usage"),
]

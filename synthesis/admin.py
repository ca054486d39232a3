"""Generations in the admin, read-only, their audio only for those who may listen.

The permission is accounts.listen_audio (declared on accounts.AuditLog's Meta, so
that no migration had to move when this admin moved here); media is never served
publicly, so the audio comes through storage from the staff-only audio view.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from .api.common import audio_file_response
from .models import Generation, SavedVoice


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "source", "voice", "characters", "audio_seconds", "output_format", "expires_at")
    list_filter = ("source", "output_format")
    search_fields = ("organization__name", "voice")
    date_hierarchy = "created_at"
    list_select_related = ("organization",)
    # The key is shown by its public prefix only (ApiKey.__str__); the audio only to those who may listen.
    base_fields = ("id", "organization", "user", "api_key", "source", "text", "voice", "speed", "output_format",
                   "characters", "audio_seconds", "content_type", "created_at", "expires_at")

    def get_fields(self, request, obj=None):
        return self.base_fields + (("listen",) if request.user.has_perm("accounts.listen_audio") else ("audio_hidden",))

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<uuid:pk>/audio/", self.admin_site.admin_view(self.audio_view), name="synthesis_generation_audio"),
            *super().get_urls(),
        ]

    def audio_view(self, request, pk):
        """The stored audio through storage, for staff with accounts.listen_audio (media is never served publicly)."""
        if not request.user.has_perm("accounts.listen_audio"):
            raise PermissionDenied
        return audio_file_response(get_object_or_404(Generation, pk=pk))

    @admin.display(description="audio")
    def listen(self, obj):
        if not obj.audio:
            return "—"
        url = reverse("admin:synthesis_generation_audio", args=[obj.pk])
        return format_html('<audio controls preload="none" src="{}"></audio>', url)

    @admin.display(description="audio")
    def audio_hidden(self, obj):
        return "hidden: needs the “Can listen to stored generation audio” permission"


@admin.register(SavedVoice)
class SavedVoiceAdmin(admin.ModelAdmin):
    """Organizations' saved voices, read-only (they change through the API and the studio, which check the blend).
    The preview file is left out: media is never served publicly."""

    list_display = ("name", "public_id", "organization", "spec", "language", "created_by", "created_at")
    list_filter = ("language",)
    search_fields = ("name", "public_id", "organization__name", "spec")
    list_select_related = ("organization", "created_by")
    fields = ("public_id", "organization", "name", "description", "spec", "language", "preview_text", "created_by",
              "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

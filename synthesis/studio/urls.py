"""The signed-in dashboard under /studio/: studio, history, jobs, API keys, usage, plan."""

from django.urls import path

from accounts import views_keys, views_plans
from synthesis.studio import (
    dictionary_views as views_dictionaries,
    jobs_views as views_studio_jobs,
    projects_views as views_projects,
    views as views_studio,
    voices_views as views_studio_voices,
)

app_name = "studio"

urlpatterns = [
    path("", views_studio.studio, name="studio"),
    path("history/", views_studio.history, name="history"),
    path("history/<uuid:pk>/audio", views_studio.history_audio, name="history_audio"),
    path("history/<uuid:pk>/delete", views_studio.history_delete, name="history_delete"),
    path("jobs/", views_studio_jobs.jobs_page, name="jobs"),
    path("jobs/<uuid:pk>/cancel", views_studio_jobs.job_cancel, name="job_cancel"),
    path("jobs/<uuid:pk>/audio", views_studio_jobs.job_audio, name="job_audio"),
    path("jobs/<uuid:pk>/chapters/<int:index>/audio", views_studio_jobs.job_chapter_audio, name="job_chapter_audio"),
    path("jobs/<uuid:pk>/timing", views_studio_jobs.job_timing, name="job_timing"),
    path("jobs/webhook", views_studio_jobs.webhook_save, name="webhook_save"),
    path("jobs/webhook/rotate", views_studio_jobs.webhook_rotate, name="webhook_rotate"),
    path("jobs/webhook/delete", views_studio_jobs.webhook_delete, name="webhook_delete"),
    path("projects/", views_projects.projects_page, name="projects"),
    path("projects/<uuid:project_id>/", views_projects.project_page, name="project"),
    path("projects/<uuid:project_id>/settings", views_projects.project_settings, name="project_settings"),
    path("projects/<uuid:project_id>/append", views_projects.project_append, name="project_append"),
    path("projects/<uuid:project_id>/render", views_projects.project_render, name="project_render"),
    path("projects/<uuid:project_id>/delete", views_projects.project_delete, name="project_delete"),
    path("projects/<uuid:project_id>/export.mp3", views_projects.project_export, {"kind": "mp3"}, name="project_export_mp3"),
    path("projects/<uuid:project_id>/export.wav", views_projects.project_export, {"kind": "wav"}, name="project_export_wav"),
    path("projects/<uuid:project_id>/export.zip", views_projects.project_export, {"kind": "zip"}, name="project_export_zip"),
    path(
        "projects/<uuid:project_id>/export-wav.zip", views_projects.project_export, {"kind": "zip-wav"},
        name="project_export_zip_wav",
    ),
    path(
        "projects/<uuid:project_id>/paragraphs/<int:paragraph_id>/edit", views_projects.paragraph_edit,
        name="paragraph_edit",
    ),
    path(
        "projects/<uuid:project_id>/paragraphs/<int:paragraph_id>/render", views_projects.paragraph_render,
        name="paragraph_render",
    ),
    path(
        "projects/<uuid:project_id>/paragraphs/<int:paragraph_id>/delete", views_projects.paragraph_delete,
        name="paragraph_delete",
    ),
    path(
        "projects/<uuid:project_id>/paragraphs/<int:paragraph_id>/audio", views_projects.paragraph_audio,
        name="paragraph_audio",
    ),
    path("voices/", views_studio_voices.voices_page, name="voices"),
    path("voices/<str:saved_voice_id>/preview", views_studio_voices.voice_preview, name="voice_preview"),
    path("voices/<str:saved_voice_id>/delete", views_studio_voices.voice_delete, name="voice_delete"),
    path("dictionaries/", views_dictionaries.dictionaries, name="dictionaries"),
    path("dictionaries/<str:pronunciation_dictionary_id>/", views_dictionaries.dictionary, name="dictionary"),
    path(
        "dictionaries/<str:pronunciation_dictionary_id>/remove",
        views_dictionaries.dictionary_remove_rule,
        name="dictionary_remove_rule",
    ),
    path(
        "dictionaries/<str:pronunciation_dictionary_id>/download",
        views_dictionaries.dictionary_download,
        name="dictionary_download",
    ),
    path("keys/", views_keys.keys, name="keys"),
    path("keys/<int:pk>/revoke", views_keys.key_revoke, name="key_revoke"),
    path("usage/", views_studio.usage, name="usage"),
    path("plan/", views_plans.plan, name="plan"),
    path("plan/requests/<int:pk>/cancel", views_plans.upgrade_cancel, name="plan_cancel"),
]

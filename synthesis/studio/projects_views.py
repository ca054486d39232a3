"""
The studio's Projects: long documents as chapters of paragraphs, each paragraph with its own voice,
rendered through the jobs engine, re-rendered one at a time, played from any paragraph, exported
with chapter marks. The work is synthesis.services.projects; these views are its thin front.

Every object is fetched through the session's active organization: another organization's project
(or a paragraph of it) is a 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import UsageRecord
from synthesis.engine.core import MAX_SPEED, MIN_SPEED
from synthesis.jobs.documents import SUPPORTED, DocumentError, chapters_from_input, chapters_from_text
from synthesis.models import Project, ProjectParagraph
from synthesis.services import projects as service
from synthesis.services.session import Refused
from synthesis.studio.jobs_views import clock
from synthesis.studio.pages import DEFAULT_VOICE, studio_page, voices_with_saved

PROJECTS_PAGE_SIZE = 50


def _voice_choices(voices):
    return [(v.id, f"{v.name} ({v.language_name} · {v.gender})") for v in voices]


class ProjectForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Optional: the first heading is used otherwise.")
    text = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Blank lines separate paragraphs; lines such as “# The Storm” or “Chapter 3” start chapters. "
        "Leave empty (and upload nothing) for an empty project.",
    )
    file = forms.FileField(
        required=False,
        help_text="Or import a .txt, .md or .epub document.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SUPPORTED)}),
    )
    voice = forms.ChoiceField(help_text="Every paragraph's voice unless you pick another for it.")
    speed = forms.FloatField(
        min_value=MIN_SPEED,
        max_value=MAX_SPEED,
        initial=1.0,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": MIN_SPEED, "max": MAX_SPEED}),
    )

    def __init__(self, *args, voices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"].choices = _voice_choices(voices)
        ids = {v.id for v in voices}
        self.fields["voice"].initial = DEFAULT_VOICE if DEFAULT_VOICE in ids else (voices[0].id if voices else "")

    def clean(self):
        data = super().clean()
        if data.get("file") is not None and (data.get("text") or "").strip():
            raise forms.ValidationError("Type a text or upload a file, not both.", code="text_or_file")
        return data


class SettingsForm(forms.Form):
    title = forms.CharField(max_length=200)
    voice = forms.ChoiceField()
    speed = forms.FloatField(
        min_value=MIN_SPEED,
        max_value=MAX_SPEED,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": MIN_SPEED, "max": MAX_SPEED}),
    )

    def __init__(self, *args, voices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"].choices = _voice_choices(voices)


class ParagraphForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    voice = forms.ChoiceField(required=False)

    def __init__(self, *args, voices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"].choices = [("", "Project voice")] + _voice_choices(voices)


class AppendForm(forms.Form):
    text = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Added at the end: blank lines separate paragraphs, a heading starts a new chapter.",
    )


def _project(membership, project_id) -> Project:
    return get_object_or_404(membership.organization.projects, pk=project_id)


def _paragraph(project, paragraph_id) -> ProjectParagraph:
    return get_object_or_404(
        ProjectParagraph.objects.select_related("chapter"), chapter__project=project, pk=paragraph_id
    )


def _error_page(request, membership, project, error: service.ProjectError | Refused):
    """The project page with the refusal on top: its status, its code and its message."""
    return _project_page(request, membership, project, status=error.status, error=error)


# -- the list ----------------------------------------------------------------------------------


def _list(request, membership, form=None, status=200):
    organization = membership.organization
    voices = voices_with_saved(organization)
    projects = organization.projects.all()[:PROJECTS_PAGE_SIZE]
    context = {
        "organization": organization,
        "projects": projects,
        "form": form or ProjectForm(voices=voices),
    }
    return render(request, "studio/projects.html", context, status=status)


@studio_page
@require_http_methods(["GET", "POST"])
def projects_page(request, membership):
    """GET: the organization's projects and the form. POST: a new project (empty, typed or imported)."""
    if request.method == "GET":
        return _list(request, membership)
    organization = membership.organization
    form = ProjectForm(request.POST, request.FILES, voices=voices_with_saved(organization))
    if not form.is_valid():
        return _list(request, membership, form, status=400)
    data = form.cleaned_data
    upload = data["file"]
    try:
        chapters = chapters_from_input(data["text"], upload) if (upload or data["text"].strip()) else []
        project = service.project_create(
            organization=organization,
            title=data["title"],
            voice=data["voice"],
            speed=data["speed"],
            chapters=chapters,
            per_line=bool(upload and upload.name.lower().endswith(".epub")),
            user=request.user,
        )
    except (DocumentError, service.ProjectError) as error:
        form.add_error("file" if upload is not None else "text", forms.ValidationError(str(error), code=error.code))
        return _list(request, membership, form, status=400)
    messages.success(request, f"“{project.title}” was created.")
    return redirect("studio:project", project_id=project.pk)


# -- one project --------------------------------------------------------------------------------


def _project_page(request, membership, project, *, status=200, error=None, settings_form=None, append_form=None):
    organization = membership.organization
    voices = voices_with_saved(organization)
    names = {v.id: v.name for v in voices}
    service.project_sync(project)
    chapters, current, totals = [], None, {"rendered": 0, "stale": 0, "new": 0, "rendering": 0, "failed": 0}
    seconds = 0.0
    for paragraph in service.paragraphs_in_order(project):
        if current is None or current["chapter"].pk != paragraph.chapter_id:
            current = {"chapter": paragraph.chapter, "paragraphs": []}
            chapters.append(current)
        paragraph.status = service.status_of(paragraph, project)
        paragraph.voice_name = names.get(service.voice_of(paragraph, project), service.voice_of(paragraph, project))
        paragraph.form = ParagraphForm(
            initial={"text": paragraph.text, "voice": paragraph.voice}, voices=voices, prefix=f"p{paragraph.pk}"
        )
        paragraph.duration = clock(paragraph.audio_seconds) if paragraph.rendering_id else ""
        totals[paragraph.status] += 1
        seconds += paragraph.audio_seconds if paragraph.rendering_id else 0
        current["paragraphs"].append(paragraph)
    context = {
        "organization": organization,
        "project": project,
        "chapters": chapters,
        "totals": totals,
        "count": sum(totals.values()),
        "duration": clock(seconds),
        "to_render": totals["new"] + totals["stale"] + totals["failed"],
        "exportable": totals["rendered"] == sum(totals.values()) and totals["rendered"] > 0,
        "error": error,
        "settings_form": settings_form
        or SettingsForm(
            initial={"title": project.title, "voice": project.voice, "speed": project.speed}, voices=voices
        ),
        "append_form": append_form or AppendForm(),
        "voice_name": names.get(project.voice, project.voice),
    }
    response = render(request, "studio/project.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@studio_page
@require_http_methods(["GET"])
def project_page(request, membership, project_id):
    return _project_page(request, membership, _project(membership, project_id))


@studio_page
@require_POST
def project_settings(request, membership, project_id):
    """Title, default voice, speed. A new voice or speed makes the paragraphs that use them stale."""
    project = _project(membership, project_id)
    form = SettingsForm(request.POST, voices=voices_with_saved(membership.organization))
    if not form.is_valid():
        return _project_page(request, membership, project, status=400, settings_form=form)
    project.title, project.voice, project.speed = (
        form.cleaned_data["title"],
        form.cleaned_data["voice"],
        form.cleaned_data["speed"],
    )
    project.save(update_fields=["title", "voice", "speed", "updated_at"])
    messages.success(request, "The project settings were saved.")
    return redirect("studio:project", project_id=project.pk)


@studio_page
@require_POST
def project_append(request, membership, project_id):
    project = _project(membership, project_id)
    form = AppendForm(request.POST)
    if not form.is_valid():
        return _project_page(request, membership, project, status=400, append_form=form)
    try:
        added = service.project_append(project=project, chapters=chapters_from_text(form.cleaned_data["text"]))
    except service.ProjectError as error:
        form.add_error("text", forms.ValidationError(error.message, code=error.code))
        return _project_page(request, membership, project, status=error.status, append_form=form)
    if not added:
        form.add_error("text", forms.ValidationError("There is no text to add.", code="empty_text"))
        return _project_page(request, membership, project, status=400, append_form=form)
    messages.success(request, f"{added} paragraph{'s' if added != 1 else ''} added.")
    return redirect("studio:project", project_id=project.pk)


@studio_page
@require_POST
def project_delete(request, membership, project_id):
    """Delete the project (the jobs that rendered it stay in Jobs: they are what was charged)."""
    project = _project(membership, project_id)
    project.delete()
    messages.success(request, f"“{project.title}” was deleted.")
    return redirect("studio:projects")


def _render(request, membership, project, paragraphs=None):
    try:
        rendered = service.project_render(
            project=project, paragraphs=paragraphs, user=request.user, source=UsageRecord.Source.STUDIO
        )
    except (Refused, service.ProjectError) as error:
        return _error_page(request, membership, project, error)
    if not rendered.paragraphs:
        messages.info(request, "Every paragraph is already rendered and up to date.")
    else:
        messages.success(
            request,
            f"Rendering {rendered.paragraphs} paragraph{'s' if rendered.paragraphs != 1 else ''} "
            f"({rendered.characters:,} characters, charged as the audio is made).",
        )
    return redirect("studio:project", project_id=project.pk)


@studio_page
@require_POST
def project_render(request, membership, project_id):
    """Render every paragraph that is new, stale or failed."""
    return _render(request, membership, _project(membership, project_id))


@studio_page
@require_POST
def paragraph_render(request, membership, project_id, paragraph_id):
    """Render this paragraph again (only it is charged), whatever its state."""
    project = _project(membership, project_id)
    paragraph = _paragraph(project, paragraph_id)
    return _render(request, membership, project, [paragraph])


@studio_page
@require_POST
def paragraph_edit(request, membership, project_id, paragraph_id):
    project = _project(membership, project_id)
    paragraph = _paragraph(project, paragraph_id)
    form = ParagraphForm(request.POST, voices=voices_with_saved(membership.organization), prefix=f"p{paragraph.pk}")
    if not form.is_valid():
        message = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return _error_page(request, membership, project, service.ProjectError("invalid_paragraph", 400, message))
    try:
        service.paragraph_edit(
            project=project, paragraph=paragraph, text=form.cleaned_data["text"], voice=form.cleaned_data["voice"]
        )
    except service.ProjectError as error:
        return _error_page(request, membership, project, error)
    messages.success(request, "The paragraph was saved. Render it to hear the change.")
    return redirect(reverse("studio:project", kwargs={"project_id": project.pk}) + f"#paragraph-{paragraph.pk}")


@studio_page
@require_POST
def paragraph_delete(request, membership, project_id, paragraph_id):
    project = _project(membership, project_id)
    _paragraph(project, paragraph_id).delete()
    messages.success(request, "The paragraph was deleted.")
    return redirect("studio:project", project_id=project.pk)


@studio_page
@require_http_methods(["GET"])
def paragraph_audio(request, membership, project_id, paragraph_id):
    """The paragraph's rendered audio (WAV), for the player."""
    project = _project(membership, project_id)
    paragraph = _paragraph(project, paragraph_id)
    if not paragraph.rendering_id or not paragraph.rendering.audio:
        raise Http404("This paragraph has no audio yet.")
    try:
        handle = paragraph.rendering.audio.open("rb")
    except FileNotFoundError:
        raise Http404("This audio is no longer kept.") from None
    # A download like every stored file (the <audio> element plays it all the same), kept by no cache.
    response = FileResponse(
        handle, content_type="audio/wav", as_attachment=True, filename=f"paragraph-{paragraph.pk}.wav"
    )
    response["Cache-Control"] = "private, no-store"
    return response


@studio_page
@require_http_methods(["GET"])
def project_export(request, membership, project_id, kind):
    """The whole project as MP3 or WAV (ID3 chapter marks), or a ZIP of chapter files with the timing file."""
    project = _project(membership, project_id)
    try:
        export = service.project_export(project=project, kind=kind)
    except service.ProjectError as error:
        return _error_page(request, membership, project, error)
    response = FileResponse(export.file, content_type=export.content_type, as_attachment=True, filename=export.filename)
    response["Cache-Control"] = "private, no-store"
    return response

"""
The studio's Jobs page: long-form jobs with live progress, a form to start one,
their result files, and the organization's webhook with its delivery log.

Everything here is a thin front on the services the API uses (synthesis.jobs.service,
synthesis.jobs.webhooks) and on the API's own steps where they are not services
(reading an upload into chapters, translating service errors into messages,
reading a result file from storage), so a job started here is the same job
POST /api/v1/jobs starts, with source "studio".

Progress arrives in the browser over the studio's websocket (/ws/tts/, the
`job` events of synthesis.studio.consumers); jobs.js falls back to re-fetching the
list every 10 s when no socket can be had. Every object is fetched through the
session's active organization: another organization's job is a 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Organization, UsageRecord
from synthesis.api.common import stored_file_response
from synthesis.audio import UnknownFormat, parse_format
from synthesis.engine.core import MAX_SPEED, MIN_SPEED
from synthesis.jobs import service as jobs, webhooks
from synthesis.jobs.documents import SUPPORTED, DocumentError, chapters_from_input
from synthesis.models import Job, JobChapter, WebhookEndpoint
from synthesis.services.session import Refused
from synthesis.studio.pages import DEFAULT_VOICE, studio_page, voices_with_saved

JOBS_PAGE_SIZE = 20
DELIVERY_LOG_SIZE = 50
LIST_TARGET = "jobs-list"  # the element jobs.js refreshes (HX-Target of its fetch)


# -- forms ---------------------------------------------------------------------------------


class JobForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Optional: the first heading or line is used otherwise.")
    text = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Lines such as “# The Storm” or “Chapter 3” start chapters. For a whole book, upload the file below.",
    )
    file = forms.FileField(
        required=False, help_text="Or upload a .txt, .md or .epub document instead of typing.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SUPPORTED)}),
    )
    voice = forms.ChoiceField()
    format = forms.ChoiceField()
    speed = forms.FloatField(
        min_value=MIN_SPEED, max_value=MAX_SPEED, initial=1.0,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": MIN_SPEED, "max": MAX_SPEED}),
    )
    dictionary = forms.ChoiceField(
        required=False, label="Pronunciation", help_text="A pronunciation dictionary: its current version is kept for the whole job.",
    )

    def __init__(self, *args, voices, formats, dictionaries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dictionary"].choices = [("", "No dictionary")] + [(d.pk, d.name) for d in dictionaries]
        self.fields["voice"].choices = [(v.id, f"{v.name} ({v.language_name} · {v.gender})") for v in voices]
        ids = {v.id for v in voices}
        self.fields["voice"].initial = DEFAULT_VOICE if DEFAULT_VOICE in ids else (voices[0].id if voices else "")
        self.fields["format"].choices = [(f, f.upper()) for f in formats]
        self.fields["format"].initial = "mp3" if "mp3" in formats else (formats[0] if formats else "")
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}_help"

    def clean(self):
        data = super().clean()
        if data.get("file") is not None and (data.get("text") or "").strip():
            raise forms.ValidationError("Type a text or upload a file, not both.", code="text_or_file")
        if data.get("file") is None and not (data.get("text") or "").strip():
            self.add_error("text", forms.ValidationError("Type a text to read, or upload a file.", code="empty_text"))
        return data

    @property
    def source_field(self) -> str:
        """The field a problem with the words themselves (too long, empty, unreadable) belongs to."""
        return "file" if self.cleaned_data.get("file") is not None else "text"


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Webhook URL", max_length=500, assume_scheme="https",
        help_text="Voicehub POSTs job.succeeded, job.failed and job.cancelled here, signed with the secret.",
    )


# Which form field a service error is shown next to (the rest go above the form).
ERROR_FIELDS = {
    "voice_not_found": "voice", "format_not_allowed": "format", "invalid_speed": "speed",
    "pronunciation_dictionary_not_found": "dictionary",
}


# -- a service the webhook API does inline -------------------------------------------------------


def webhook_remove(*, organization: Organization) -> bool:
    """Remove the organization's webhook (DELETE /api/v1/webhook does the same); False if there was none.

    The delivery log stays: it is the record of what was sent.
    """
    deleted, _ = WebhookEndpoint.objects.filter(organization=organization).delete()
    return bool(deleted)


# -- the page ---------------------------------------------------------------------------------


def eta_text(seconds: float | None) -> str:
    """A person's reading of jobs.eta_seconds (jobs.js formats the live figures the same way)."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 10:
        return "almost done"
    if seconds < 60:
        return f"about {seconds} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


def clock(seconds: float) -> str:
    """1:02:03 or 4:05: how long a recording is."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _jobs_page(request, organization, voices):
    chapters = JobChapter.objects.only("id", "job_id", "index", "title", "audio", "audio_seconds").order_by("index")
    queryset = organization.jobs.select_related("user").prefetch_related(Prefetch("chapters", queryset=chapters))
    page = Paginator(queryset, JOBS_PAGE_SIZE).get_page(request.GET.get("page"))
    names = {v.id: v.name for v in voices}
    alive = jobs.workers_alive() if any(not job.is_final for job in page.object_list) else True
    for job in page.object_list:
        job.notice = jobs.job_notice(job, alive=alive)
        job.eta_text = eta_text(jobs.eta_seconds(job))
        job.voice_name = names.get(job.voice, job.voice)  # a mix such as "af_bella(2)+af_sky(1)" stays as typed
        if job.status == Job.Status.SUCCEEDED:
            job.duration = clock(job.audio_seconds)
            for chapter in job.chapters.all():
                chapter.duration = clock(chapter.audio_seconds)
    return page


def _render(request, membership, *, job_form=None, webhook_form=None, secret=None, status=200):
    organization = membership.organization
    voices = voices_with_saved(organization)
    page = _jobs_page(request, organization, voices)
    context = {"organization": organization, "page": page, "list_target": LIST_TARGET}
    if request.htmx and request.htmx.target == LIST_TARGET:
        return render(request, "studio/_jobs_list.html", context)
    endpoint = WebhookEndpoint.objects.filter(organization=organization).first()
    context.update(
        membership=membership,
        plan=organization.plan,
        long_form_limit=jobs.long_form_limit(organization),
        job_form=job_form or JobForm(voices=voices, formats=organization.plan.allowed_formats, dictionaries=_dictionaries(organization)),
        webhook=endpoint,
        webhook_form=webhook_form or WebhookForm(initial={"url": endpoint.url if endpoint else ""}),
        secret=secret,
        deliveries=organization.webhook_deliveries.select_related("job").defer("payload", "job__error_detail")[:DELIVERY_LOG_SIZE],
    )
    response = render(request, "studio/jobs.html", context, status=status)
    # A page that may show the webhook secret must not be kept by the browser or any proxy.
    response["Cache-Control"] = "private, no-store"
    return response


@studio_page
@require_http_methods(["GET", "POST"])
def jobs_page(request, membership):
    """GET: the jobs, the form and the webhook. POST: start a job from the form."""
    if request.method == "GET":
        return _render(request, membership)
    organization = membership.organization
    voices = voices_with_saved(organization)
    form = JobForm(
        request.POST, request.FILES, voices=voices, formats=organization.plan.allowed_formats,
        dictionaries=_dictionaries(organization),
    )
    job = form.is_valid() and _create(request, organization, form)
    if not job:
        return _render(request, membership, job_form=form, status=400)
    chapters = job.chapters.count()
    queued = f"“{job.title}” is queued ({job.characters:,} characters, {chapters} chapter{'s' if chapters != 1 else ''})."
    # Tagged with the job, so jobs.js can replace this notice when the job ends (the page is not reloaded then).
    tags = f"job-notice job-notice-{job.id}"
    if jobs.workers_alive():
        messages.success(request, queued, extra_tags=tags)
    else:
        messages.warning(request, f"{queued} No job worker is running, so it will wait until one starts.", extra_tags=tags)
    return redirect("studio:jobs")


def _dictionaries(organization):
    return organization.pronunciation_dictionaries.filter(archived_at__isnull=True).order_by("name")


def _create(request, organization, form) -> Job | None:
    """Start the job, or put the service's reason on the form and return None."""
    data = form.cleaned_data
    try:
        # The API's own reading of an upload or a text (size, type, unreadable, empty).
        chapters = chapters_from_input(data["text"], data["file"])
        locators = [{"pronunciation_dictionary_id": data["dictionary"]}] if data["dictionary"] else None
        return jobs.job_create(
            organization=organization, chapters=chapters, voice_id=data["voice"], fmt=parse_format(data["format"]),
            speed=data["speed"], title=data["title"], user=request.user, source=UsageRecord.Source.STUDIO,
            pronunciation_dictionary_locators=locators,
        )
    except DocumentError as error:
        form.add_error(form.source_field, str(error))
    except UnknownFormat as error:
        form.add_error("format", str(error))
    except Refused as error:
        # The same message the API would give for it, next to the field it is about.
        form.add_error(ERROR_FIELDS.get(error.code, form.source_field if error.status == 400 else None), error.message)
    return None


# -- one job: cancel and result files ---------------------------------------------------------------


@studio_page
@require_POST
def job_cancel(request, membership, pk):
    """Cancel a queued or running job (confirmed in the page); what was produced stays charged, the rest never is."""
    job = get_object_or_404(membership.organization.jobs, pk=pk)
    try:
        jobs.job_cancel(job=job)
    except jobs.JobNotCancellable as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"“{job.title}” was cancelled. Only the chunks already produced are charged.")
    return redirect("studio:jobs")


def _result(field, filename: str, content_type: str):
    """The API's file response (storage, attachment, no-store), with "not there" as a page 404."""
    if not field:
        raise Http404("This job has no result yet.")
    try:
        return stored_file_response(field, filename, content_type)
    except FileNotFoundError:
        raise Http404("This file is no longer kept.") from None


def _extension(job: Job) -> str:
    return parse_format(job.output_format).extension


@studio_page
@require_http_methods(["GET"])
def job_audio(request, membership, pk):
    job = get_object_or_404(membership.organization.jobs, pk=pk)
    return _result(job.audio, f"voicehub-{job.id}.{_extension(job)}", job.content_type)


@studio_page
@require_http_methods(["GET"])
def job_chapter_audio(request, membership, pk, index):
    job = get_object_or_404(membership.organization.jobs, pk=pk)
    chapter = get_object_or_404(job.chapters, index=index)
    return _result(chapter.audio, f"voicehub-{job.id}-chapter-{index + 1}.{_extension(job)}", job.content_type)


@studio_page
@require_http_methods(["GET"])
def job_timing(request, membership, pk):
    job = get_object_or_404(membership.organization.jobs, pk=pk)
    return _result(job.timing, f"voicehub-{job.id}-timing.json", "application/json")


# -- the webhook (owners and admins) -------------------------------------------------------------------


def _managing(membership):
    if not membership.can_manage:
        raise PermissionDenied("Only owners and admins can change the webhook.")
    return membership.organization


@studio_page
@require_POST
def webhook_save(request, membership):
    """Set or replace the URL. A new webhook's secret is shown on the answer, once."""
    organization = _managing(membership)
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _render(request, membership, webhook_form=form, status=400)
    with transaction.atomic():
        is_new = not WebhookEndpoint.objects.filter(organization=organization).exists()
        try:
            endpoint = webhooks.webhook_set(organization=organization, url=form.cleaned_data["url"])
        except webhooks.WebhookURLInvalid as error:
            form.add_error("url", str(error))
            return _render(request, membership, webhook_form=form, status=400)
    if is_new:
        return _render(request, membership, secret=endpoint.secret)
    messages.success(request, "The webhook URL was saved; its secret is unchanged.")
    return redirect(reverse("studio:jobs") + "#webhook-heading")


@studio_page
@require_POST
def webhook_rotate(request, membership):
    """A new secret, shown once; the old one stops signing at once."""
    organization = _managing(membership)
    endpoint = get_object_or_404(WebhookEndpoint, organization=organization)
    endpoint = webhooks.webhook_rotate_secret(endpoint=endpoint)
    return _render(request, membership, secret=endpoint.secret)


@studio_page
@require_POST
def webhook_delete(request, membership):
    organization = _managing(membership)
    if not webhook_remove(organization=organization):
        raise Http404("No webhook is set for your organization.")
    messages.success(request, "The webhook was removed: no more job events will be sent.")
    return redirect(reverse("studio:jobs") + "#webhook-heading")

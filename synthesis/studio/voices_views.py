"""
The studio's Voices page: the organization's saved voices (named blends of catalog voices), a form to make
one (2-5 voices of one language, each with a weight), each one's preview, and deleting one.

A thin front on synthesis.services.saved_voices, the same functions POST /api/v1/voices/saved calls: a voice
made here is the one every door takes, and its preview is charged as a studio request. No JavaScript: the
form posts, the page answers with the voice saved or with what was wrong.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import UsageRecord
from synthesis.api.common import saved_voice_preview_response
from synthesis.engine.voices import MAX_MIX_PARTS
from synthesis.services.saved_voices import PREVIEW_MAX_CHARACTERS, saved_voice_create, saved_voice_delete
from synthesis.services.session import Caller, Refused
from synthesis.services.voices import saved_voice, saved_voices_of
from synthesis.studio.pages import studio_page, voice_catalog

WEIGHTS = [(w, str(w)) for w in range(1, 11)]


class SavedVoiceForm(forms.Form):
    """Name, description, preview text, and MAX_MIX_PARTS rows of (voice, weight); empty rows are left out."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    preview_text = forms.CharField(
        max_length=PREVIEW_MAX_CHARACTERS,
        required=False,
        help_text="What the preview says (charged like any request). Empty: a sentence in the voices' language.",
    )

    def __init__(self, *args, voices, **kwargs):
        super().__init__(*args, **kwargs)
        groups: dict[str, list] = {}
        for voice in voices:
            groups.setdefault(voice.language_name, []).append(
                (voice.id, f"{voice.name} ({voice.accent} · {voice.gender})")
            )
        choices = [("", "—")] + list(groups.items())
        for index in range(MAX_MIX_PARTS):
            self.fields[f"voice_{index}"] = forms.ChoiceField(
                choices=choices, required=False, label=f"Voice {index + 1}"
            )
            self.fields[f"weight_{index}"] = forms.TypedChoiceField(
                choices=WEIGHTS, coerce=int, initial=1, required=False, label=f"Weight of voice {index + 1}"
            )

    @property
    def rows(self):
        return [(self[f"voice_{i}"], self[f"weight_{i}"]) for i in range(MAX_MIX_PARTS)]

    def spec(self) -> str:
        """The blend the rows spell: "af_bella(2)+af_sky(1)" (the service checks it is one)."""
        parts = []
        for index in range(MAX_MIX_PARTS):
            voice = self.cleaned_data.get(f"voice_{index}")
            if voice:
                parts.append(f"{voice}({self.cleaned_data.get(f'weight_{index}') or 1})")
        return "+".join(parts)


@studio_page
@require_http_methods(["GET", "POST"])
def voices_page(request, membership):
    organization = membership.organization
    form = SavedVoiceForm(request.POST or None, voices=voice_catalog())
    if request.method == "POST" and form.is_valid():
        try:
            voice = saved_voice_create(
                caller=Caller(organization=organization, user=request.user, source=UsageRecord.Source.STUDIO),
                name=form.cleaned_data["name"],
                spec=form.spec(),
                description=form.cleaned_data["description"],
                preview_text=form.cleaned_data["preview_text"],
            )
        except Refused as refused:
            form.add_error(None, refused.message)
        else:
            messages.success(
                request, f"“{voice.name}” is saved: pick it in the studio, or use {voice.public_id} as the voice."
            )
            return redirect("studio:voices")
    status = 400 if request.method == "POST" else 200
    context = {"organization": organization, "form": form, "saved_voices": saved_voices_of(organization)}
    return render(request, "studio/voices.html", context, status=status)


def _saved_voice(membership, saved_voice_id):
    voice = saved_voice(membership.organization, saved_voice_id)
    if voice is None:  # another organization's is as missing as an unknown one
        raise Http404("No such voice in this organization.")
    return voice


@studio_page
@require_GET
def voice_preview(request, membership, saved_voice_id):
    return saved_voice_preview_response(_saved_voice(membership, saved_voice_id))


@studio_page
@require_POST
def voice_delete(request, membership, saved_voice_id):
    voice = _saved_voice(membership, saved_voice_id)
    saved_voice_delete(voice=voice)
    messages.success(request, f"“{voice.name}” was deleted. History keeps its id; new requests naming it are refused.")
    return redirect("studio:voices")

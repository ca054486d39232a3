"""What every studio page shares: who it acts for, and the voices a person may pick."""

from __future__ import annotations

from functools import wraps
from types import SimpleNamespace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from accounts.tenancy import active_membership
from synthesis.services.voices import available_voices, saved_voices_of

DEFAULT_VOICE = "af_heart"


def studio_page(view):
    """Login required, and a membership to act through; the view gets it as its second argument."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        membership = active_membership(request)
        if membership is None:
            messages.info(request, "You are not a member of any organization.")
            return redirect("accounts:organizations")
        return view(request, membership, *args, **kwargs)

    return wrapper


def voice_catalog():
    """The voices a person may pick: the available catalog voices, English first."""
    # American English first (the default voice's), then the other languages.
    return sorted(available_voices(), key=lambda v: (v.language != "en-us", not v.is_english, v.language_name, v.name))


def voices_with_saved(organization):
    """voice_catalog(), then the organization's saved voices, each with the catalog voices' id, name,
    language_name, accent and gender (a job's form offers both)."""
    catalog = voice_catalog()
    names = {v.language: v.language_name for v in catalog}
    saved = [
        SimpleNamespace(id=v.public_id, name=v.name, language_name=names.get(v.language, v.language), accent="Saved",
                        gender="saved voice")
        for v in saved_voices_of(organization)
    ]
    return catalog + saved

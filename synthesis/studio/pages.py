"""What every studio page shares: who it acts for, and the voices a person may pick."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from accounts.tenancy import active_membership
from synthesis.services.voices import available_voices

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

"""The API keys page: create (the secret shown once), list, revoke.

Members see and revoke their own keys; owners and admins every key of the
organization. The rule itself lives in services.api_key_revoke.
"""

from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_http_methods

from synthesis.studio.pages import studio_page

from . import services
from .models import ApiKey
from .services import OrganizationError


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text=gettext_lazy("So you know where it is used, e.g. “website backend”."))
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, initial=ApiKey.Scope.values, widget=forms.CheckboxSelectMultiple
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Optional: the key stops working after this day."),
    )
    monthly_character_cap = forms.IntegerField(
        required=False,
        min_value=1,
        help_text=gettext_lazy("Optional: the most characters this key may spend per billing period."),
    )

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.now().date():
            raise forms.ValidationError(_("Choose today or a later day."))
        return day


def _visible_keys(membership):
    keys = membership.organization.api_keys.select_related("created_by").order_by("revoked_at", "-created_at")
    return keys if membership.can_manage else keys.filter(created_by=membership.user)


# The new key's secret waits here, in the server-side session, for the one GET after the POST that made it.
NEW_KEY_SESSION = "accounts.new_api_key"


@studio_page
@require_http_methods(["GET", "POST"])
def keys(request, membership):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires = data["expires_on"]
        created = services.api_key_create(
            organization=membership.organization,
            created_by=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=datetime.combine(expires, time.max, tzinfo=timezone.get_current_timezone()) if expires else None,
            monthly_character_cap=data["monthly_character_cap"],
        )
        # POST/redirect/GET: a refresh of the page with the secret must not create a second key. The secret
        # is shown by the next GET and then dropped; it never goes into a URL (logs, history, Referer).
        request.session[NEW_KEY_SESSION] = {"pk": created.key.pk, "secret": created.secret}
        return redirect("studio:keys")
    created = None
    if request.method == "GET":
        shown = request.session.pop(NEW_KEY_SESSION, None)
        key = shown and _visible_keys(membership).filter(pk=shown["pk"]).first()
        if key:  # a key of the organization the page is now about (not one switched away from)
            created = {"key": key, "secret": shown["secret"]}
    response = render(
        request,
        "accounts/keys.html",
        {"membership": membership, "organization": membership.organization, "keys": _visible_keys(membership),
         "form": form, "created": created, "now": timezone.now()},
        status=400 if request.method == "POST" else 200,
    )
    # The page with the secret must not be kept by the browser or any proxy.
    response["Cache-Control"] = "private, no-store"
    return response


@studio_page
@require_http_methods(["GET", "POST"])
def key_revoke(request, membership, pk):
    key = get_object_or_404(_visible_keys(membership).filter(revoked_at__isnull=True), pk=pk)
    if request.method == "GET":
        template = "accounts/_keys_revoke.html" if request.htmx else "accounts/keys_revoke.html"
        return render(request, template, {"key": key})
    try:
        services.api_key_revoke(key=key, actor=membership)
    except OrganizationError as error:
        messages.error(request, error.message)
        return redirect("studio:keys")
    messages.success(
        request, _("The key “%(name)s” (%(masked)s) was revoked; it no longer works.") % {"name": key.name, "masked": key.masked}
    )
    return redirect("studio:keys")

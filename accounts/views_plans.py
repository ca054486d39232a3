"""The Plan page of the studio: the organization's plan and its limits, and asking for a higher one.

Everyone in the organization sees the plan; owners and admins ask for an upgrade and cancel it
(services.upgrade_request_create / upgrade_request_cancel hold the rule). An upgrade goes through
the billing provider (accounts.billing): an operator's approval by default, or a checkout page.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from synthesis.studio.pages import studio_page

from . import services
from .billing import get_provider
from .models import UpgradeRequest
from .services import OrganizationError


class UpgradeForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=None, to_field_name="slug", empty_label=None)
    note = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Optional: anything the team should know (invoicing details, when you need it)."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = services.upgrade_plans(organization)


def _refused(request, error: OrganizationError):
    if error.code == "forbidden":
        raise PermissionDenied(error.message)
    messages.error(request, error.message)
    return redirect("studio:plan")


@studio_page
@require_http_methods(["GET", "POST"])
def plan(request, membership):
    organization = membership.organization
    form = UpgradeForm(request.POST or None, organization=organization)
    if request.method == "POST":
        if not membership.can_manage:
            raise PermissionDenied(_("Only owners and admins can change the plan."))
        if form.is_valid():
            try:
                started = get_provider().start_upgrade(
                    organization=organization, plan=form.cleaned_data["plan"], user=request.user, note=form.cleaned_data["note"]
                )
            except OrganizationError as error:
                return _refused(request, error)
            if started.checkout_url:
                return redirect(started.checkout_url)
            messages.success(
                request, _("Your request for the %(plan)s plan was sent; we will let you know.") % {"plan": started.request.plan.name}
            )
            return redirect("studio:plan")
    pending = organization.upgrade_requests.filter(status=UpgradeRequest.Status.PENDING).select_related("plan").first()
    return render(
        request,
        "accounts/plan.html",
        {
            "membership": membership,
            "organization": organization,
            "plan": organization.plan,
            "price": f"${organization.plan.price_monthly_cents / 100:,.2f}" if organization.plan.price_monthly_cents else _("Free"),
            "pending": pending,
            "past": organization.upgrade_requests.exclude(status=UpgradeRequest.Status.PENDING).select_related("plan")[:10],
            "form": form,
            "how_it_works": get_provider().how_it_works,
        },
        status=400 if request.method == "POST" else 200,
    )


@studio_page
@require_POST
def upgrade_cancel(request, membership, pk):
    # Looked up in the active organization first: another organization's request is a 404, whatever the role.
    upgrade = get_object_or_404(membership.organization.upgrade_requests, pk=pk)
    try:
        services.upgrade_request_cancel(actor=membership, upgrade=upgrade)
    except OrganizationError as error:
        return _refused(request, error)
    messages.success(request, _("Your request for the %(plan)s plan was cancelled.") % {"plan": upgrade.plan.name})
    return redirect("studio:plan")

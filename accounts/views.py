"""Organization pages: the team, invitations, and switching the active organization.

The tenant of every request is the session's active membership; ids in URLs only
address objects inside it, fetched through it, so another organization's object is a 404.
"""

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .models import Invitation, Membership
from .pending_invitation import invitation_forget, invitation_remember
from .services import OrganizationError
from .tenancy import SESSION_KEY, active_membership

ROLE_ORDER = {Membership.Role.OWNER: 0, Membership.Role.ADMIN: 1, Membership.Role.MEMBER: 2}


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Invitation._meta.get_field("role").choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


def _site_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _form_error(form: forms.Form) -> str:
    return " ".join(f"{name.capitalize()}: {error}" for name, errors in form.errors.items() for error in errors)


def team_action(view):
    """A POST on the active organization's team: errors become a message, never a 500.

    An action the actor's role does not allow is a 403 with the reason, as the studio's webhook
    forms and the API answer it: the team page offers no such form, so only a forged or stale
    request gets here, and the status says it was refused.
    """

    @login_required
    @require_POST
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        membership = active_membership(request)
        if membership is None:
            raise Http404(_("You are not a member of any organization."))
        try:
            return view(request, membership, *args, **kwargs)
        except OrganizationError as error:
            if error.code == "forbidden":
                raise PermissionDenied(error.message) from None
            messages.error(request, error.message)
            return redirect("accounts:team")

    return wrapper


@login_required
def organization_list(request):
    active = active_membership(request)
    memberships = request.user.memberships.select_related("organization").order_by("organization__name", "id")
    return render(request, "accounts/organizations.html", {"memberships": memberships, "active": active})


@login_required
@require_POST
def organization_switch(request):
    # Only the user's own memberships are searched: a slug of any other organization is a 404.
    membership = get_object_or_404(
        request.user.memberships.select_related("organization"), organization__slug=request.POST.get("organization", "")
    )
    request.session[SESSION_KEY] = membership.organization_id
    messages.success(request, _("You are now working in %(organization)s.") % {"organization": membership.organization.name})
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("accounts:organizations")


@login_required
def team(request):
    actor = active_membership(request)
    if actor is None:
        messages.info(request, _("You are not a member of any organization."))
        return redirect("accounts:organizations")
    organization = actor.organization
    is_owner = actor.role == Membership.Role.OWNER
    assignable = Membership.Role.choices if is_owner else [c for c in Membership.Role.choices if c[0] != Membership.Role.OWNER]
    members = sorted(organization.memberships.select_related("user"), key=lambda m: (ROLE_ORDER[m.role], m.created_at, m.pk))
    rows = [
        {"membership": m, "can_edit": actor.can_manage and (is_owner or m.role != Membership.Role.OWNER)}
        for m in members
    ]
    invitations = organization.invitations.pending().select_related("invited_by") if actor.can_manage else []
    return render(
        request,
        "accounts/team.html",
        {
            "actor": actor,
            "organization": organization,
            "rows": rows,
            "assignable_roles": assignable,
            "invitations": invitations,
            "invite_form": InviteForm(),
            "sole_owner": actor.is_sole_owner(),
        },
    )


@team_action
def invite(request, actor):
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("accounts:team")
    invitation, _token = services.invitation_create(
        actor=actor, email=form.cleaned_data["email"], role=form.cleaned_data["role"], site_url=_site_url(request)
    )
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect("accounts:team")


@team_action
def invitation_resend(request, actor, pk):
    invitation = get_object_or_404(actor.organization.invitations, pk=pk)
    services.invitation_resend(actor=actor, invitation=invitation, site_url=_site_url(request))
    messages.success(request, _("Invitation sent again to %(email)s.") % {"email": invitation.email})
    return redirect("accounts:team")


@team_action
def invitation_revoke(request, actor, pk):
    invitation = get_object_or_404(actor.organization.invitations, pk=pk)
    services.invitation_revoke(actor=actor, invitation=invitation)
    messages.success(request, _("The invitation for %(email)s was revoked.") % {"email": invitation.email})
    return redirect("accounts:team")


@team_action
def member_change_role(request, actor, pk):
    membership = get_object_or_404(actor.organization.memberships.select_related("user"), pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("accounts:team")
    membership = services.membership_change_role(actor=actor, membership=membership, role=form.cleaned_data["role"])
    messages.success(
        request, _("%(member)s is now %(role)s.") % {"member": membership.user, "role": membership.get_role_display().lower()}
    )
    return redirect("accounts:team")


@team_action
def member_remove(request, actor, pk):
    membership = get_object_or_404(actor.organization.memberships.select_related("user"), pk=pk)
    services.membership_remove(actor=actor, membership=membership)
    messages.success(
        request, _("%(member)s was removed from %(organization)s.") % {"member": membership.user, "organization": actor.organization.name}
    )
    return redirect("accounts:team")


@team_action
def leave(request, actor):
    services.membership_leave(membership=actor)
    request.session.pop(SESSION_KEY, None)
    messages.success(request, _("You left %(organization)s.") % {"organization": actor.organization.name})
    return redirect("accounts:organizations")


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """The invitation link. Logged out: remembered in the session, then the login page tells it (and
    sign-up is filled in with the invited address); logged in: the invitation, to accept."""
    try:
        invitation = services.invitation_from_token(token)
        if not request.user.is_authenticated:
            # The link came by email to the invited address: who invited it to which organization is
            # what that email said. The login page shows it and brings the invitee back here.
            invitation_remember(request, token)
            login = reverse("account_login")
            return redirect(f"{login}?{urlencode({'next': services.invitation_accept_path(token)})}")
        if not services.invitation_visible_to(invitation, request.user):
            # A forwarded or leaked link, or the wrong account: a 404 that shows nothing of the
            # organization, the inviter or the address the invitation was sent to.
            invitation_forget(request)
            error = _("This invitation is not for %(email)s. Log in with the address it was sent to.") % {"email": request.user.email}
            return render(request, "accounts/invitation_accept.html", {"error": error}, status=404)
        if request.method == "POST":
            membership = services.invitation_accept(user=request.user, token=token)
            invitation_forget(request)
            request.session[SESSION_KEY] = membership.organization_id
            messages.success(request, _("Welcome to %(organization)s.") % {"organization": membership.organization.name})
            return redirect("accounts:team")
    except OrganizationError as error:
        invitation_forget(request)
        return render(request, "accounts/invitation_accept.html", {"error": error.message}, status=400)
    return render(request, "accounts/invitation_accept.html", {"invitation": invitation})

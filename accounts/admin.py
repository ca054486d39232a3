from allauth.mfa.admin import AuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Case, IntegerField, Value, When
from django.forms import MultiWidget
from django.urls import path, reverse
from django.utils.html import format_html

from . import admin_views, operator
from .analytics import admin as analytics_admin  # noqa: F401 (registers RequestLogAdmin, the dashboard and funnel)
from .forms import UserChangeForm, UserCreationForm
from .models import ApiKey, AuditLog, Invitation, Membership, Organization, Plan, UpgradeRequest, UsageRecord, User
from .services import OrganizationError


class LabelledWidgetsMixin:
    """Every input of the admin's forms has an accessible name (axe-core's label and select-name rules).

    A split date and time (two inputs under one <label> that points at neither) gets "<field>: date" and
    "<field>: time"; a tabular inline's cells, which have only the column's heading, get the field's name.
    """

    label_every_input = False  # True for tabular inlines: their cells have no <label> at all

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is None:
            return formfield
        widget = getattr(formfield.widget, "widget", formfield.widget)  # inside a RelatedFieldWidgetWrapper
        label = str(formfield.label or db_field.verbose_name).capitalize()
        if isinstance(widget, MultiWidget):
            for part, name in zip(widget.widgets, ("date", "time")):
                part.attrs["aria-label"] = f"{label}: {name}"
        elif self.label_every_input:
            widget.attrs["aria-label"] = label
        return formfield


@admin.register(User)
class UserAdmin(LabelledWidgetsMixin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class PlanListForm(forms.ModelForm):
    """A row of the plans' changelist: its "is public" checkbox, alone in its cell, is named after the plan."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["is_public"].widget.attrs["aria-label"] = f"{self.instance.name} is public"


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name", "slug", "price_monthly_cents", "monthly_characters", "max_characters_per_request",
        "max_audio_seconds_per_request", "requests_per_minute", "concurrent_requests", "history_retention_days", "api_access", "is_public",
    )
    list_editable = ("is_public",)
    ordering = ("sort_order",)

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=PlanListForm, **kwargs)


class MembershipInline(LabelledWidgetsMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)
    label_every_input = True

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class Labelled(formset):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                if "DELETE" in form.fields:
                    form.fields["DELETE"].widget.attrs["aria-label"] = "Delete"

        return Labelled


@admin.register(Organization)
class OrganizationAdmin(LabelledWidgetsMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "plan", "characters_used", "period_end", "suspended_at", "is_personal", "created_at", "overview")
    list_filter = ("plan", "is_personal")
    search_fields = ("name", "slug", "memberships__user__email")
    # The ledger counter changes only through accounts.quota's conditional updates;
    # plan, grants and suspension only through the audited actions of the overview page.
    readonly_fields = ("characters_used", "bonus_characters", "suspended_at", "created_at")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("plan",) if obj is not None else ())

    @admin.display(description="overview")
    def overview(self, obj):
        return format_html('<a href="{}">usage &amp; actions</a>', reverse("admin:accounts_organization_overview", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view(lambda request, object_id: admin_views.organization_overview(request, self.admin_site, object_id))
        return [path("<int:object_id>/overview/", view, name="accounts_organization_overview"), *super().get_urls()]


@admin.register(ApiKey)
class ApiKeyAdmin(LabelledWidgetsMixin, admin.ModelAdmin):
    list_display = ("name", "masked", "organization", "created_by", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "organization__name")
    # Neither the secret (never stored) nor its hash is shown or editable.
    exclude = ("secret_hash",)
    readonly_fields = ("prefix", "organization", "created_by", "last_used_at", "characters_used", "period_start", "created_at")

    def has_add_permission(self, request):
        return False  # keys are created where the secret can be shown once: the studio or create_api_key


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "source", "voice", "characters", "status", "error_code", "audio_seconds", "total_ms")
    list_filter = ("status", "source")
    search_fields = ("organization__name", "voice", "error_code")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the ledger is written by the quota service only


@admin.register(Invitation)
class InvitationAdmin(LabelledWidgetsMixin, admin.ModelAdmin):
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at")
    list_filter = ("role",)
    search_fields = ("email", "organization__name")
    # The accept link is signed and emailed; nothing here can reproduce it.
    readonly_fields = ("organization", "email", "invited_by", "created_at", "accepted_at", "accepted_by")


@admin.register(UpgradeRequest)
class UpgradeRequestAdmin(admin.ModelAdmin):
    """Pending requests first. Approve and Decline are the only writes (accounts.operator, audited)."""

    list_display = ("created_at", "organization", "current_plan", "plan", "requested_by", "status", "decided_by", "decided_at")
    list_filter = ("status", "plan")
    search_fields = ("organization__name", "organization__slug", "requested_by__email")
    readonly_fields = ("organization", "plan", "requested_by", "status", "note", "decided_by", "decided_at", "created_at")
    actions = ["approve", "decline"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization__plan", "plan", "requested_by", "decided_by")

    def get_ordering(self, request):
        pending_first = Case(When(status=UpgradeRequest.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField())
        return (pending_first.asc(), "-created_at", "-id")

    @admin.display(description="current plan")
    def current_plan(self, obj):
        return obj.organization.plan

    def has_add_permission(self, request):
        return False  # requests come from the studio or the sign-up

    def has_delete_permission(self, request, obj=None):
        return False  # the history of requests stays; a pending one is declined instead

    def has_approve_permission(self, request):
        # Approving changes an organization's plan: the overview page's change_plan permission too.
        return request.user.has_perm("accounts.change_upgraderequest") and request.user.has_perm("accounts.change_organization")

    @admin.action(description="Approve the selected requests (changes the plan)", permissions=["approve"])
    def approve(self, request, queryset):
        self._decide(request, queryset, operator.upgrade_request_approve, "approved")

    @admin.action(description="Decline the selected requests (the plan stays)", permissions=["approve"])
    def decline(self, request, queryset):
        self._decide(request, queryset, operator.upgrade_request_decline, "declined")

    def _decide(self, request, queryset, decide, done_word):
        done = unchanged = 0
        for upgrade in queryset:
            try:
                audit = decide(actor=request.user, upgrade=upgrade)
            except OrganizationError as error:
                self.message_user(request, f"{upgrade.organization} → {upgrade.plan}: {error.message}", messages.ERROR)
                continue
            if audit is None:
                unchanged += 1
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} request{'s' if done != 1 else ''} {done_word}.", messages.SUCCESS)
        if unchanged:
            self.message_user(request, f"{unchanged} request{'s were' if unchanged != 1 else ' was'} already {done_word}.", messages.INFO)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Visible to staff with the view permission; nobody can add, change or delete a row (nor can the ORM)."""

    list_display = ("created_at", "actor", "action", "organization", "target", "before", "after")
    list_filter = ("action",)
    search_fields = ("target", "organization__name", "actor__email")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# allauth's, with the date and time inputs of its change form labelled like ours.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class LabelledAuthenticatorAdmin(LabelledWidgetsMixin, AuthenticatorAdmin):
    pass


# The admin's front page leads with the operator's analytics.
admin.site.index_template = "admin/accounts/site_index.html"

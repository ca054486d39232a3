from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .forms import UserChangeForm, UserCreationForm
from .models import ApiKey, Invitation, Membership, Organization, Plan, UsageRecord, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
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


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name", "slug", "price_monthly_cents", "monthly_characters", "max_characters_per_request",
        "requests_per_minute", "concurrent_requests", "history_retention_days", "api_access", "is_public",
    )
    list_editable = ("is_public",)
    ordering = ("sort_order",)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "plan", "characters_used", "period_end", "is_personal", "created_at")
    list_filter = ("plan", "is_personal")
    search_fields = ("name", "slug", "memberships__user__email")
    # The ledger counter changes only through accounts.quota's conditional updates.
    readonly_fields = ("characters_used", "created_at")
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at")
    list_filter = ("role",)
    search_fields = ("email", "organization__name")
    # The accept link is signed and emailed; nothing here can reproduce it.
    readonly_fields = ("organization", "email", "invited_by", "created_at", "accepted_at", "accepted_by")

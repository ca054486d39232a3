"""The request log in the admin, read-only, and the analytics pages wired into its URLs.

Imported by accounts/admin.py: the admin autodiscovers the admin module of each
app, and this package is part of the accounts app, not an app of its own. The
URLs keep the model's prefix: /admin/accounts/requestlog/dashboard/ and
/funnel/ (admin:accounts_requestlog_dashboard, admin:accounts_requestlog_funnel).
"""

from django.contrib import admin
from django.urls import path

from . import admin_views
from .models import RequestLog


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    """The raw request log, read-only; its get_urls also carries the usage dashboard and the funnel."""

    list_display = ("created_at", "method", "path", "status_code", "error_code", "organization", "source", "voice", "ttfb_ms", "total_ms")
    list_filter = ("source", "status_code")
    search_fields = ("path", "error_code", "voice", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("organization",)
    show_full_result_count = False  # a COUNT(*) over millions of rows on every page is not worth it

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        site = self.admin_site
        return [
            path("dashboard/", site.admin_view(lambda request: admin_views.usage_dashboard(request, site)), name="accounts_requestlog_dashboard"),
            path("funnel/", site.admin_view(lambda request: admin_views.funnel_view(request, site)), name="accounts_requestlog_funnel"),
            *super().get_urls(),
        ]

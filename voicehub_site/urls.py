from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

# The admin's own login form has no rate limit and no second factor. Staff sign in through the site's
# login instead (allauth: the login and login_failed limits, TOTP), which sends them back to the admin;
# /admin/login/ only redirects there and never checks a password. Set before admin.site.urls is read.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", include("synthesis.api.urls")),
    path("api/v1/", include("synthesis.api.urls_v1")),
    path("", include("synthesis.api.urls_compat")),  # OpenAI (/v1/audio/…) and ElevenLabs (/v1/text-to-speech/…) routes
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("organizations/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("studio/", include("synthesis.studio.urls")),
    path("", include("marketing.urls")),
]

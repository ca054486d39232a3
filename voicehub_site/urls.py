from allauth.account.decorators import secure_admin_login
from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from voicehub_site.redoc import redoc_bundle

# ReDoc (styled-components) writes <style> elements at run time, with no way to pass
# them a nonce: inline styles are admitted on that page only. Its scripts still are not.
redoc = csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularRedocView.as_view(url_name="schema"))

# The admin's own login form has no rate limit and no second factor. Staff sign in through the site's
# login instead (allauth: the login and login_failed limits, TOTP), which sends them back to the admin;
# /admin/login/ only redirects there and never checks a password. Set before admin.site.urls is read.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", include("synthesis.api.urls")),
    path("api/v1/", include("synthesis.api.urls_v1")),
    path("", include("synthesis.api.urls_compat")),  # OpenAI (/v1/audio/…) and ElevenLabs (/v1/text-to-speech/…) routes
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script from /docs?script: no inline script.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", redoc, name="redoc"),
    path("redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),  # the sidecar's, without Redocly's CDN logo
    path("organizations/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("studio/", include("synthesis.studio.urls")),
    path("", include("marketing.urls")),
]

# A URL no route matches: JSON on the API paths (a malformed id), the site's page elsewhere.
handler404 = "synthesis.api.errors.page_not_found"

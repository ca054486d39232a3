from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

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

# A URL no route matches: JSON on the API paths (a malformed id), the site's page elsewhere.
handler404 = "synthesis.api.errors.page_not_found"

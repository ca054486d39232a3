"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

# Django must be set up before anything imports models (consumers will).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from synthesis.studio.routing import websocket_urlpatterns  # noqa: E402
from voicehub_site import http_limits  # noqa: E402

# Daphne's HTTP parser answers an oversized head with 431/414 instead of dropping the connection.
http_limits.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin first (a page elsewhere must not ride the user's cookies: there is
        # no CSRF token on a websocket), then the session's user, then the route.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

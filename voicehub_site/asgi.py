"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

# Django must be set up before anything imports models (consumers will).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from synthesis.api import routing as api_routing  # noqa: E402
from synthesis.studio.routing import websocket_urlpatterns  # noqa: E402
from voicehub_site import http_limits  # noqa: E402

# Daphne's HTTP parser answers an oversized head with 431/414 instead of dropping the connection.
http_limits.install()

# The studio's socket: Origin first (a page elsewhere must not ride the user's cookies: there is
# no CSRF token on a websocket), then the session's user, then the route.
studio_websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
# The API's sockets (realtime input streaming): an API key the client sends, no cookie, so no Origin check.
api_websockets = URLRouter(api_routing.websocket_urlpatterns)


async def websockets(scope, receive, send):
    """Each websocket to its stack; a path no route matches is refused (403) rather than an error in the log."""
    app = api_websockets if scope["path"].startswith(api_routing.PREFIXES) else studio_websockets
    try:
        return await app(scope, receive, send)
    except ValueError as error:
        if "No route found" not in str(error):
            raise
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})

"""The Content-Security-Policy header: django-csp's, with this host's websocket origin.

The studio and the jobs page open `ws(s)://<the page's host>/ws/…`. CSP Level 3 lets
'self' match that, but browsers that predate it (and some still in use) need the
origin spelled out; a bare `wss:` would let a page connect to any host. So connect-src
gets exactly the host the request came to, in the scheme the page is served in.
"""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request=request, response=response, report_only=report_only)
        try:
            host = request.get_host()  # validated against ALLOWED_HOSTS
        except DisallowedHost:  # already answered 400 further in; no origin to add
            return parts
        websocket = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        parts.update = {**(parts.update or {}), "connect-src": [*(parts.update or {}).get("connect-src", []), websocket]}
        return parts

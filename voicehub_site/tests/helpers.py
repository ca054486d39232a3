"""Plain helpers of voicehub_site's tests (fixtures: voicehub_site/testing.py and conftest.py)."""

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

# Routes no test sends a GET to: /readyz starts loading the model in the background.
NOT_PROBED = {"/readyz"}


def parameterless_routes(patterns=None, prefix="") -> list[str]:
    """Every path of the URLconf that takes no argument (the ones a visitor can type as they are)."""
    paths = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if not isinstance(entry.pattern, RoutePattern) or "<" in str(entry.pattern):
            continue  # a regex route (the admin's catch-all) or one with a converter
        if isinstance(entry, URLResolver):
            paths += parameterless_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            paths.append("/" + prefix + str(entry.pattern))
    return sorted(set(paths) - NOT_PROBED)


def html_pages(routes) -> list[str]:
    """The public pages: the routes that answer an anonymous visitor 200 with HTML."""
    return [path for path, r in routes.items() if r.status == 200 and "text/html" in (r.headers.get("Content-Type") or "")]


def signed_in_pages(routes, prefixes) -> list[str]:
    """The routes under `prefixes` that send an anonymous visitor to log in (downloads and logout aside)."""
    return [path for path, r in routes.items() if r.status == 302 and path.startswith(prefixes)
            and "logout" not in path and "download" not in path]

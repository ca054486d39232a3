"""The synthesis doors: the routes whose view opens the synthesis session.

A view says so with `synthesis_door = True` (synthesis.api.common.SynthesisView,
the landing demo). Read from the URLconf, so that what must hold for every door
(the contract matrix, synthesis/tests/test_contract.py) and what is counted for
every door (the request log, accounts.analytics.middleware) covers a new door
without anyone listing it.
"""

from __future__ import annotations


def synthesis_routes(resolver=None, namespace: str = "", marker: str = "synthesis_door") -> list[tuple[str, object]]:
    """(namespaced URL name, view) of every route whose view is a synthesis door (or carries another `marker`)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += synthesis_routes(entry, inner, marker)
        elif isinstance(entry, URLPattern) and entry.name:
            view = getattr(entry.callback, "view_class", entry.callback)
            if getattr(view, marker, False):
                routes.append((f"{namespace}{entry.name}", view))
    return routes


def idempotent_routes() -> list[tuple[str, object]]:
    """(namespaced URL name, view) of every route whose POST honours Idempotency-Key (synthesis.api.idempotency)."""
    return synthesis_routes(marker="idempotent_post")

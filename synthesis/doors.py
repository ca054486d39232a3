"""The synthesis doors: the routes whose view opens the synthesis session.

A view says so with `synthesis_door = True` (synthesis.api.common.SynthesisView,
the landing demo). Read from the URLconf, so that what must hold for every door
(the contract matrix, synthesis/tests/test_contract.py) and what is counted for
every door (the request log, accounts.analytics.middleware) covers a new door
without anyone listing it.
"""

from __future__ import annotations


def named_routes(resolver=None, namespace: str = "") -> list[tuple[str, object]]:
    """(namespaced URL name, view) of every named route in the URLconf."""
    from django.urls import URLPattern, URLResolver, get_resolver

    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += named_routes(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            routes.append((f"{namespace}{entry.name}", getattr(entry.callback, "view_class", entry.callback)))
    return routes


def synthesis_routes() -> list[tuple[str, object]]:
    """(namespaced URL name, view) of every route whose view is a synthesis door."""
    return [(name, view) for name, view in named_routes() if getattr(view, "synthesis_door", False)]


def idempotent_routes() -> list[tuple[str, object]]:
    """(namespaced URL name, view) of every route whose POST honours Idempotency-Key (synthesis.api.idempotency)."""
    return [(name, view) for name, view in named_routes() if getattr(view, "idempotent_post", False)]

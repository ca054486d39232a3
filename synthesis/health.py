"""Probes for load balancers: /healthz (the process answers) and /readyz (it can serve)."""

import threading

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from synthesis.services import engine as services

_warming = threading.Lock()


def _load_engine_in_background():
    # The first probe starts loading the model so a fresh process becomes
    # ready without a user request paying ~2 s for it; later probes see it.
    if _warming.acquire(blocking=False):

        def load():
            try:
                services.get_engine().warm_up()
            finally:
                _warming.release()

        threading.Thread(target=load, name="engine-warmup", daemon=True).start()


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as error:
        checks["database"] = f"error: {error.__class__.__name__}"
    if services.engine_loaded():
        checks["model"] = "ok"
    else:
        checks["model"] = "loading"
        _load_engine_in_background()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)

"""Probes for load balancers: /healthz (the process answers) and /readyz (it can serve)."""

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from synthesis.services import engine as services
from voicehub_site.drain import draining

_warming = threading.Lock()

# Each backend check gets this long: a load balancer's probe times out after a
# few seconds, and a probe that hangs says nothing. A check that overruns goes
# on in its thread; three threads at most, so a backend that hangs cannot pile
# them up (later probes time out waiting for one, which is the right answer).
CHECK_TIMEOUT = 2.0
_checks = ThreadPoolExecutor(max_workers=3, thread_name_prefix="readyz")


_load_error: str | None = None  # why the last load failed (a GPU the container cannot see, a missing file)
_warming_thread: threading.Thread | None = None


def _load_engine_now() -> None:
    global _load_error
    try:
        services.get_engine().warm_up()
    except Exception as error:  # noqa: BLE001 - reported by the next probe, which tries again
        _load_error = f"{type(error).__name__}: {error}"
    else:
        _load_error = None


def _load_engine_in_background():
    # The first probe starts loading the model so a fresh process becomes
    # ready without a user request paying ~2 s for it; later probes see it.
    global _warming_thread
    if _warming.acquire(blocking=False):

        def load():
            try:
                _load_engine_now()
            finally:
                _warming.release()

        _warming_thread = threading.Thread(target=load, name="engine-warmup", daemon=True)
        _warming_thread.start()


def _check_cache() -> str:
    # A key of its own per probe: two processes probing at once must not read each other's value.
    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    return "ok" if cache.get(key) == value else "error: the value read back differs"


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return "ok (in-memory)"
    if not hasattr(layer, "ring_size"):  # not channels_redis' RedisChannelLayer: nothing we know to ask it
        return f"ok (not checked: {type(layer).__name__})"

    async def ping_every_host():
        for index in range(layer.ring_size):
            await layer.connection(index).ping()

    # asyncio.run closes its loop, and channels_redis closes that loop's connections with it.
    asyncio.run(asyncio.wait_for(ping_every_host(), CHECK_TIMEOUT))
    return "ok"


def _check_storage() -> str:
    # A tiny write and delete, not exists(): every synthesis stores its audio,
    # and a read-only mount, a full disk or S3 credentials without PutObject
    # pass exists() yet fail those requests. The cost is two or three small
    # requests per probe on S3, a file created and removed on a disk.
    name = default_storage.save(f"readyz-{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)
    return "ok"


_BACKENDS = {"cache": _check_cache, "channel_layer": _check_channel_layer, "storage": _check_storage}


def _error(error: BaseException) -> str:
    return f"error: {error.__class__.__name__}"


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def readiness(*, warm: bool = True) -> tuple[bool, dict[str, str]]:
    """Whether every configured backend answers and the model is loaded, and what each check said.

    `warm`: start loading the model if it is not loaded (what a load balancer's probe is for).
    """
    running = {name: _checks.submit(check) for name, check in _BACKENDS.items()}
    deadline = time.monotonic() + CHECK_TIMEOUT
    checks = {}
    # The database in this thread: Django's connections belong to their thread
    # (one opened in a pool thread would never be closed). Its driver's connect
    # timeout bounds it.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as error:
        checks["database"] = _error(error)
    for name, future in running.items():
        try:
            checks[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            future.cancel()  # if it has not started; if it has, its thread finishes it
            checks[name] = f"error: no answer within {CHECK_TIMEOUT:g} s"
        except Exception as error:  # noqa: BLE001 - whatever a backend raises, it is not ready
            checks[name] = _error(error)
    if services.engine_loaded():
        checks["model"] = "ok"
    elif warm:
        # A load that failed is an error with its reason (and this probe tries again), not "loading" forever.
        checks["model"] = f"error: {_load_error}" if _load_error else "loading"
        _load_engine_in_background()
    else:
        checks["model"] = "not loaded yet"
    return all(_passed(value) for value in checks.values()), checks


def _passed(result: str) -> bool:
    return result == "ok" or result.startswith("ok (")


def jobs_worker_state() -> dict:
    """Whether a long-form job worker has been seen lately (synthesis.jobs.service.worker_heartbeat).

    Reported beside the checks, not as one: web requests are served without a
    worker, so a load balancer must not take this process out for it; only
    long-form jobs wait (and their pages and API say `no_worker`).
    """
    from synthesis.jobs import service as jobs

    try:
        seen = jobs.worker_last_seen()
    except DatabaseError as error:
        return {"status": _error(error), "last_seen_at": None, "detail": "The database did not answer."}
    if seen is not None and seen >= timezone.now() - jobs.worker_stale_after():
        return {"status": "ok", "last_seen_at": seen.isoformat(), "detail": "A job worker is running."}
    return {"status": jobs.NO_WORKER_CODE, "last_seen_at": seen.isoformat() if seen else None,
            "detail": jobs.NO_WORKER_DETAIL.replace("this job is", "long-form jobs are")}


def engine_state() -> dict[str, object]:
    """What runs the model (backend, device), once it is loaded; the configured choice before."""
    engine = services.loaded_engine()
    if engine is not None:
        return {"loaded": True, "backend": engine.backend_name, "device": engine.backend.device}
    return {"loaded": False, "backend": settings.VOICEHUB_ENGINE_BACKEND}


@never_cache
def readyz(request):
    """200 when every configured backend answers and the model is loaded; 503 with what is not, otherwise.

    A draining process (SIGTERM, voicehub_site.drain) answers 503 `draining`: a load balancer sends no
    more requests here while what is in flight finishes.
    """
    if draining():
        response = JsonResponse({"status": "draining", "code": "draining",
                                 "detail": "This process is shutting down; send requests to another."}, status=503)
        response["Retry-After"] = "1"
        return response
    ready, checks = readiness()
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "jobs_worker": jobs_worker_state(),
         "engine": engine_state()},
        status=200 if ready else 503,
    )


# What each of readyz's checks is called on the status page, in its order.
CHECK_NAMES = {
    "database": "Database",
    "cache": "Cache",
    "channel_layer": "Channel layer (live updates, websockets)",
    "storage": "Audio storage",
    "model": "Speech engine (the Kokoro-82M model)",
}


@never_cache
def status_page(request):
    """/readyz's checks for people (the footer's "Status"); load balancers and monitors keep the JSON."""
    # A visitor's page view does not start a model load: the load balancer's probes (/readyz) do.
    ready, checks = readiness(warm=False)
    rows = [{"name": name, "result": checks[key], "ok": _passed(checks[key])} for key, name in CHECK_NAMES.items()]
    return render(
        request, "synthesis/status.html",
        {"ready": ready, "checks": rows, "jobs_worker": jobs_worker_state(), "engine": engine_state(),
         "checked_at": timezone.now()},
    )

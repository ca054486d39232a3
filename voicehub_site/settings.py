"""
Voicehub settings: one file, driven by environment variables.

The embedded default (no variables set) is SQLite, a local-memory cache and the
in-memory channel layer, so one command starts the whole product on a laptop.
DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis for the scale-out.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Safety ---------------------------------------------------------------

# VOICEHUB_ENV=production turns on the checks below; anything else is a
# development machine where insecure defaults are acceptable.
PRODUCTION = env_str("VOICEHUB_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

if PRODUCTION:
    # Refuse to start unsafe rather than run a public service with a guessable
    # key or tracebacks shown to strangers.
    # Django's own bar (check --deploy, security.W009): 50+ characters, 5+ distinct.
    if not SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters in production "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must list the public host names in production.")
    # The TLS-terminating proxy says the scheme; the client's address is
    # synthesis.services.limits.client_ip's business (TRUSTED_PROXY_COUNT).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # A load balancer probes over plain HTTP inside its network: a redirect would fail the probe.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix: the browser keeps these cookies only when Secure, Path=/
    # and without Domain, so a sibling subdomain or a plain-HTTP page cannot plant
    # or overwrite them (session fixation, CSRF token injection).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    # Set either to false if some subdomain of yours still serves plain HTTP.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
elif not SECRET_KEY:
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every response (django-csp; voicehub_site.security adds
# the host's own websocket origin to connect-src). Scripts and styles come from our
# static files or carry the request's nonce (`nonce="{{ request.csp_nonce }}"`); no
# inline event handlers, no style="" attributes, no eval. /redoc loosens style-src
# (voicehub_site.urls): ReDoc injects its styles at run time.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # Swagger UI's icons, the blank image in place of ReDoc's CDN logo
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],  # the demo and the studio play what they fetched
        "worker-src": [SELF, "blob:"],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Applications ---------------------------------------------------------

INSTALLED_APPS = [
    "daphne",  # runserver speaks ASGI (HTTP + websockets) through Channels
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",  # django-csp: its system checks catch settings of the old (3.x) form
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "channels",
    "django_htmx",  # request.htmx, and htmx itself served from our static files
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",  # the django.tasks API (backport of Django 6.0's) for long-form jobs
    "django_tasks_db",  # its database backend: the job queue lives in DATABASES, no extra service
    "accounts",
    "synthesis",
    "marketing",
]

MIDDLEWARE = [
    # First, so every response gets the security headers: the 503s of the outage
    # middleware and SecurityMiddleware's own redirect to HTTPS included.
    "voicehub_site.security.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "synthesis.middleware.RequestIdMiddleware",
    "accounts.analytics.middleware.RequestLogMiddleware",  # one RequestLog row per synthesis request (admin analytics)
    # A database, cache or storage outage in a Django view is a 503 with Retry-After
    # (DRF views get the same from synthesis.api.errors.exception_handler).
    "synthesis.middleware.ServiceUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "marketing.middleware.SignupStartedMiddleware",  # the funnel's "sign-up started" (allauth's view untouched)
]

ROOT_URLCONF = "voicehub_site.urls"
WSGI_APPLICATION = "voicehub_site.wsgi.application"
ASGI_APPLICATION = "voicehub_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # the admin
    "allauth.account.auth_backends.AuthenticationBackend",  # email login, rate limits
]

# --- Data -----------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
# A database that does not answer must fail a request (503, synthesis.middleware), not hang it:
# connect_timeout bounds a connection attempt to a server that is down or stuck (libpq's default
# waits for as long as the operating system does, minutes). synthesis/tests/test_outages_live.py.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed while a request writes; the busy timeout makes a
    # second writer wait instead of failing with "database is locked".
    # BEGIN IMMEDIATE takes the write lock when a transaction starts, so two
    # transactions can never both read and then fail to upgrade to a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so tests can race requests from several processes;
    # one per test run, so two runs on one machine don't share it.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"voicehub-test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Redis down or stuck is a 503 after at most this long per command (synthesis.services.errors), never a
# hang: set here rather than left to redis-py's defaults, which have changed between its versions.
REDIS_TIMEOUT = env_int("REDIS_TIMEOUT", 5)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "voicehub",
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis waits 5 s in BZPOPMIN for each message; redis-py 8's
            # default 5 s socket timeout cuts that wait off (TimeoutError, the socket
            # closes with 1011), so reads get a longer timeout than the block.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": REDIS_TIMEOUT}],
                "prefix": "voicehub",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Passwords, language, time -------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------

STATIC_URL = "static/"
# collectstatic writes here (the Dockerfile's build step); production serves it through WhiteNoise.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Outside production, serve app static files straight from the apps (no collectstatic
# after each edit; tests and the live ASGI server see the current files).
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# VOICEHUB_STORAGE=s3 keeps audio in an S3-compatible bucket (django-storages), so
# web processes and job workers on different machines share no disk.
VOICEHUB_STORAGE = env_str("VOICEHUB_STORAGE", "local")
if VOICEHUB_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"VOICEHUB_STORAGE must be 'local' or 's3', got {VOICEHUB_STORAGE!r}")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
                "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
                "region_name": env_str("AWS_S3_REGION_NAME") or None,
                "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
                "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }
        if VOICEHUB_STORAGE == "s3"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- API ------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only (a form body is a 415); /api/v1/jobs adds multipart for uploads. The
    # strict parser makes a hostile body (nested 1,000 deep, a repeated key) a 400.
    "DEFAULT_PARSER_CLASSES": ["synthesis.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # An API key (Bearer or xi-api-key) first, so a missing one is a 401; then
    # a signed-in session, with CSRF. Each sets request.organization.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.OrganizationSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "synthesis.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Voicehub API",
    "DESCRIPTION": (
        "Self-hostable text to speech on the open Kokoro-82M model.\n\n"
        "**Realtime input streaming** (websockets, not described by OpenAPI): `/api/v1/tts/realtime?voice=…` "
        "and ElevenLabs' `/v1/text-to-speech/{voice_id}/stream-input` and `/multi-stream-input` take text as an "
        "LLM writes it and answer with audio and per-character alignment as each sentence is spoken. Messages, "
        "errors and charging: docs/realtime.md in the repository."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",  # /redoc loads it through voicehub_site.redoc, without Redocly's CDN logo
    # Swagger UI's options, as JavaScript (drf-spectacular passes a string through unchanged). No validator
    # badge: Swagger UI would load it from validator.swagger.io, sending it the schema's URL. Deep links stay on
    # (opening an operation puts it in the address bar; /docs#/tag/operation opens it), but the path inside each
    # operation's summary <button> is plain text, not a link: an <a href> inside a button is a control inside a
    # control, which screen readers do not announce and the keyboard reaches in a confusing order (axe-core's
    # nested-interactive). Its href only ever pointed at the hash that opening the operation sets anyway.
    # This list of plugins replaces drf-spectacular's own, which is empty while SERVE_PUBLIC is on.
    "SWAGGER_UI_SETTINGS": """{
      "deepLinking": true,
      "validatorUrl": null,
      "plugins": [() => ({wrapComponents: {OperationSummaryPath: (Path, system) => (props) => system.React.createElement(
        Path, {...props, operationProps: props.operationProps.set("isDeepLinkingEnabled", false)})}})]
    }""",
    # The native `normalize` and ElevenLabs' `apply_text_normalization` share one set of choices.
    "ENUM_NAME_OVERRIDES": {"TextNormalizationEnum": ["auto", "on", "off"]},
}

# --- Synthesis ------------------------------------------------------------

VOICEHUB_MODEL_PATH = Path(env_str("VOICEHUB_MODEL_PATH", str(BASE_DIR / "models" / "kokoro-v1.0.int8.onnx")))
VOICEHUB_VOICES_DIR = Path(env_str("VOICEHUB_VOICES_DIR", str(BASE_DIR / "voices")))
# The inference scheduler (synthesis.engine.scheduler): a call that runs alone
# uses SOLO_THREADS; when several streams wait, WORKERS calls run side by side
# on THREADS each. 0 = what measures best on 2 cores, scaled to the machine:
# solo on every core (up to 8), one 1-thread call per core (2-thread calls
# beyond 4 cores). bench/stream_bench.py prints the throughput of the shape.
# What runs the model (synthesis.engine.backends): "onnx" (onnxruntime, int8: the CPU default),
# "torch" (kokoro's KModel, weights built by install_assets; on CUDA when there is one), or
# "auto": torch when CUDA is available, else onnx. docs/deploy.md has the GPU setup.
VOICEHUB_ENGINE_BACKEND = env_str("VOICEHUB_ENGINE_BACKEND", "auto").strip().lower()
if VOICEHUB_ENGINE_BACKEND not in {"auto", "onnx", "torch"}:
    raise ImproperlyConfigured(f"VOICEHUB_ENGINE_BACKEND must be auto, onnx or torch, got {VOICEHUB_ENGINE_BACKEND!r}")
# The torch backend's device ("cuda", "cuda:1", "cpu"); empty: cuda when available, else cpu.
VOICEHUB_TORCH_DEVICE = env_str("VOICEHUB_TORCH_DEVICE", "")
# torch: chunks of concurrent requests that arrive within this many milliseconds run as one
# batch of at most VOICEHUB_MAX_BATCH; a stream's first chunk never waits for one to fill.
VOICEHUB_BATCH_WINDOW_MS = env_int("VOICEHUB_BATCH_WINDOW_MS", 5)
VOICEHUB_MAX_BATCH = env_int("VOICEHUB_MAX_BATCH", 16)
VOICEHUB_INFERENCE_WORKERS = env_int("VOICEHUB_INFERENCE_WORKERS", 0)
VOICEHUB_INFERENCE_THREADS = env_int("VOICEHUB_INFERENCE_THREADS", 0)
VOICEHUB_INFERENCE_SOLO_THREADS = env_int("VOICEHUB_INFERENCE_SOLO_THREADS", 0)
# Syntheses in flight per process before new ones get 503 `overloaded`. 0 = 8 per worker.
VOICEHUB_MAX_QUEUED_REQUESTS = env_int("VOICEHUB_MAX_QUEUED_REQUESTS", 0)
# The longest one synthesis request may run, synthesis and delivery together.
# The synthesis session ends a request past it with 504 `timeout`: what was
# delivered is charged, the rest refunded. The plans' audio ceilings bound how
# much a request makes; this bounds how long it holds its concurrency and
# inference slots whatever the client does (a reader that stalls a stream).
VOICEHUB_REQUEST_DEADLINE_SECONDS = env_int("VOICEHUB_REQUEST_DEADLINE_SECONDS", 900)
# A reserved usage row with no sign of life (heartbeat, else creation) for this
# long belongs to a dead process (SIGTERM mid-stream, a killed worker): the
# sweep charges what it delivered and refunds the rest. A live request
# heartbeats after every chunk, and one model call takes ~10 s at most on 2
# cores, so 300 s is never reached by a request that is still running.
VOICEHUB_RESERVATION_STALE_SECONDS = env_int("VOICEHUB_RESERVATION_STALE_SECONDS", 300)
# On SIGTERM a web process (voicehub_site.serve) stops listening and gives what
# is in flight this long to finish; then it cuts what is left (charging what
# was delivered) and exits (voicehub_site.drain). Keep it under the orchestrator's
# kill timeout: docker-compose.yml gives web 40 s (stop_grace_period).
VOICEHUB_DRAIN_SECONDS = env_int("VOICEHUB_DRAIN_SECONDS", 25)

# --- Long-form jobs -------------------------------------------------------

# The django.tasks backend is a setting: the database backend (django-tasks-db)
# on whatever DATABASES is, SQLite by default, PostgreSQL at scale. Workers:
# `manage.py jobs_worker` (or in the `up` process on the embedded default).
TASKS = {
    "default": {
        "BACKEND": env_str("VOICEHUB_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "webhooks"],
    }
}
# A worker that has not touched a job (claimed or finished a chunk) for this
# long is taken for dead: its chunk is claimed again and the job re-enqueued.
# One chunk takes ~9 s on 2 cores (510 tokens), so 120 s leaves a wide margin.
VOICEHUB_JOB_LEASE_SECONDS = env_int("VOICEHUB_JOB_LEASE_SECONDS", 120)
# How often each worker looks for jobs whose worker died (jobs_worker).
VOICEHUB_JOB_SWEEP_SECONDS = env_int("VOICEHUB_JOB_SWEEP_SECONDS", 15)
# Tasks enqueued per job: each idle worker that picks one works on the same
# job's chunks, so one book uses up to this many workers at once.
VOICEHUB_JOB_PARALLELISM = env_int("VOICEHUB_JOB_PARALLELISM", 2)
# The embedded default runs the job worker in the `up` process (one process
# shares the model and the in-memory channel layer); at scale, run
# `manage.py jobs_worker` processes instead and set this to false.
VOICEHUB_JOB_WORKER_IN_PROCESS = env_bool("VOICEHUB_JOB_WORKER_IN_PROCESS", not REDIS_URL)
# Webhook deliveries: attempts in all, and the first retry's delay (doubling after).
VOICEHUB_WEBHOOK_ATTEMPTS = env_int("VOICEHUB_WEBHOOK_ATTEMPTS", 6)
VOICEHUB_WEBHOOK_BACKOFF_SECONDS = env_int("VOICEHUB_WEBHOOK_BACKOFF_SECONDS", 30)
# Deliveries to loopback/private addresses: fine on a development machine,
# refused in production (a webhook URL must not reach into our own network).
VOICEHUB_WEBHOOK_ALLOW_PRIVATE = env_bool("VOICEHUB_WEBHOOK_ALLOW_PRIVATE", not PRODUCTION)
# Each delivery attempt's limit to connect, and then for each read (a receiver that never answers).
VOICEHUB_WEBHOOK_TIMEOUT_SECONDS = env_int("VOICEHUB_WEBHOOK_TIMEOUT_SECONDS", 10)

# Who settles an upgrade request (accounts/billing.py, docs/billing.md): by default an operator
# approves it in the admin; a payment provider's class (dotted path) plugs in here.
VOICEHUB_BILLING_PROVIDER = env_str("VOICEHUB_BILLING_PROVIDER", "accounts.billing.ManualApproval")

# Every log line goes out through the root's one handler, whose formatter writes a record
# on one line (control characters a client sent are escaped) and redacts secrets (API keys,
# `?api_key=`, Authorization): voicehub_site.logs. Django's default handlers are dropped
# ("handlers": []): its `console` printed django.* twice with DEBUG on, its `django.server`
# wrote runserver's lines unescaped, and `mail_admins` has no ADMINS to write to.
# `manage.py up` (daphne's runserver) logs each request on django.channels.server, which
# propagates here; production's daphne access log is voicehub_site.serve's.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"safe": {"()": "voicehub_site.logs.SafeFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "safe"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": []},
        "django.server": {"handlers": [], "propagate": True},
        "faster_whisper": {"level": "WARNING"},
    },
}

TEST_RUNNER = "voicehub_site.test_runner.PytestTestRunner"

# --- Accounts -------------------------------------------------------------

# django-allauth: email + password, no usernames.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# allauth's forms with the site's labels ("Keep me logged in"), and sign-up locked to the invited address.
ACCOUNT_FORMS = {
    "login": "accounts.forms.LoginForm",
    "signup": "accounts.forms.SignupForm",
    "change_password": "accounts.forms.ChangePasswordForm",
    "reset_password_from_key": "accounts.forms.ResetPasswordKeyForm",
}
# allauth's default prefix is "[<site name>] ", and without django.contrib.sites the site's
# name is the request's host and port. Its mails' wording is ours: templates/account/email/.
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Voicehub: "
# "mandatory" is what lets allauth answer a sign-up with an email that already
# has an account exactly like a new sign-up (it mails the owner instead of
# saying "taken"); with "optional" uniqueness wins and the form reveals the
# address. The adapter enforces it at sign-up only: an unverified user who
# logs in with their password gets in, as with "optional", and the studio
# refuses them synthesis (accounts.verification.email_verified).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_PREVENT_ENUMERATION = True
# Counted in the cache (per process with the local-memory default; shared
# once REDIS_URL is set). "key" is the email address typed in.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": env_str("VOICEHUB_LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "signup": "20/h/ip",
    "reset_password": "20/h/ip,3/h/key",
}
# Behind a load balancer every request comes from its address: say how many
# proxies append to X-Forwarded-For so the per-IP limits see the client. Read by
# synthesis.services.limits.client_ip, for allauth's limits too (accounts.adapters).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
LOGIN_REDIRECT_URL = "/studio/"  # where a signed-in user lives

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Voicehub"

# Argon2 first; the others still verify (and upgrade) older hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Mail goes to the console until an SMTP server is configured.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Voicehub <noreply@localhost>")

# --- Marketing ------------------------------------------------------------

# The landing page's anonymous demo shares the machine with paying users:
# syntheses per client address per hour, and for all visitors per minute.
VOICEHUB_DEMO_PER_CLIENT_PER_HOUR = env_int("VOICEHUB_DEMO_PER_CLIENT_PER_HOUR", 10)
VOICEHUB_DEMO_PER_MINUTE = env_int("VOICEHUB_DEMO_PER_MINUTE", 20)

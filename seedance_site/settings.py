"""Settings for Seedance Studio, read from the environment.

Every value comes through one of the small typed helpers of env.py; a malformed value
stops the process at start-up with a message naming the variable, rather than
surfacing later as a confusing error.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from seedance_site.env import envbool, envfloat, envint, envlist, envstr
from seedance_site.object_storage import object_storage_from_env

BASE_DIR = Path(__file__).resolve().parent.parent


def database_from_url(url: str) -> dict:
    """Turn DATABASE_URL into a DATABASES entry (postgres:// or sqlite:///path)."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            # Lets two test runs share one server without dropping each other's database.
            "TEST": {"NAME": envstr("TEST_DATABASE_NAME") or None},
        }
    if parts.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = url[len("sqlite:///") :]
        return sqlite_database(BASE_DIR / path if not path.startswith("/") else Path(path))
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with postgres://, postgresql:// or sqlite:/// (got {parts.scheme}://)"
    )


def sqlite_database(path: Path) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # IMMEDIATE takes the write lock when a transaction starts, so two writers
        # queue on the busy timeout instead of one failing with "database is locked"
        # when it upgrades a read transaction. WAL lets readers run beside the writer.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=20000;"
                "PRAGMA foreign_keys=ON;"
            ),
        },
        # One test database per test run, so parallel runs never share a file.
        "TEST": {
            "NAME": envstr("TEST_DATABASE_NAME")
            or str(path.with_name(f"test-{os.getpid()}-{path.name}"))
        },
    }


# Like healthchecks, DEBUG defaults to on so a fresh clone runs with no configuration;
# production sets DEBUG=false, and then SECRET_KEY and FIELD_ENCRYPTION_KEYS are required.
DEBUG = envbool("DEBUG", True)

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "billing.apps.StudioAdminConfig",  # django.contrib.admin, throttled like signing in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "django_q",
    "billing",
    "generations",
    "generations.sandbox",
    "generations.assets",
    "generations.api",
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics: before the host check, HTTPS redirect and session.
    "seedance_site.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "generations.assets.middleware.UploadCapMiddleware",  # before anything reads a body
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "billing.teams.middleware.CurrentTeamMiddleware",
]

ROOT_URLCONF = "seedance_site.urls"

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
                "seedance_site.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "seedance_site.wsgi.application"

DATABASE_URL = envstr("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else sqlite_database(BASE_DIR / "var" / "db.sqlite3")
}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Django's renderer with <select> written in Python (the gallery's filters list every scene).
FORM_RENDERER = "seedance_site.rendering.FormRenderer"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# ModelBackend that reads a request's user together with their teams (one query). Django's
# own stays listed second so that sessions signed in before it came stay signed in (they
# name it); the price is that a wrong password is checked by both.
AUTHENTICATION_BACKENDS = [
    "billing.teams.backends.MembershipsBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Object storage: django-storages' S3 backend, read from its own variable names, when
# AWS_STORAGE_BUCKET_NAME is set (any S3-compatible server through AWS_S3_ENDPOINT_URL);
# else files under MEDIA_ROOT. Clips, posters and exports go through default_storage.
# How long a presigned media URL lives; shorter still when the signing keys expire sooner.
AWS_QUERYSTRING_EXPIRE = envint("AWS_QUERYSTRING_EXPIRE", 300)
# Signature v4 refuses an X-Amz-Expires past seven days: every media URL would be a 403.
if not 30 <= AWS_QUERYSTRING_EXPIRE <= 604800:
    raise ImproperlyConfigured(
        "AWS_QUERYSTRING_EXPIRE must be 30 seconds or more, and at most 604800 (a week)"
    )
# Members get media by a redirect to a presigned URL; off, the web process streams it
# (for a bucket that browsers cannot reach).
MEDIA_REDIRECT_ENABLED = envbool("MEDIA_REDIRECT_ENABLED", True)


OBJECT_STORAGE, MEDIA_ORIGIN = object_storage_from_env(AWS_QUERYSTRING_EXPIRE)
if OBJECT_STORAGE:
    STORAGES["default"] = OBJECT_STORAGE

MESSAGE_STORAGE = "django.contrib.messages.storage.fallback.FallbackStorage"

# Background work: django-q2. Redis when REDIS_URL is set, else the ORM broker.
# `retry` must exceed `timeout`, or a task still running is handed out a second time.
# One worker is always the generations sweeper; the others take submits and the checks
# that vendor callbacks ask for, which must start within a second to show a finished
# clip within 2 s (tests/perf/bench_lifecycle.py): with two, one worker did it all.
REDIS_URL = envstr("REDIS_URL")
Q_CLUSTER = {
    "name": "seedance",
    "workers": envint("Q_WORKERS", 4),
    "timeout": envint("Q_TIMEOUT", 120),
    "retry": envint("Q_RETRY", 180),
    "max_attempts": envint("Q_MAX_ATTEMPTS", 3),
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "poll": 0.2,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "seedance_site.task_queue.WrittenORM"

# The login throttle's counters (billing/teams/auth.py) must be shared by every web process:
# Redis when there is one, else a table in the database (created by a billing
# migration, so `migrate` is all a fresh clone needs). Never the per-process locmem.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "seedance",
        }
    }
    # Sessions read from Redis, written through to the database: a page costs no session
    # query, and a flushed Redis loses nobody's sign-in.
    SESSION_ENGINE = "seedance_site.sessions_cached"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }
    # Django's database sessions, the lookup on every request written out.
    SESSION_ENGINE = "seedance_site.sessions"

# Rendered cards, kept by a digest of exactly what they show (seedance_site/fragments.py):
# a changed row is a new key, so nothing cached is ever stale and each process may keep
# its own copy in memory. Django's {% cache %} tag reads this alias by its name.
CACHES["template_fragments"] = {
    "BACKEND": "seedance_site.fragment_cache.BoundedLocMemCache",
    "LOCATION": "template-fragments",
    "TIMEOUT": 24 * 3600,
    # At most 5,000 fragments and 64 MB of them a process; one over 2 MB is never kept.
    "OPTIONS": {"MAX_ENTRIES": 5000, "MAX_BYTES": 64 * 2**20, "MAX_ENTRY_BYTES": 2 * 2**20},
}

# How many proxies in front of the app append to X-Forwarded-For. 0 trusts none of
# it and takes the client from REMOTE_ADDR; a client can write anything in that header,
# so only the entries our own proxies added can be believed.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")

# /metrics answers a scrape that sends "Authorization: Bearer <METRICS_TOKEN>"; empty, 404.
METRICS_TOKEN = envstr("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters")

# Clips one member may start per minute, variants counted one by one.
GENERATE_RATE_PER_MINUTE = envint("GENERATE_RATE_PER_MINUTE", 20)

# How long an API submit's Idempotency-Key gives its first answer back; older, the key
# names a new submit, and an hourly task forgets it.
IDEMPOTENCY_KEY_HOURS = envint("IDEMPOTENCY_KEY_HOURS", 24)
# 0 or less would make every key expired once committed: each retry a new, charged submit.
if IDEMPOTENCY_KEY_HOURS < 1:
    raise ImproperlyConfigured("IDEMPOTENCY_KEY_HOURS must be 1 or more")

SANDBOX_ENABLED = envbool("SANDBOX_ENABLED", DEBUG)
# The sandbox's address when another process serves it (the lifecycle benchmark runs it
# apart, so its CPU is counted apart); empty means this app serves it at PUBLIC_BASE_URL.
# Set, this process never ticks it, and downloads from under it are the sandbox's.
SANDBOX_BASE_URL = envstr("SANDBOX_BASE_URL")

# Following generations, in seconds. Tests and benchmarks shorten them for the
# worker processes they start. SWEEP_RUN_SECONDS must stay below Q_TIMEOUT.
GENERATION_POLL_FIRST_SECONDS = envfloat("GENERATION_POLL_FIRST_SECONDS", 2.0)
GENERATION_POLL_MAX_SECONDS = envfloat("GENERATION_POLL_MAX_SECONDS", 8.0)
GENERATION_LEASE_SECONDS = envfloat("GENERATION_LEASE_SECONDS", 90.0)
SWEEP_INTERVAL_SECONDS = envfloat("SWEEP_INTERVAL_SECONDS", 1.0)
# A sweeper task runs this long, then queues its successor: short, so that a cluster
# told to stop never waits long for it.
SWEEP_RUN_SECONDS = envfloat("SWEEP_RUN_SECONDS", 2.0)
SWEEP_LEASE_SECONDS = envfloat("SWEEP_LEASE_SECONDS", 15.0)
# A pass takes no new step after this; one step waits CLIP_DOWNLOAD_SECONDS at most, so a
# sweeper task ends well within Q_TIMEOUT.
SWEEP_PASS_SECONDS = envfloat("SWEEP_PASS_SECONDS", 10.0)
VENDOR_READ_TIMEOUT_SECONDS = envfloat("VENDOR_READ_TIMEOUT_SECONDS", 20.0)
# Polls of a job whose vendor calls back are only a safety net: empty means 4 × the
# longest poll interval.
GENERATION_CALLBACK_POLL_SECONDS = envfloat("GENERATION_CALLBACK_POLL_SECONDS", 0.0) or None
# How long a job may take in all before the sweep ends it, and how much longer it may
# take past that to settle (a last check, a cancel, a save, an operator's decision).
GENERATION_DEADLINE_MINUTES = envfloat("GENERATION_DEADLINE_MINUTES", 30.0)
GENERATION_GRACE_MINUTES = envfloat("GENERATION_GRACE_MINUTES", 30.0)
# A queued job waits this long when every vendor is busy or cooling down.
GENERATION_REQUEUE_SECONDS = envfloat("GENERATION_REQUEUE_SECONDS", 5.0)
# Not-found answers in a row that mean the vendor lost a task.
GENERATION_LOST_AFTER_CHECKS = envint("GENERATION_LOST_AFTER_CHECKS", 3)
# Tries of a download that failed for a passing reason.
GENERATION_DOWNLOAD_ATTEMPTS = envint("GENERATION_DOWNLOAD_ATTEMPTS", 3)
# A step (send, check, save) that keeps failing is retried after 5, 10, 20 … seconds,
# then set aside in "needs attention" after this many failures in a row.
GENERATION_STEP_ATTEMPTS = envint("GENERATION_STEP_ATTEMPTS", 5)
GENERATION_STEP_RETRY_SECONDS = envfloat("GENERATION_STEP_RETRY_SECONDS", 5.0)
# A vendor's reported charge is believed up to this many times the hold (or the
# account's price, if larger); past it the account's price is charged.
GENERATION_CHARGE_TOLERANCE = envint("GENERATION_CHARGE_TOLERANCE", 3)
# Cooldowns of a vendor account after errors: rate limits and faults back off from
# VENDOR_COOLDOWN_SECONDS; a refused key or empty account waits the longer one.
VENDOR_COOLDOWN_SECONDS = envfloat("VENDOR_COOLDOWN_SECONDS", 10.0)
VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS = envfloat("VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS", 300.0)
# Threads one sweeper uses for the checks it runs.
SWEEP_THREADS = envint("SWEEP_THREADS", 8)
# The largest clip we download.
CLIP_MAX_BYTES = envint("CLIP_MAX_BYTES", 500 * 2**20)
# Saving a clip: the whole download must finish within this (and within Q_TIMEOUT with
# the sweeper's run); the claim on a finalizing job lasts this plus the lease.
CLIP_DOWNLOAD_SECONDS = envfloat("CLIP_DOWNLOAD_SECONDS", 60.0)
# Scratch space for downloads and storyboard exports (the system's temp folder if empty).
CLIP_TEMP_DIR = envstr("CLIP_TEMP_DIR") or None
# Assets (generations/assets): the largest upload request we read, the most pixels an
# image may declare before it is decoded (a decompression bomb is refused unopened), and
# how long past a job's deadline the signed addresses of its inputs stay valid.
ASSET_MAX_UPLOAD_BYTES = envint("ASSET_MAX_UPLOAD_BYTES", 80 * 2**20)
ASSET_MAX_IMAGE_PIXELS = envint("ASSET_MAX_IMAGE_PIXELS", 6000 * 6000)
ASSET_URL_GRACE_MINUTES = envfloat("ASSET_URL_GRACE_MINUTES", 60.0)
# The sandbox's clock and renders (generations/sandbox/engine.py).
SANDBOX_QUEUE_SECONDS = envfloat("SANDBOX_QUEUE_SECONDS", 1.0)
SANDBOX_RUN_SECONDS = envfloat("SANDBOX_RUN_SECONDS", 3.0)
SANDBOX_RENDER_SCALE = envfloat("SANDBOX_RENDER_SCALE", 0.25)
SANDBOX_RENDER_FPS = envint("SANDBOX_RENDER_FPS", 10)
SANDBOX_RENDER_WORKERS = envint("SANDBOX_RENDER_WORKERS", 2)
# Processes the render threads hand their clips to; 0 renders on the threads themselves.
SANDBOX_RENDER_PROCESSES = envint("SANDBOX_RENDER_PROCESSES", 0)
# How long a `timeout` fault hangs, and how long the sandbox waits on a callback.
SANDBOX_HANG_SECONDS = envfloat("SANDBOX_HANG_SECONDS", 30.0)
SANDBOX_CALLBACK_TIMEOUT = envfloat("SANDBOX_CALLBACK_TIMEOUT", 5.0)
# The sandbox downloads a task's images, videos and audio as the task starts, as the
# vendors do: how long it waits for each, and how many bytes it reads before refusing one.
SANDBOX_MEDIA_TIMEOUT = envfloat("SANDBOX_MEDIA_TIMEOUT", 5.0)
SANDBOX_MEDIA_MAX_BYTES = envint("SANDBOX_MEDIA_MAX_BYTES", 50 * 1024 * 1024)
# Seedance 2.0 takes images of at most 6000 px a side; larger ones are refused unread.
SANDBOX_MEDIA_MAX_PIXELS = envint("SANDBOX_MEDIA_MAX_PIXELS", 6000 * 6000)
# Timers in the serving process tick each task when it ends (off: only queries and
# sandbox_tick() move tasks on).
SANDBOX_AUTOTICK = envbool("SANDBOX_AUTOTICK", True)
# Where the sandbox keeps its rendered clips; empty means MEDIA_ROOT/sandbox.
SANDBOX_ROOT = Path(envstr("SANDBOX_ROOT")) if envstr("SANDBOX_ROOT") else None

# Vendor API keys are encrypted at rest with these Fernet keys (comma-separated,
# newest first). In development a key derived from SECRET_KEY stands in.
FIELD_ENCRYPTION_KEYS = envlist("FIELD_ENCRYPTION_KEYS", [])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DEBUG is off")

# Production hardening; behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
if MEDIA_ORIGIN.startswith("http://") and MEDIA_REDIRECT_ENABLED and SECURE_SSL_REDIRECT:
    raise ImproperlyConfigured(
        "AWS_S3_ENDPOINT_URL is http:// but pages are served over HTTPS: browsers refuse its "
        "media (mixed content). Use https://, or MEDIA_REDIRECT_ENABLED=false to stream "
        "media through the web servers"
    )
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp 4): nothing inline, nothing from elsewhere. Behaviour
# lives in static/js, styles in static/css, and htmx is told not to inject its indicator
# <style> (templates/base.html). Images may also be data: URIs, which cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *([MEDIA_ORIGIN] if MEDIA_ORIGIN else [])],
        "media-src": ["'self'", *([MEDIA_ORIGIN] if MEDIA_ORIGIN else [])],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# LOG_FORMAT=json: one JSON object a line (seedance_site/logs.py), each job step with its
# generation id; plain text otherwise.
LOG_FORMAT = envstr("LOG_FORMAT") or "plain"
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json (got {LOG_FORMAT!r})")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "seedance_site.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

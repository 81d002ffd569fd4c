"""Memodesk settings: one env-driven module with safe defaults.

Environment (the README's "Configuration" table says more):
    DJANGO_DEBUG            "1"/"true" turns debug on (off by default).
    DJANGO_SECRET_KEY       required unless DJANGO_SECRET_KEY_FILE is set or DJANGO_DEBUG is on.
    DJANGO_SECRET_KEY_FILE  a file holding the key (`make run` generates one, untracked).
    DJANGO_HTTPS            "0" when served over plain HTTP (`make run` on 127.0.0.1): no SSL
                            redirect, no Secure cookies, no HSTS. On by default with debug off.
    DJANGO_ALLOWED_HOSTS    comma-separated host names (default: localhost names).
    DATABASE_URL            e.g. postgres://postgres@127.0.0.1:5432/memodesk (default: SQLite file).
    TAX_ENGINE_USERNAME / TAX_ENGINE_PASSWORD   credentials of the third-party tax engine.
    PAYMENT_GATEWAY_URL     the payment gateway ("simulated", the default: a built-in one).
    PAYMENT_GATEWAY_TIMEOUT seconds to wait for it (default 10).
    PAYMENT_GATEWAY_USERNAME / PAYMENT_GATEWAY_PASSWORD   its credentials.
    API_THROTTLE_RATE       requests per API token, e.g. "600/minute" (empty: no limit).
    API_IDEMPOTENCY_HOURS   how long an API Idempotency-Key is kept (at least 24).
    CACHE_URL               redis://host:6379/0 for a cache shared by every process (the API's
                            per-token rate is then exact across processes); default: each
                            process its own memory.
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")


def read_secret_key() -> str:
    """The key from DJANGO_SECRET_KEY, or from the file DJANGO_SECRET_KEY_FILE names."""
    key = os.environ.get("DJANGO_SECRET_KEY", "")
    path = os.environ.get("DJANGO_SECRET_KEY_FILE", "")
    if not key and path:
        try:
            key = Path(path).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"DJANGO_SECRET_KEY_FILE {path}: {error}") from error
    return key


SECRET_KEY = read_secret_key()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE (or DJANGO_DEBUG=1 for development)."
        )
    # Development only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = "django-insecure-memodesk-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "django_tasks",
    "django_tasks_db",
    "axes",  # failed-login throttling per user and per IP
    "csp",
    "bootstrap",  # django-bootstrap-static: Bootstrap's own files as static files, no CDN
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files as static files, no CDN
    "billing",
    "memos",
    "payments",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a session; htmx requests without one get HX-Redirect to the login page.
    "billing.middleware.HtmxAwareLoginRequiredMiddleware",
    # Signed-in answers are never stored, so Back cannot replay a stale form.
    "billing.middleware.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An idle session ends here, before any view runs (the login check above runs in process_view,
    # after every middleware's request phase), so the request then counts as signed out.
    "billing.middleware.IdleSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Near the end, so it sees a view's exception first: a busy database is a 503 "try
    # again", not a 500 (AxesMiddleware below has no exception handling).
    "billing.busy.DatabaseBusyMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "billing.urls"
WSGI_APPLICATION = "billing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        # APP_DIRS/loaders are set by template_partials (it wraps the cached loaders).
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "billing.context_processors.navigation",
            ],
            "builtins": [
                "template_partials.templatetags.partials",
                "billing.templatetags.money",
                "billing.templatetags.ui",
                "django.contrib.humanize.templatetags.humanize",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves the web process and the task worker at once: WAL lets readers
    # run beside the writer, IMMEDIATE transactions take the write lock up front (no upgrade
    # deadlocks), and the timeout makes a second writer wait instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# A transaction the database refuses as busy (deadlock, serialization failure, lock timeout,
# SQLite "database is locked") is run again up to this many times in all (billing/busy.py), with
# a jittered exponential pause starting around this many seconds, before the user is told to try
# again.
DATABASE_BUSY_ATTEMPTS = int(os.environ.get("DATABASE_BUSY_ATTEMPTS", "4"))
DATABASE_BUSY_BACKOFF_SECONDS = float(os.environ.get("DATABASE_BUSY_BACKOFF_SECONDS", "0.05"))

# Bill runs (billing/bill_runs): accounts per chunk (one transaction each), how long a worker's
# lease on a chunk lasts before another worker may take it over, and how many workers a run
# asks for (each worker process takes one; more processes than this still help via takeovers).
BILL_RUN_CHUNK_SIZE = int(os.environ.get("BILL_RUN_CHUNK_SIZE", "200"))
BILL_RUN_LEASE_SECONDS = int(os.environ.get("BILL_RUN_LEASE_SECONDS", "60"))
BILL_RUN_WORKERS = int(os.environ.get("BILL_RUN_WORKERS", "4"))

AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out user or IP before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with roles and permissions read in one query per request.
    "billing.backends.RoleBackend",
]

# Failed sign-ins (django-axes): after AXES_FAILURE_LIMIT failures for one username, or from one
# IP address, sign-in is refused for that username or IP until the lockout ends or an admin deletes
# the lockout in the Django admin ("Access attempts"). A success resets the username's count.
AXES_FAILURE_LIMIT = int(os.environ.get("DJANGO_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("DJANGO_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "billing.auth.lockout_response"
AXES_VERBOSE = False  # no banner on every start of every command
# Behind a proxy the client address is the first of X-Forwarded-For; set how many proxies to trust.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("DJANGO_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedStaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploads (the seller's logo, billing settings): on this machine's disk. They are never served
# over the web; the PDFs read the logo from storage server-side.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"
# In development whitenoise serves straight from the apps' static folders: no collectstatic step.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Fields one request may post (Django's default, 1,000, answers 400 to a credit memo from a
# 250-item invoice). A memo has at most 1,000 items (DOMAIN.md 2.2), and the 1,001st must reach
# the service to be refused by name. Fields per row: from-invoice 5 (selected, amount,
# tax_included, tax_amount, description); charges 9 (line, charge, amount, quantity,
# service_start, service_end, tax_included, tax_amount, description); apply 1 per document +
# 1 per open item. Largest memo form: 1,001 charge lines x 10 + 11 header fields (csrf, type,
# account, memo_date, reason_code, comments, the tax box, the type's flag, idempotency_key,
# action or preview) = 10,021. 20,000 is that with room to spare, and lets the apply page take
# an account with 500 open documents averaging 38 open items each.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 10  # a working day: the absolute limit of a session
# A session unused this long ends too (billing/middleware.py IdleSessionTimeoutMiddleware).
SESSION_IDLE_TIMEOUT = int(os.environ.get("DJANGO_SESSION_IDLE_MINUTES", "30")) * 60
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A deployment serves HTTPS (behind a proxy that sets X-Forwarded-Proto); `make run` serves plain
# HTTP on 127.0.0.1 and says so with DJANGO_HTTPS=0, which turns the HTTPS-only settings off.
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Content-Security-Policy (django-csp): only our own scripts and styles, none inline (no
# `style=""`, no `hx-on`, no `<script>` bodies: behaviour lives in static/js, looks in static/css).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # WeasyPrint logs every layout step at INFO; only its warnings (a refused URL) matter.
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Third-party tax engine (DOMAIN.md 2.6): URL and timeout are billing settings; credentials only
# ever come from the environment.
TAX_ENGINE_USERNAME = os.environ.get("TAX_ENGINE_USERNAME", "")
TAX_ENGINE_PASSWORD = os.environ.get("TAX_ENGINE_PASSWORD", "")
# The payment gateway (payments.gateway): its URL ("simulated", the default, is the built-in
# gateway the demo uses), the seconds to wait for it, and its credentials.
PAYMENT_GATEWAY_URL = os.environ.get("PAYMENT_GATEWAY_URL", "simulated")
PAYMENT_GATEWAY_TIMEOUT = float(os.environ.get("PAYMENT_GATEWAY_TIMEOUT", "10"))
PAYMENT_GATEWAY_USERNAME = os.environ.get("PAYMENT_GATEWAY_USERNAME", "")
PAYMENT_GATEWAY_PASSWORD = os.environ.get("PAYMENT_GATEWAY_PASSWORD", "")

# Email (customer documents, docs/documents.md): SMTP when EMAIL_HOST is set (a deployment);
# otherwise each message is written as a file into EMAIL_FILE_PATH (development and `make run`),
# so nothing leaves the machine by accident. DJANGO_EMAIL_BACKEND overrides both.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = Path(os.environ.get("DJANGO_EMAIL_FILE_PATH", BASE_DIR / "sent_emails"))
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@localhost")

# Lists: rows per page, and how far an approximate count looks before it says "more than".
PAGE_SIZE = 50
APPROXIMATE_COUNT_LIMIT = 1000

# The REST API (/api/v1/, docs/api.md): personal tokens or the browser's session; one permission
# per endpoint (api/permissions.py); JSON only (DRF's browsable pages run inline script, which the
# Content-Security-Policy refuses: the docs page is Swagger UI).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its challenge makes an unauthenticated request a 401.
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ActionPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Memodesk API",
    "DESCRIPTION": "Credit and debit memos, accounts and invoices. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
}
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "600/minute")
# The cache the per-token request counts live in (api/throttling.py).
API_THROTTLE_CACHE = "default"
API_IDEMPOTENCY_HOURS = max(24, int(os.environ.get("API_IDEMPOTENCY_HOURS", "24")))

# The cache: Redis (or Valkey) when CACHE_URL names one, shared by every process and machine;
# otherwise each process's own memory, which needs nothing more but counts per process.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "memodesk",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

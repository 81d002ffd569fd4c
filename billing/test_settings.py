"""Test settings: only what speeds the tests up (or what a test run cannot have)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)

from billing.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No collectstatic before tests: serve and resolve static files straight from the finders.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
SECURE_SSL_REDIRECT = False
# Tasks run inline unless a test drives a worker itself.
TASKS = {
    "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    # For tests that run real `db_worker` processes (bill-run takeover after a SIGKILL).
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}
# Small chunks and short leases, so tests see several chunks and takeovers quickly.
BILL_RUN_CHUNK_SIZE = 10
BILL_RUN_LEASE_SECONDS = 2
# The live server of the browser tests speaks plain HTTP on localhost.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
WHITENOISE_AUTOREFRESH = True  # no staticfiles/ folder in tests: serve from the finders
WHITENOISE_USE_FINDERS = True

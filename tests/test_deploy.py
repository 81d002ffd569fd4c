"""Production settings (DESIGN.md rule 11): `check --deploy` is clean with production env vars, and
the settings refuse to start without a secret key unless debug is asked for."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
KEY_ALPHABET = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"


def production_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(60))


def manage(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    """Run manage.py with the real settings module and only the given Django/DB variables."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_"))
    }
    environ["DJANGO_SETTINGS_MODULE"] = "billing.settings"
    environ.update({key: value for key, value in env.items() if value is not None})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("debug", [None, "0", "false"], ids=["unset", "0", "false"])
def test_check_deploy_is_clean_in_production(debug):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG=debug,
        DJANGO_SECRET_KEY=production_key(),
        DJANGO_ALLOWED_HOSTS="memodesk.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


def test_check_deploy_flags_a_weak_secret_key():
    """The check above means something: the same run with a short key fails."""
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="too-short",
        DJANGO_ALLOWED_HOSTS="memodesk.example.com",
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_check_deploy_flags_debug_on():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="1",
        DJANGO_SECRET_KEY=production_key(),
        DJANGO_ALLOWED_HOSTS="memodesk.example.com",
    )
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


@pytest.mark.parametrize("debug", [None, "0"], ids=["unset", "0"])
@pytest.mark.parametrize("key", [None, ""], ids=["unset", "empty"])
def test_settings_refuse_to_start_without_a_secret_key(debug, key):
    result = manage("check", DJANGO_DEBUG=debug, DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_debug_mode_starts_without_a_secret_key():
    """Development (`make run`) needs no key: a development one is used only with debug on."""
    result = manage("check", DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_values():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS > 0, s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'])",
        DJANGO_SECRET_KEY=production_key(),
        DJANGO_ALLOWED_HOSTS="memodesk.example.com, admin.memodesk.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "False True True True True ['memodesk.example.com', 'admin.memodesk.example.com'] "
        "django.db.backends.sqlite3"
    )


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(production_key() + "\n")
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY_FILE=str(key_file),
        DJANGO_ALLOWED_HOSTS="memodesk.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_key_file_is_a_clear_error(tmp_path):
    result = manage("check", DJANGO_SECRET_KEY_FILE=str(tmp_path / "nowhere"))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE" in result.stderr and "ImproperlyConfigured" in result.stderr


def test_plain_http_switches_the_https_only_settings_off():
    """`make run` serves http://127.0.0.1 with debug off: Secure cookies would never come back."""
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS)",
        DJANGO_SECRET_KEY=production_key(),
        DJANGO_HTTPS="0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False False False False 0"

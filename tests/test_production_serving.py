"""The production path (`make run`, a deployment): debug off, a collected static manifest served by
whitenoise, the HTTPS-only settings switched off by DJANGO_HTTPS=0 for plain HTTP on 127.0.0.1.

The test settings swap the static storage for one that needs no manifest, so no other test can see
a page that only fails in production ("Missing staticfiles manifest entry"). This one builds the
manifest with `collectstatic`, starts gunicorn with the real settings, and signs in over HTTP.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "memodesk-demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """gunicorn on a fresh SQLite database with the demo data, as `make run` starts it."""
    tmp = tmp_path_factory.mktemp("production")
    key_file = tmp / "secret_key"
    key_file.write_text("production-test-" + "k" * 50)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="billing.settings",
        DJANGO_DEBUG="0",
        DJANGO_HTTPS="0",
        DJANGO_SECRET_KEY_FILE=str(key_file),
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
    )

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )

    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    seeded = manage("seed_demo", "--if-empty", "--demo-users").stdout
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "billing.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/login/", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # A first answer slower than the timeout (a loaded machine) is a retry, not a failure.
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("gunicorn did not start:\n" + (server.stdout.read() or ""))
            time.sleep(0.2)
    yield base, seeded
    server.terminate()
    server.wait(timeout=10)


class Browser:
    """Just enough of a browser: cookies, and a CSRF token read from the form."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str):
        try:
            return self.opener.open(self.base + path, timeout=10)
        except urllib.error.HTTPError as error:
            return error

    def post(self, path: str, data: dict):
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        request.add_header("Referer", self.base + path)
        try:
            return self.opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            return error


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def static_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_login_page_and_its_css_and_js_are_served_with_debug_off(production_server):
    base, _ = production_server
    browser = Browser(base)
    login = browser.get("/login/")
    assert login.status == 200
    html = login.read().decode()
    links = static_links(html)
    # Bootstrap's CSS and JS, htmx and our own files, each by its hashed manifest name.
    for name in (
        "favicon.svg",
        "bootstrap.min.css",
        "memodesk.css",
        "htmx-2.min.js",
        "memodesk.js",
    ):
        assert any(name.split(".")[0] in link for link in links), (name, links)
    assert all(re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", link) for link in links), links
    for link in links:
        asset = browser.get(link)
        assert asset.status == 200, link
        assert asset.headers["Cache-Control"].startswith("max-age="), link
    assert "default-src 'self'" in login.headers["Content-Security-Policy"]


def test_an_operator_signs_in_and_works_with_debug_off(production_server):
    base, _ = production_server
    browser = Browser(base)
    token = csrf_token(browser.get("/login/").read().decode())
    home = browser.post(
        "/login/", {"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert home.status == 200 and home.url == base + "/"
    assert "Oscar Martinez" in home.read().decode()
    for path in ("/accounts/", "/invoices/", "/memos/", "/bill-runs/", "/bill-runs/new/"):
        page = browser.get(path)
        assert page.status == 200, path
        assert "Content-Security-Policy" in page.headers
    memo_list = browser.get("/memos/").read().decode()
    memo = re.search(r'href="(/memos/(?:CM|DM)\d+/)"', memo_list).group(1)
    assert browser.get(memo).status == 200
    missing = browser.get("/memos/CM99999999/")
    assert missing.status == 404
    assert "Memodesk" in missing.read().decode()  # our 404 page, not a server error


def test_make_run_said_it_created_the_demo_users(production_server):
    _, seeded = production_server
    assert "Created the demo users admin, operator, reviewer, viewer" in seeded

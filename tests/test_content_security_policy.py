"""Content-Security-Policy: only the site's own scripts and styles, nothing inline.

The header is set on every response (django-csp). For it to hold without breaking a page, no
template may carry an inline script, inline style, event-handler attribute or `hx-on` (which htmx
runs through eval): behaviour lives in static/js/memodesk.js, looks in static/css/memodesk.css.
The browser tests fail on any CSP violation Chromium reports (tests/browser/conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE = {
    "inline style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "event-handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "hx-on attribute": re.compile(r"\shx-on(?::|-|\w)", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_style(template):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.name}: {found}"


def test_the_checks_above_can_fail():
    sample = '<div style="x"></div><script>alert(1)</script><a onclick="x()" hx-on:click="y">'
    assert all(
        INLINE[what].search(sample)
        for what in ("inline style attribute", "inline <script>", "event-handler attribute")
    )
    assert INLINE["hx-on attribute"].search(sample)
    assert not INLINE["inline <script>"].search('<script src="/static/x.js" defer></script>')


@pytest.mark.parametrize("path", ["/login/", "/", "/memos/", "/admin/"])
def test_every_response_carries_the_policy(client, billing_admin, path):
    client.force_login(billing_admin)
    policy = client.get(path)["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy

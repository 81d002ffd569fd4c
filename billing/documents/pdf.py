"""Render a customer document to PDF with WeasyPrint, from one Django template per kind.

WeasyPrint never fetches anything over the network: the stylesheet is read from this package,
the seller's logo from storage (embedded as a data: URL), and the url_fetcher refuses every URL
but data: and files under the static and media folders.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.template.loader import render_to_string

STYLESHEET = Path(__file__).with_name("document.css")


class RefusedURL(ValueError):
    """WeasyPrint asked for a URL a customer document may not load."""


class PdfUnavailable(RuntimeError):
    """WeasyPrint cannot load its system libraries here (Pango): no PDF can be made."""


NO_PANGO = (
    "PDFs cannot be made on this server: WeasyPrint needs Pango (Debian: libpango-1.0-0 "
    "libpangoft2-1.0-0 and a font), as the README's Customer documents section says."
)


def weasyprint():
    """The weasyprint module, imported when a PDF is first made (the rest of the product runs
    without Pango); PdfUnavailable, with what to install, when its libraries are missing."""
    try:
        import weasyprint
        import weasyprint.urls
    except (OSError, ImportError) as exc:
        raise PdfUnavailable(NO_PANGO) from exc
    return weasyprint


def allowed_roots() -> list[Path]:
    roots = [Path(settings.MEDIA_ROOT), Path(settings.STATIC_ROOT)]
    roots += [Path(entry) for entry in settings.STATICFILES_DIRS]
    return [root.resolve() for root in roots]


def local_url_fetcher():
    """A WeasyPrint fetcher for data: URLs and local files under MEDIA_ROOT or the static
    folders; nothing else (no http, no https, no file outside them)."""

    class LocalURLFetcher(weasyprint().urls.URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme == "file":
                path = Path(unquote(parts.path)).resolve()
                if not any(path.is_relative_to(root) for root in allowed_roots()):
                    raise RefusedURL(f"Customer documents load no file outside media/static: {url}")
            elif parts.scheme != "data":
                raise RefusedURL(f"Customer documents load no URL but local files: {url[:80]}")
            return super().fetch(url, headers)

    return LocalURLFetcher(allowed_protocols={"data", "file"}, allow_redirects=False)


@functools.cache
def stylesheet():
    return weasyprint().CSS(string=STYLESHEET.read_text(), url_fetcher=local_url_fetcher())


def logo_data_url(logo) -> str:
    """The seller's logo as a data: URL, read from storage; empty without a logo (or when its
    file is gone: the document is still rendered, without it)."""
    if not logo:
        return ""
    try:
        with default_storage.open(logo.name, "rb") as handle:
            content = handle.read()
    except OSError:
        return ""
    mime = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def render_pdf(template_name: str, context: dict) -> bytes:
    html = render_to_string(template_name, context)
    document = weasyprint().HTML(string=html, base_url=None, url_fetcher=local_url_fetcher())
    return document.write_pdf(stylesheets=[stylesheet()])

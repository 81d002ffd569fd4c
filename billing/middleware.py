"""Login required everywhere, with an htmx-friendly answer for expired sessions; signed-in
answers never stored."""

import time

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect


class HtmxAwareLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, except that an htmx request gets HX-Redirect.

    Without this, an expired session would swap the login form into the middle of a page.
    The login page's `next` is the page the user was on (HX-Current-URL), not the fragment URL.
    """

    def handle_no_permission(self, request, view_func):
        if getattr(request, "htmx", False):
            next_url = request.htmx.current_url_abs_path or request.get_full_path()
            login = redirect_to_login(
                next_url, self.get_login_url(view_func), self.get_redirect_field_name(view_func)
            )
            return HttpResponseClientRedirect(login.url)
        return super().handle_no_permission(request, view_func)


class IdleSessionTimeoutMiddleware:
    """Ends a signed-in session that has been idle longer than SESSION_IDLE_TIMEOUT seconds.

    SESSION_COOKIE_AGE bounds a session from its start; this bounds it from the last request, so a
    desk left signed in does not stay open all day. The last-seen time is written at most once a
    minute, not on every request (each write is a session save). After a timeout the request goes
    on signed out, so the login check that follows sends the user to the login page (htmx: a
    client redirect) with a message saying why.
    """

    WRITE_EVERY = 60  # seconds

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.contrib import auth, messages

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(self.SESSION_KEY)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_TIMEOUT:
                auth.logout(request)
                minutes = settings.SESSION_IDLE_TIMEOUT // 60
                messages.info(
                    request,
                    f"You were signed out after {minutes} minutes without activity. "
                    "Sign in again to go on.",
                )
            elif last_seen is None or now - last_seen >= self.WRITE_EVERY:
                request.session[self.SESSION_KEY] = now
        return self.get_response(request)

    SESSION_KEY = "memodesk_last_seen"


class NoStoreForSignedInMiddleware:
    """`Cache-Control: private, no-store` on every answer to a signed-in user: pages, htmx
    partials, redirects and exports.

    Without it, Back shows the browser's stored copy of a create form, whose resubmit replays
    that form's idempotency key, and a shared proxy could keep one user's data. Only
    Cache-Control is touched: Vary (HX-Request, Cookie) stays as the view and the session set
    it. Static files are answered by WhiteNoise before this runs and stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response

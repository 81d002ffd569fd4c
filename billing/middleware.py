"""Login required everywhere, with an htmx-friendly answer for expired sessions; signed-in
answers never stored."""

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

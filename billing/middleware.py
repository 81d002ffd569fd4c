"""Login required everywhere, with an htmx-friendly answer for expired sessions."""

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
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

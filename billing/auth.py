"""Signing in: what a locked-out user sees (django-axes), and the permission backend."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a user's permissions (their own and their groups') in one
    query where ModelBackend makes two. Every view checks a permission (DESIGN.md rule 2), so
    every signed-in request saves a query. Same answers, same per-request cache."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(
                    Q(pk__in=Permission.objects.filter(user=user_obj).values("pk"))
                    | Q(pk__in=Permission.objects.filter(group__user=user_obj).values("pk"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                )
            }
        return user_obj._perm_cache


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        "Too many failed sign-ins. Signing in is locked for "
        f"{minutes} minute{'s' if minutes != 1 else ''}; an administrator can unlock it sooner."
    )


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The login page again, with the lockout in words where the form's errors show (429).

    The form is not bound: validating it would try the password once more, which counts as
    another failure while locked out.
    """
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "lockout": lockout_message(),
        "next": request.POST.get("next", request.GET.get("next", "")),
    }
    return render(request, "registration/login.html", context, status=429)

"""How the Django admin writes through the services (DESIGN.md rule 1) and shows their refusals.

The admin's save and delete views run in one transaction. A ModelAdmin that saves or deletes
through a service turns the service's refusal (ValidationError, PermissionDenied) into
ServiceRefused; the views below catch it outside that transaction, so everything the request
wrote (the admin's own LogEntry included) is rolled back, and show it as an error message in the
service's words, never as a 500. A database constraint the form could not check (a concurrent
write, a column not on the form) is caught the same way and shown as the constraint's
violation_error_message, never by its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext, quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, router, transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy


class ServiceRefused(Exception):
    """A service refused what the admin asked; `message` is what the user reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def refusal_text(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or "You do not have permission to do that."


@contextmanager
def refusals_as_messages() -> Iterator[None]:
    """Around a service call in save_model/delete_model: its refusal becomes ServiceRefused."""
    try:
        yield
    except (ValidationError, PermissionDenied) as exc:
        raise ServiceRefused(refusal_text(exc)) from exc


def integrity_message(model, exc: IntegrityError) -> str:
    """A database refusal in words: the violated constraint's message when the error names one
    of the model's constraints (PostgreSQL and SQLite both quote the name), else a sentence."""
    text = str(exc)
    for constraint in model._meta.constraints:
        if (
            constraint.name in text
            and constraint.violation_error_message != constraint.default_violation_error_message
        ):
            return f"{constraint.get_violation_error_message()} Nothing was saved."
    return (
        f"The {model._meta.verbose_name} was not saved: it conflicts with data saved in the "
        "meantime. Reload the page and try again."
    )


class WordsAdmin(admin.ModelAdmin):
    """A save or delete the database refuses ends as an error message in words, not a 500."""

    def change_page(self, object_id) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[object_id],
            current_app=self.admin_site.name,
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as exc:
            self.message_user(request, integrity_message(self.model, exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except IntegrityError as exc:
            self.message_user(request, integrity_message(self.model, exc), messages.ERROR)
            return HttpResponseRedirect(self.change_page(object_id))


class ServiceWritesAdmin(WordsAdmin):
    """Saves (in `save_model`) and deletes (`delete_through_service`) go through services.

    Deletes, single or bulk, are refused with a message when the service refuses; the bulk
    action deletes one by one, each in its own transaction, and says which were refused.
    """

    actions = ["delete_selected"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def deletion_refusal(self, request, obj) -> str | None:
        """Why `obj` cannot be deleted, shown before the confirmation page (the service decides
        again when it is confirmed)."""
        return None

    def delete_through_service(self, request, obj) -> None:
        raise NotImplementedError(f"{type(self).__name__} must delete through a service")

    def delete_model(self, request, obj) -> None:
        with refusals_as_messages():
            self.delete_through_service(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            refusal = self.deletion_refusal(request, obj)
            if refusal:
                self.message_user(request, refusal, messages.ERROR)
                return HttpResponseRedirect(self.change_page(quote(obj.pk)))
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(self.change_page(object_id))

    @admin.action(
        permissions=["delete"],
        description=gettext_lazy("Delete selected %(verbose_name_plural)s"),
    )
    def delete_selected(self, request, queryset):
        """Django's confirmation page first; once confirmed, each row through the service."""
        if request.POST.get("post"):
            _, _, perms_needed, protected = self.get_deleted_objects(queryset, request)
            if not perms_needed and not protected:
                self._delete_one_by_one(request, queryset)
                return None
        return django_delete_selected(self, request, queryset)

    def _delete_one_by_one(self, request, queryset) -> None:
        deleted = []
        for obj in queryset:
            shown = str(obj)
            try:
                with transaction.atomic(using=router.db_for_write(self.model)):
                    self.log_deletions(request, [obj])
                    self.delete_model(request, obj)
            except ServiceRefused as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                deleted.append(shown)
        if deleted:
            count = len(deleted)
            self.message_user(
                request,
                f"Deleted {count} {model_ngettext(self.opts, count)}: {', '.join(deleted)}.",
                messages.SUCCESS,
            )

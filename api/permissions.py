"""Which Django permission each API endpoint needs: one mapping, the same permissions as the
matching page or action of the UI (billing/permissions.py, DOMAIN.md section 5)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from billing import permissions as p

USE_API = p.USE_API

# (resource, action) -> the permission of the page or button that does the same.
ACTION_PERMISSIONS: dict[tuple[str, str], str] = {
    ("schema", "read"): USE_API,
    ("accounts", "list"): p.VIEW_ACCOUNTS,
    ("accounts", "retrieve"): p.VIEW_ACCOUNTS,
    # Accounts, subscriptions and usage are kept in the Django admin (its model permissions),
    # which the Billing admin role holds (usage: the Billing operator too, who runs the bills).
    ("accounts", "create"): p.ADD_ACCOUNT,
    ("accounts", "partial_update"): p.CHANGE_ACCOUNT,
    # One account's bill run: the permission of creating a bill run.
    ("accounts", "billing_documents"): p.MANAGE_BILL_RUNS,
    ("subscriptions", "list"): p.VIEW_SUBSCRIPTIONS,
    ("subscriptions", "retrieve"): p.VIEW_SUBSCRIPTIONS,
    ("subscriptions", "create"): p.ADD_SUBSCRIPTION,
    ("subscriptions", "partial_update"): p.CHANGE_SUBSCRIPTION,
    ("usage", "bulk"): p.ADD_USAGE,
    ("usage", "csv_upload"): p.ADD_USAGE,
    ("bill_runs", "list"): p.VIEW_BILL_RUNS,
    ("bill_runs", "retrieve"): p.VIEW_BILL_RUNS,
    ("bill_runs", "create"): p.MANAGE_BILL_RUNS,
    ("bill_runs", "post_run"): p.MANAGE_BILL_RUNS,
    ("bill_runs", "cancel_run"): p.MANAGE_BILL_RUNS,
    ("bill_runs", "retry"): p.MANAGE_BILL_RUNS,
    ("invoices", "list"): p.VIEW_INVOICES,
    ("invoices", "retrieve"): p.VIEW_INVOICES,
    # The catalog is read on the account and memo-from-charges pages (billing/roles.py VIEW).
    ("products", "list"): "billing.view_product",
    ("products", "retrieve"): "billing.view_product",
    ("memos", "list"): p.VIEW_MEMOS,
    ("memos", "retrieve"): p.VIEW_MEMOS,
    ("memos", "from_invoice"): p.CREATE_MEMO_FROM_INVOICE,
    ("memos", "from_charges"): p.CREATE_MEMO_FROM_CHARGES,
    ("memos", "post_memo"): p.PROCESS_MEMO,
    ("memos", "unpost_memo"): p.PROCESS_MEMO,
    ("memos", "cancel_memo"): p.PROCESS_MEMO,
    ("memos", "destroy"): p.DELETE_MEMO,
    # Customer documents (DOMAIN.md 7): the PDF and the emails with the document; sending
    # needs "email documents to customers".
    ("invoices", "pdf"): p.VIEW_INVOICES,
    ("invoices", "emails"): p.VIEW_INVOICES,
    ("invoices", "email"): p.EMAIL_DOCUMENTS,
    ("invoices", "retry_email"): p.EMAIL_DOCUMENTS,
    ("memos", "pdf"): p.VIEW_MEMOS,
    ("memos", "emails"): p.VIEW_MEMOS,
    ("memos", "email"): p.EMAIL_DOCUMENTS,
    ("memos", "retry_email"): p.EMAIL_DOCUMENTS,
    # The memo page's Edit; a new reason code also needs CHANGE_REASON_CODE (checked in the view,
    # as the edit form hides the field without it).
    ("memos", "partial_update"): p.PROCESS_MEMO,
    ("memos", "recalculate_tax"): p.PROCESS_MEMO,
    ("memos", "apply"): p.SETTLE_CREDIT_MEMO,
    ("memos", "unapply"): p.SETTLE_CREDIT_MEMO,
    ("memos", "refund"): p.SETTLE_CREDIT_MEMO,
    ("memos", "reverse_memo"): p.REVERSE_CREDIT_MEMO,
    ("memos", "write_off_memo"): p.REVERSE_CREDIT_MEMO,
    ("memos", "transfer"): p.CHANGE_TRANSFER,
    ("memos", "bulk_transfer"): p.CHANGE_TRANSFER,
    # DOMAIN.md 8 (approvals branch).
    ("memos", "submit_memo"): p.PROCESS_MEMO,
    ("memos", "approve_memo"): p.APPROVE_MEMOS,
    ("memos", "reject_memo"): p.APPROVE_MEMOS,
    ("insights", "read"): p.VIEW_MEMOS,
    ("payments", "list"): p.VIEW_PAYMENTS,
    ("payments", "retrieve"): p.VIEW_PAYMENTS,
    ("payments", "create"): p.MANAGE_PAYMENTS,
    ("payments", "cancel_payment"): p.MANAGE_PAYMENTS,
    ("payments", "apply"): p.MANAGE_PAYMENTS,
    ("payments", "unapply"): p.MANAGE_PAYMENTS,
    ("payment_runs", "list"): p.VIEW_PAYMENTS,
    ("payment_runs", "retrieve"): p.VIEW_PAYMENTS,
    ("payment_runs", "create"): p.MANAGE_PAYMENTS,
    ("payment_runs", "retry"): p.MANAGE_PAYMENTS,
    ("payment_methods", "list"): p.VIEW_PAYMENTS,
    ("payment_methods", "create"): p.MANAGE_PAYMENTS,
    ("payment_methods", "make_default"): p.MANAGE_PAYMENTS,
    ("payment_methods", "remove"): p.MANAGE_PAYMENTS,
    ("auto_pay", "auto_pay"): p.MANAGE_PAYMENTS,
}


def required_permissions(view) -> tuple[str, ...]:
    """The API itself, then the action's own permission. An endpoint missing from the mapping
    fails loudly instead of being open to every token."""
    resource = getattr(view, "resource", None)
    action = getattr(view, "action", None) or "read"
    try:
        return (USE_API, ACTION_PERMISSIONS[(resource, action)])
    except KeyError:
        raise ImproperlyConfigured(
            f"{type(view).__name__}: ({resource!r}, {action!r}) is not in "
            "api.permissions.ACTION_PERMISSIONS"
        ) from None


class ActionPermission(BasePermission):
    """Anonymous -> 401 (DRF asks the authenticators for a challenge); without the permission ->
    403."""

    def has_permission(self, request, view) -> bool:
        needed = required_permissions(view)
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(needed))

"""The one permission mixin every view uses (DESIGN.md rule 2)."""

from __future__ import annotations

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ImproperlyConfigured

# Pages that only need a signed-in user (the home page) say so with this, explicitly.
LOGIN_ONLY: tuple[str, ...] = ()


class PermissionMixin(PermissionRequiredMixin):
    """Login (by LoginRequiredMiddleware) plus `permission_required`, which every view declares.

    A view that forgets to declare it fails loudly instead of being open to everyone. Signed-in
    users without the permission get 403; anonymous ones never get here (the middleware sends
    them to the login page first). The htmx branch of a view is the same view, so it gets the
    same check.
    """

    permission_required: str | tuple[str, ...] | None = None
    raise_exception = True

    def get_permission_required(self):
        if self.permission_required is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} must declare permission_required "
                "(use billing.permissions.LOGIN_ONLY for pages every signed-in user may see)."
            )
        if isinstance(self.permission_required, str):
            return (self.permission_required,)
        return self.permission_required


# The permission codenames of DOMAIN.md section 5, named once.
VIEW_ACCOUNTS = "billing.view_account"
VIEW_INVOICES = "billing.view_invoice"
VIEW_BILL_RUNS = "billing.view_billrun"
MANAGE_BILL_RUNS = "billing.manage_billrun"
CONFIGURE_BILLING = "billing.configure_billing"
VIEW_MEMOS = "memos.view_memo"
CREATE_MEMO_FROM_INVOICE = "memos.create_memo_from_invoice"
CREATE_MEMO_FROM_CHARGES = "memos.create_memo_from_charges"
PROCESS_MEMO = "memos.process_memo"
SETTLE_CREDIT_MEMO = "memos.settle_credit_memo"
REVERSE_CREDIT_MEMO = "memos.reverse_credit_memo"
CHANGE_REASON_CODE = "memos.change_reason_code"
DELETE_MEMO = "memos.delete_memo"
CHANGE_TRANSFER = "memos.change_transferred_to_accounting"
OVERRIDE_TRANSFER = "memos.override_transferred_to_accounting"
APPROVE_MEMOS = "memos.approve_memo"
USE_API = "api.use_api"
# The Django admin's model permissions for what is fed from other systems (the API too).
VIEW_SUBSCRIPTIONS = "billing.view_subscription"
ADD_ACCOUNT = "billing.add_account"
CHANGE_ACCOUNT = "billing.change_account"
ADD_SUBSCRIPTION = "billing.add_subscription"
CHANGE_SUBSCRIPTION = "billing.change_subscription"
ADD_USAGE = "billing.add_usagerecord"
VIEW_PAYMENTS = "payments.view_payments"
MANAGE_PAYMENTS = "payments.manage_payments"

"""The four roles of DOMAIN.md section 5 and the permissions each group holds.

The groups are created by a migration (memos/migrations) from this table, and the tests check
the table against the permission matrix, so there is one place that says who may do what.
"""

from billing import permissions as p

BILLING_OPERATOR = "Billing operator"
ACCOUNTING_REVIEWER = "Accounting reviewer"
BILLING_VIEWER = "Billing viewer"
BILLING_ADMIN = "Billing admin"
# DOMAIN.md 8: approves (and rejects) memos submitted for approval; sees what everyone sees.
BILLING_APPROVER = "Billing approver"

VIEW = [
    p.VIEW_ACCOUNTS,
    p.VIEW_INVOICES,
    p.VIEW_MEMOS,
    p.VIEW_BILL_RUNS,
    # Pages that show accounts' catalog and subscriptions read these too.
    "billing.view_charge",
    "billing.view_product",
    "billing.view_subscription",
    # Every role may use the REST API with their own tokens (it grants what the role grants).
    p.USE_API,
    p.VIEW_PAYMENTS,
]
OPERATE = [
    p.CREATE_MEMO_FROM_INVOICE,
    p.CREATE_MEMO_FROM_CHARGES,
    p.PROCESS_MEMO,
    p.SETTLE_CREDIT_MEMO,
    p.MANAGE_BILL_RUNS,
    # Usage fed from other systems (the API): what the operator's bill runs bill.
    p.ADD_USAGE,
    p.MANAGE_PAYMENTS,
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    BILLING_OPERATOR: VIEW + OPERATE,
    ACCOUNTING_REVIEWER: VIEW + [p.CHANGE_TRANSFER],
    BILLING_VIEWER: VIEW,
    BILLING_ADMIN: VIEW
    + OPERATE
    + [
        p.REVERSE_CREDIT_MEMO,
        p.CHANGE_REASON_CODE,
        p.CHANGE_TRANSFER,
        p.OVERRIDE_TRANSFER,
        p.CONFIGURE_BILLING,
        # Accounts and subscriptions, kept in the Django admin and fed by the API.
        p.ADD_ACCOUNT,
        p.CHANGE_ACCOUNT,
        p.ADD_SUBSCRIPTION,
        p.CHANGE_SUBSCRIPTION,
        p.APPROVE_MEMOS,
    ],
    BILLING_APPROVER: VIEW + [p.APPROVE_MEMOS],
}
# Nobody's role has p.DELETE_MEMO: deleting a canceled memo is granted to a person, on purpose.

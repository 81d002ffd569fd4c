"""Template context every page needs: the navigation and the signed-in user's role."""

from django.urls import reverse

from billing.backends import role_names

NAVIGATION = [
    ("Home", "home", None),
    ("Accounts", "billing:account_list", "billing.view_account"),
    ("Invoices", "billing:invoice_list", "billing.view_invoice"),
    ("Memos", "memos:memo_list", "memos.view_memo"),
    ("Bill runs", "billing:bill_run_list", "billing.view_billrun"),
    ("Payments", "payments:payment_list", "payments.view_payments"),
    ("Payment runs", "payments:payment_run_list", "payments.view_payments"),
    # DOMAIN.md 8.
    ("Insight", "memos:credit_insight", "memos.view_memo"),
    ("API", "api_tokens:token_list", "api.use_api"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    items = []
    for label, url_name, permission in NAVIGATION:
        if permission and not user.has_perm(permission):
            continue
        url = reverse(url_name)
        active = path == url if url == "/" else path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return {"nav_items": items, "user_role": role_of(user)}


def role_of(user) -> str:
    if user.is_superuser:
        return "Administrator"
    # Read with the permissions the navigation just checked: no query of its own.
    names = role_names(user)
    return ", ".join(names) if names else "No role"

"""Every URL of the project needs a session and a named permission (DESIGN.md rule 2, DOMAIN.md 5).

The walk covers every pattern of the URLconf, so a new URL fails `test_every_url_is_covered` until
its path kwargs are added to `url_kwargs` below, and then gets the anonymous / htmx / no-role /
per-role checks for free.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.generic import TemplateView

from billing import permissions as p
from billing import roles
from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory, UserFactory
from billing.permissions import PermissionMixin
from memos.factories import MemoApplicationFactory, MemoFactory
from memos.models import MemoStatus

# The Django admin has its own tests (tests/test_admin.py); the REST API answers 401/403 in JSON
# rather than sending anyone to the login page (tests/api).
SKIPPED_NAMESPACES = {"admin", "api"}
AUTH_VIEWS = (auth_views.LoginView, auth_views.LogoutView)
PUBLIC_URL_NAMES = {"login", "logout"}

# Pages every signed-in user may open, whatever their role.
LOGIN_ONLY_URL_NAMES = {"home"}

# The URL names that need kwargs, and how to fill them from `objects` (made by the factories).
# Every other URL name must take no kwargs; a pattern with kwargs missing here fails the walk.
KWARGS = {
    "billing:account_detail": lambda o: {"number": o["account"].number},
    "billing:invoice_detail": lambda o: {"number": o["invoice"].number},
    "billing:bill_run_detail": lambda o: {"number": o["bill_run"].number},
    "billing:bill_run_post": lambda o: {"number": o["bill_run"].number},
    "billing:bill_run_cancel": lambda o: {"number": o["bill_run"].number},
    "billing:bill_run_delete": lambda o: {"number": o["bill_run"].number},
    "billing:bill_run_retry": lambda o: {"number": o["bill_run"].number},
    "billing:invoice_post": lambda o: {"number": o["invoice"].number},
    "billing:invoice_cancel": lambda o: {"number": o["invoice"].number},
    "memos:memo_detail": lambda o: {"number": o["memo"].number},
    "memos:memo_create_from_invoice": lambda o: {"number": o["invoice"].number},
    "memos:memo_post": lambda o: {"number": o["memo"].number},
    "memos:memo_submit": lambda o: {"number": o["memo"].number},
    "memos:credit_insight_csv": lambda o: {"view": "reason"},
    "memos:memo_approve": lambda o: {"number": o["memo"].number},
    "memos:memo_reject": lambda o: {"number": o["memo"].number},
    "memos:memo_unpost": lambda o: {"number": o["memo"].number},
    "memos:memo_cancel": lambda o: {"number": o["memo"].number},
    "memos:memo_delete": lambda o: {"number": o["memo"].number},
    "memos:memo_recalculate_tax": lambda o: {"number": o["memo"].number},
    "memos:memo_transfer": lambda o: {"number": o["memo"].number},
    "memos:memo_apply": lambda o: {"number": o["memo"].number},
    "memos:memo_unapply": lambda o: {
        "number": o["memo"].number,
        "application_id": o["application"].pk,
    },
    "memos:memo_refund": lambda o: {"number": o["memo"].number},
    "memos:memo_reverse": lambda o: {"number": o["memo"].number},
    "memos:memo_write_off": lambda o: {"number": o["memo"].number},
    "memos:memo_edit": lambda o: {"number": o["memo"].number},
    "api_tokens:token_revoke": lambda o: {"token_id": 1},
    "payments:payment_detail": lambda o: {"number": o["payment"].number},
    "payments:payment_cancel": lambda o: {"number": o["payment"].number},
    "payments:payment_apply": lambda o: {"number": o["payment"].number},
    "payments:payment_unapply": lambda o: {
        "number": o["payment"].number,
        "application_id": o["payment_application"].pk,
    },
    "payments:payment_run_detail": lambda o: {"number": o["payment_run"].number},
    "payments:payment_run_retry": lambda o: {"number": o["payment_run"].number},
    "payments:payment_run_cancel": lambda o: {"number": o["payment_run"].number},
    "billing:invoice_pdf": lambda o: {"number": o["invoice"].number},
    "billing:invoice_email": lambda o: {"number": o["invoice"].number},
    "billing:invoice_email_retry": lambda o: {"number": o["invoice"].number, "email_id": 1},
    "memos:memo_pdf": lambda o: {"number": o["memo"].number},
    "memos:memo_email": lambda o: {"number": o["memo"].number},
    "memos:memo_email_retry": lambda o: {"number": o["memo"].number, "email_id": 1},
    "payments:payment_method_new": lambda o: {"number": o["payment_method"].account.number},
    "payments:payment_method_default": lambda o: {
        "number": o["payment_method"].account.number,
        "method_id": o["payment_method"].pk,
    },
    "payments:payment_method_remove": lambda o: {
        "number": o["payment_method"].account.number,
        "method_id": o["payment_method"].pk,
    },
    "payments:auto_pay": lambda o: {"number": o["payment_method"].account.number},
}


def payment_objects(account) -> dict:
    """A processed payment applied to an invoice of `account`, a completed payment run, and two
    payment methods (the second, not the default, is the one the method URLs name)."""
    from billing.numbering import next_number
    from memos.services.settlement import ApplicationTarget
    from payments.models import PaymentRun, PaymentRunStatus
    from payments.services.methods import add_payment_method
    from payments.services.settlement import record_payment
    from tests.payments.helpers import invoice as invoice_with_items

    invoice = invoice_with_items(account, ["40.00"])

    payment = record_payment(
        account=account,
        amount="20.00",
        payment_date=invoice.invoice_date,
        method="check",
        actor=None,
        targets=[ApplicationTarget(invoice=invoice, amount="5.00")],
    )
    run = PaymentRun.objects.create(
        number=next_number("payment_run"),
        target_date=invoice.invoice_date,
        status=PaymentRunStatus.COMPLETED,
    )
    add_payment_method(
        account=account, method_type="credit_card", label="Visa ending 4242", gateway_token="t1"
    )
    method = add_payment_method(
        account=account, method_type="ach", label="Checking ending 6789", gateway_token="t2"
    )
    return {
        "payment": payment,
        "payment_application": payment.applications.get(),
        "payment_run": run,
        "payment_method": method,
    }


def walk(patterns, namespace: str = "", prefix: str = ""):
    """(qualified name, route, pattern) of every URLPattern, outside the skipped namespaces."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            if ns in SKIPPED_NAMESPACES:
                continue
            qualified = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from walk(entry.url_patterns, qualified, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name, prefix + str(entry.pattern), entry


def all_patterns():
    return list(walk(get_resolver().url_patterns))


def app_patterns():
    return [
        (name, route, pat) for name, route, pat in all_patterns() if name not in PUBLIC_URL_NAMES
    ]


def view_class(pattern: URLPattern):
    return getattr(pattern.callback, "view_class", None)


@pytest.fixture
def objects(db):
    account = AccountFactory()
    invoice = InvoiceFactory(account=account)
    # A posted credit memo with credit left, so its apply and refund pages open.
    memo = MemoFactory(account=account, status=MemoStatus.POSTED)
    return {
        "account": account,
        "invoice": invoice,
        "memo": memo,
        "application": MemoApplicationFactory(credit_memo=memo, invoice=invoice),
        "bill_run": BillRunFactory(),
        **payment_objects(account),
    }


# The read pages: every role of DOMAIN.md section 5 opens each of them (200).
READ_PAGES = {
    "home",
    "billing:account_list",
    "billing:account_detail",
    "billing:invoice_list",
    "billing:invoice_detail",
    "billing:bill_run_list",
    "billing:bill_run_detail",
    "memos:memo_list",
    "memos:memo_export",
    "memos:memo_detail",
    "payments:payment_list",
    "payments:payment_export",
    "payments:payment_detail",
    "payments:payment_run_list",
    "payments:payment_run_detail",
    # The customer documents (DOMAIN.md 7): whoever may view a document may download its PDF.
    "billing:invoice_pdf",
    "memos:memo_pdf",
}


@pytest.fixture
def urls(objects) -> dict[str, str]:
    """Every app URL (by qualified name) with its path converters filled from real objects."""
    result = {}
    for name, _route, _pattern in app_patterns():
        kwargs = KWARGS[name](objects) if name in KWARGS else {}
        result[name] = reverse(name, kwargs=kwargs)
    return result


def views_by_name() -> dict[str, type]:
    return {name: view_class(pattern) for name, _route, pattern in app_patterns()}


def expected_get_status(user, view) -> int:
    """What a signed-in user's GET gets: 403 without the view's permissions (checked before the
    method, so POST-only endpoints answer 403 too), 405 on a POST-only endpoint, else 200."""
    if not user.has_perms(view().get_permission_required()):
        return 403
    return 200 if hasattr(view, "get") else 405


def test_the_walk_finds_the_known_pages():
    names = {name for name, _, _ in all_patterns()}
    assert {
        "home",
        "login",
        "logout",
        "billing:account_list",
        "billing:account_detail",
        "billing:invoice_list",
        "billing:invoice_detail",
        "billing:bill_run_list",
        "billing:bill_run_detail",
        "billing:bill_run_new",
        "billing:bill_run_post",
        "billing:bill_run_cancel",
        "billing:bill_run_delete",
        "billing:bill_run_retry",
        "memos:memo_list",
        "memos:memo_detail",
    } <= names
    assert not any(name and name.startswith("admin:") for name in names)


def test_every_url_is_covered():
    """A new URL with path converters must be added to KWARGS (so it gets the checks below)."""
    for name, route, pattern in app_patterns():
        assert name, f"URL pattern {route!r} has no name: name it so it can be reversed and tested"
        converters = set(pattern.pattern.converters)
        if converters:
            assert name in KWARGS, f"{name} ({route}) takes {converters}: add it to KWARGS"
    stale = set(KWARGS) - {name for name, _, _ in app_patterns()}
    assert not stale, f"KWARGS names URLs that no longer exist: {stale}"


@pytest.mark.django_db
def test_kwargs_cover_every_converter(objects):
    for name, _route, pattern in app_patterns():
        if name in KWARGS:
            assert set(KWARGS[name](objects)) == set(pattern.pattern.converters), name


def test_every_view_declares_its_permission():
    for name, route, pattern in all_patterns():
        cls = view_class(pattern)
        assert cls is not None, f"{name} ({route}) is not a class-based view"
        if issubclass(cls, AUTH_VIEWS):
            continue
        assert issubclass(cls, PermissionMixin), f"{cls.__name__} ({route}) lacks PermissionMixin"
        assert cls.permission_required is not None, f"{cls.__name__} declares no permission"
        if name not in LOGIN_ONLY_URL_NAMES:
            assert cls.permission_required != p.LOGIN_ONLY, f"{cls.__name__} is login-only"


def test_a_view_without_permission_required_fails_loudly(rf: RequestFactory, db):
    class Forgetful(PermissionMixin, TemplateView):
        template_name = "billing/home.html"

    request = rf.get("/")
    request.user = UserFactory(is_superuser=True)
    with pytest.raises(ImproperlyConfigured, match="permission_required"):
        Forgetful.as_view()(request)


def assert_login_redirect(location: str, url: str) -> None:
    parts = urlsplit(location)
    assert parts.path == reverse("login"), location
    assert parse_qs(parts.query)["next"] == [url], location


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_login_page(client, urls):
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert_login_redirect(response["Location"], url)


@pytest.mark.django_db
def test_anonymous_htmx_request_gets_a_client_redirect(client, urls):
    for name, url in urls.items():
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200, name
        assert "HX-Redirect" in response, name
        assert_login_redirect(response["HX-Redirect"], url)
        # Nothing of the login form (or the page) is swapped into the page.
        assert b"<form" not in response.content, name


@pytest.mark.django_db
def test_anonymous_htmx_redirect_returns_to_the_page_not_the_fragment(client, urls):
    current = "http://testserver" + urls["billing:invoice_list"] + "?status=posted"
    response = client.get(
        urls["billing:invoice_list"] + "?status=posted&after=abc",
        headers={"HX-Request": "true", "HX-Current-URL": current},
    )
    assert_login_redirect(response["HX-Redirect"], urls["billing:invoice_list"] + "?status=posted")


@pytest.mark.django_db
def test_user_without_a_role_gets_403_everywhere_but_home(client, no_role_user, urls):
    client.force_login(no_role_user)
    for name, url in urls.items():
        expected = 200 if name in LOGIN_ONLY_URL_NAMES else 403
        assert client.get(url).status_code == expected, name
        htmx = client.get(url, headers={"HX-Request": "true"})
        assert htmx.status_code == expected, f"{name} (htmx)"


def test_the_read_pages_exist():
    assert set(views_by_name()) >= READ_PAGES


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "reviewer", "viewer", "billing_admin"])
def test_every_role_reads_the_read_pages(client, request, role, urls):
    client.force_login(request.getfixturevalue(role))
    for name in READ_PAGES:
        response = client.get(urls[name])
        assert response.status_code == 200, f"{role} {name}"
        htmx = client.get(urls[name], headers={"HX-Request": "true"})
        assert htmx.status_code == 200, f"{role} {name} (htmx)"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "reviewer", "viewer", "billing_admin", "superuser"])
def test_every_role_gets_what_its_permissions_allow_everywhere(client, request, role, urls):
    user = request.getfixturevalue(role)
    client.force_login(user)
    views = views_by_name()
    for name, url in urls.items():
        expected = expected_get_status(user, views[name])
        assert client.get(url).status_code == expected, f"{role} {name}"
        htmx = client.get(url, headers={"HX-Request": "true"})
        assert htmx.status_code == expected, f"{role} {name} (htmx)"


# --- the roles of DOMAIN.md section 5 -------------------------------------------------------------

VIEW_PERMISSIONS = [p.VIEW_ACCOUNTS, p.VIEW_INVOICES, p.VIEW_MEMOS, p.VIEW_BILL_RUNS]
OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER = (
    roles.BILLING_OPERATOR,
    roles.ACCOUNTING_REVIEWER,
    roles.BILLING_VIEWER,
    roles.BILLING_ADMIN,
    roles.BILLING_APPROVER,
)

# DOMAIN.md section 5, row by row: permissions -> the roles that hold them.
MATRIX = [
    (VIEW_PERMISSIONS, {OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER}),
    ([p.CREATE_MEMO_FROM_INVOICE], {OPERATOR, ADMIN}),
    ([p.CREATE_MEMO_FROM_CHARGES], {OPERATOR, ADMIN}),
    ([p.PROCESS_MEMO], {OPERATOR, ADMIN}),
    ([p.SETTLE_CREDIT_MEMO], {OPERATOR, ADMIN}),
    ([p.REVERSE_CREDIT_MEMO], {ADMIN}),
    ([p.CHANGE_REASON_CODE], {ADMIN}),
    ([p.DELETE_MEMO], set()),
    ([p.CHANGE_TRANSFER], {REVIEWER, ADMIN}),
    ([p.OVERRIDE_TRANSFER], {ADMIN}),
    ([p.MANAGE_BILL_RUNS], {OPERATOR, ADMIN}),
    ([p.CONFIGURE_BILLING], {ADMIN}),
    ([p.USE_API], {OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER}),
    ([p.EMAIL_DOCUMENTS], {OPERATOR, ADMIN}),
    # What other systems feed through the API (accounts and subscriptions: the Django admin's).
    ([p.VIEW_SUBSCRIPTIONS], {OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER}),
    ([p.ADD_ACCOUNT, p.CHANGE_ACCOUNT, p.ADD_SUBSCRIPTION, p.CHANGE_SUBSCRIPTION], {ADMIN}),
    ([p.ADD_USAGE], {OPERATOR, ADMIN}),
    # DOMAIN.md 8.
    ([p.APPROVE_MEMOS], {APPROVER, ADMIN}),
    ([p.VIEW_PAYMENTS], {OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER}),
    ([p.MANAGE_PAYMENTS], {OPERATOR, ADMIN}),
]


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


@pytest.mark.django_db
def test_role_permissions_match_the_groups_the_migration_made():
    assert set(roles.ROLE_PERMISSIONS) == {OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER}
    for role, permissions in roles.ROLE_PERMISSIONS.items():
        assert group_permissions(role) == set(permissions), role
        assert len(permissions) == len(set(permissions)), f"{role} lists a permission twice"


@pytest.mark.django_db
def test_every_named_permission_exists():
    names = [value for key, value in vars(p).items() if key.isupper() and isinstance(value, str)]
    assert len(names) >= 15
    for name in names:
        app, codename = name.split(".")
        assert Permission.objects.filter(content_type__app_label=app, codename=codename).exists(), (
            name
        )


@pytest.mark.django_db
@pytest.mark.parametrize(("permissions", "holders"), MATRIX, ids=lambda v: str(v))
def test_permission_matrix_row(permissions, holders):
    for role in (OPERATOR, REVIEWER, VIEWER, ADMIN, APPROVER):
        granted = group_permissions(role)
        for permission in permissions:
            assert (permission in granted) == (role in holders), f"{role} / {permission}"


def test_matrix_covers_every_memo_and_billing_action():
    covered = {perm for permissions, _ in MATRIX for perm in permissions}
    named = {value for key, value in vars(p).items() if key.isupper() and isinstance(value, str)}
    assert named <= covered


@pytest.mark.django_db
def test_roles_in_practice(reviewer, operator, viewer, billing_admin):
    assert reviewer.has_perm(p.CHANGE_TRANSFER)
    assert not reviewer.has_perm(p.PROCESS_MEMO)
    assert not reviewer.has_perm(p.OVERRIDE_TRANSFER)
    assert operator.has_perm(p.PROCESS_MEMO) and not operator.has_perm(p.CHANGE_TRANSFER)
    assert not viewer.has_perm(p.PROCESS_MEMO) and viewer.has_perm(p.VIEW_MEMOS)
    for user in (reviewer, operator, viewer, billing_admin):
        assert not user.has_perm(p.DELETE_MEMO)
    only_admin = [
        p.OVERRIDE_TRANSFER,
        p.REVERSE_CREDIT_MEMO,
        p.CHANGE_REASON_CODE,
        p.CONFIGURE_BILLING,
    ]
    for permission in only_admin:
        assert billing_admin.has_perm(permission)
        assert not any(u.has_perm(permission) for u in (reviewer, operator, viewer)), permission
    assert not Group.objects.filter(permissions__codename="delete_memo").exists()

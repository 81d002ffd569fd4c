"""The account page's payment-method and Auto-Pay actions (DOMAIN.md 6): add a payment method,
make one the default, remove one, save Auto-Pay. Every write is a payments service; the account
page (billing) shows them through the payments template tags, so billing imports nothing here."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views import View

from billing import permissions as perms
from billing.bill_run_views import go_to
from billing.models import Account
from billing.permissions import PermissionMixin
from payments.forms import AutoPayForm, PaymentMethodForm
from payments.models import PaymentMethod
from payments.services.methods import (
    add_payment_method,
    make_default_payment_method,
    remove_payment_method,
    set_auto_pay,
)


def account_of(number: str) -> Account:
    return get_object_or_404(Account.objects.select_related("currency"), number=number)


class PaymentMethodAddView(PermissionMixin, View):
    """/accounts/<number>/payment-methods/new/: the form, and adding the method."""

    permission_required = perms.MANAGE_PAYMENTS
    template_name = "payments/payment_method_new.html"

    def get(self, request, number: str) -> HttpResponse:
        return self.render(account_of(number), PaymentMethodForm())

    def post(self, request, number: str) -> HttpResponse:
        account = account_of(number)
        form = PaymentMethodForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                method = add_payment_method(
                    account=account,
                    method_type=data["method_type"],
                    label=data["label"],
                    gateway_token=data["gateway_token"],
                    make_default=data["make_default"],
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                default = " (the default)" if method.is_default else ""
                messages.success(request, f"{method.label}{default} was added to {account.number}.")
                return go_to(request, account.get_absolute_url())
        return self.render(account, form)

    def render(self, account: Account, form) -> HttpResponse:
        return TemplateResponse(
            self.request, self.template_name, {"account": account, "form": form}
        )


class PaymentMethodActionView(PermissionMixin, View):
    """A POST on one payment method of an account; refusals arrive as an error message."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str, method_id: int) -> HttpResponse:
        account = account_of(number)
        method = get_object_or_404(PaymentMethod, pk=method_id, account=account)
        try:
            self.act(method)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return go_to(request, account.get_absolute_url())

    def act(self, method: PaymentMethod) -> None:
        raise NotImplementedError


class PaymentMethodDefaultView(PaymentMethodActionView):
    def act(self, method: PaymentMethod) -> None:
        make_default_payment_method(payment_method=method, actor=self.request.user)
        messages.success(self.request, f"{method.label} is now the default payment method.")


class PaymentMethodRemoveView(PaymentMethodActionView):
    def act(self, method: PaymentMethod) -> None:
        remove_payment_method(payment_method=method, actor=self.request.user)
        messages.success(self.request, f"{method.label} was removed.")


class AccountAutoPayView(PermissionMixin, View):
    """POST /accounts/<number>/auto-pay/: save the account's Auto-Pay switch."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str) -> HttpResponse:
        account = account_of(number)
        form = AutoPayForm(request.POST)
        form.is_valid()  # a checkbox: absent is off, anything else on
        auto_pay = bool(form.cleaned_data.get("auto_pay"))
        try:
            account = set_auto_pay(account=account, auto_pay=auto_pay, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            state = "on" if account.auto_pay else "off"
            messages.success(request, f"Auto-Pay is {state} for {account.number}.")
        return go_to(request, account.get_absolute_url())

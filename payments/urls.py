"""The payments pages' URLs (DESIGN.md): /payments/... and /payment-runs/..."""

from django.urls import path

from payments.views import methods, payments, runs

app_name = "payments"

urlpatterns = [
    path("payments/", payments.PaymentListView.as_view(), name="payment_list"),
    # Before payments/<number>/, which would otherwise take these words for a number.
    path("payments/export/", payments.PaymentExportView.as_view(), name="payment_export"),
    path("payments/new/", payments.RecordPaymentView.as_view(), name="payment_new"),
    path("payments/<doc:number>/", payments.PaymentDetailView.as_view(), name="payment_detail"),
    path(
        "payments/<doc:number>/cancel/",
        payments.PaymentCancelView.as_view(),
        name="payment_cancel",
    ),
    path(
        "payments/<doc:number>/apply/",
        payments.PaymentApplyView.as_view(),
        name="payment_apply",
    ),
    path(
        "payments/<doc:number>/applications/<int:application_id>/unapply/",
        payments.PaymentUnapplyView.as_view(),
        name="payment_unapply",
    ),
    path(
        "accounts/<doc:number>/payment-methods/new/",
        methods.PaymentMethodAddView.as_view(),
        name="payment_method_new",
    ),
    path(
        "accounts/<doc:number>/payment-methods/<int:method_id>/default/",
        methods.PaymentMethodDefaultView.as_view(),
        name="payment_method_default",
    ),
    path(
        "accounts/<doc:number>/payment-methods/<int:method_id>/remove/",
        methods.PaymentMethodRemoveView.as_view(),
        name="payment_method_remove",
    ),
    path("accounts/<doc:number>/auto-pay/", methods.AccountAutoPayView.as_view(), name="auto_pay"),
    path("payment-runs/", runs.PaymentRunListView.as_view(), name="payment_run_list"),
    path("payment-runs/new/", runs.PaymentRunCreateView.as_view(), name="payment_run_new"),
    path(
        "payment-runs/<doc:number>/",
        runs.PaymentRunDetailView.as_view(),
        name="payment_run_detail",
    ),
    path(
        "payment-runs/<doc:number>/cancel/",
        runs.PaymentRunCancelView.as_view(),
        name="payment_run_cancel",
    ),
    path(
        "payment-runs/<doc:number>/retry/",
        runs.PaymentRunRetryView.as_view(),
        name="payment_run_retry",
    ),
]

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.models import Invoice
        from billing.period_services import register_document_date

        # An accounting period an invoice is dated in cannot be deleted (DOMAIN.md 1).
        register_document_date(Invoice, "invoice_date", "invoice")

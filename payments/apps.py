from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from billing.period_services import register_document_date
        from payments.models import Payment

        # An accounting period a payment is dated in cannot be deleted (DOMAIN.md 1).
        register_document_date(Payment, "payment_date", "payment")

    def seed_demo(self, *, actor) -> None:
        """billing's seed_demo calls this after its own data (payments sit above billing)."""
        from payments.demo import seed_payments

        seed_payments(actor=actor)

from django.apps import AppConfig


class MemosConfig(AppConfig):
    name = "memos"
    verbose_name = "Credit and debit memos"

    def ready(self) -> None:
        from billing.period_services import register_document_date
        from memos.models import Memo, Refund

        # An accounting period a memo or refund is dated in cannot be deleted (DOMAIN.md 1).
        register_document_date(Memo, "memo_date", "memo")
        register_document_date(Refund, "refund_date", "refund")

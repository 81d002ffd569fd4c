from django.apps import AppConfig


class MemosConfig(AppConfig):
    name = "memos"
    verbose_name = "Credit and debit memos"

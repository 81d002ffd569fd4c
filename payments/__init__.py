"""Payments and payment runs (DOMAIN.md 6): above billing and memos, which import nothing of it."""

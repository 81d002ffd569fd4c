"""Memo pages: one module per part of the product (lists, the page, create, edit, settlement)."""

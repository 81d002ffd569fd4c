"""The payments pages: payments (list, CSV, one payment, record, actions) and payment runs."""

"""The pieces of `manage.py benchmark` (billing/management/commands/benchmark.py).

scratch   the scratch PostgreSQL database the benchmark builds, measures and drops
data      bulk data at scale (INSERT ... SELECT generate_series) and the create/apply documents
web       pages measured through the real views with django.test.Client
bill_runs bill runs with 1 and 2 worker processes, their peak RSS, and the COPY comparison
workers   the body of a worker process (imports nothing of Django until it has set it up)
report    the goals of the performance issue, the printed table and the JSON

The synthetic bill-run accounts and the worker's statement counting come from
billing/management/commands/benchmark_bill_run.py, which stays the quick tool for bill runs alone.
"""

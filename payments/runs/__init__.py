"""Payment runs (DOMAIN.md 6) on the shared run engine (billing.runs.engine): chunk (what a chunk
does to its accounts), kind (the RunKind), services (what operators do), and payments.tasks."""

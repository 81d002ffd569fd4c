"""Background runs over many accounts (bill runs, payment runs): chunks, leases, resumption and
live counts, shared by every kind of run (engine.RunKind says what a kind brings)."""

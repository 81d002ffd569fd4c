"""Every write of the payments app (DESIGN.md rule 1): payments (settlement), payment methods
(methods), payment runs (runs)."""

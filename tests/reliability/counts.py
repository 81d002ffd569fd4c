"""What the reliability tests did, counted, so a run can be quoted: steps, inputs, operations,
cells, faults and server errors. Printed at the end of the run (tests/reliability/conftest.py)."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
# Free-form lines (e.g. the known server errors a fuzz run met), printed after the counts.
NOTES: list[str] = []


def add(name: str, value: int = 1) -> None:
    COUNTS[name] += value


def note(line: str) -> None:
    NOTES.append(line)

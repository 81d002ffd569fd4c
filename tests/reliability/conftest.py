"""Prints what the reliability tests counted (tests/reliability/counts.py) after the run."""

from __future__ import annotations

from tests.reliability.counts import COUNTS, NOTES


def pytest_terminal_summary(terminalreporter):
    if not COUNTS and not NOTES:
        return
    terminalreporter.section("reliability counts")
    for name in sorted(COUNTS):
        terminalreporter.write_line(f"{name}: {COUNTS[name]:,}")
    for line in NOTES:
        terminalreporter.write_line(line)

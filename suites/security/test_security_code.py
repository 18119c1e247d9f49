"""Security suite, code: Bandit on the source paths of ``security.bandit.paths``.

Findings at or above ``security.bandit.severity`` and ``security.bandit.confidence`` fail;
with ``security.bandit.baseline`` only findings that are not in the baseline do.
"""

from __future__ import annotations

from pytest_athalia import Gate, SecurityScans


def test_bandit(athalia_security: SecurityScans, athalia_gate: Gate) -> None:
    """Bandit finds nothing at or above the environment's severity and confidence thresholds."""
    athalia_security.check_bandit(athalia_gate)

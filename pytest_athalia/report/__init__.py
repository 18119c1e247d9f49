"""Verdicts and what the run shows: SLO verdicts, the gate, the JSON artifact and progress lines.

Internal: the public API is :mod:`pytest_athalia`.
"""

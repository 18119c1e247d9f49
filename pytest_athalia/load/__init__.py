"""Load gates: Locust in a subprocess, its results as values, and their verdicts.

Internal: the public API is :mod:`pytest_athalia`.
"""

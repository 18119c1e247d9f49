"""Security gates: Trivy and Bandit drivers, findings, policy and the scan session.

Internal: the public API is :mod:`pytest_athalia`.
"""

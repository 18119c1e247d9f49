"""The compose stack: lifecycle, compose driver, override, watchdog and cleanup.

Internal: the public API is :mod:`pytest_athalia`.
"""

"""Environment files, settings and secrets: everything read before a stack starts.

Internal: the public API is :mod:`pytest_athalia`.
"""

"""Base images: keep, pull or build the offline base image.

Internal: the public API is :mod:`pytest_athalia`.
"""

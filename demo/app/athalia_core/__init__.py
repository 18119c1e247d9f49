"""Athalia core: the demo web service that pytest-athalia deploys and validates."""

DEFAULT_VERSION = "1.0.0"

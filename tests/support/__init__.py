"""Helpers that tests import (`from tests.support.trivy_db import ...`); not collected as tests."""

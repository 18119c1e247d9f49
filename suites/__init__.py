"""The ready-made suites: ``ci``, ``deployment`` and ``security``.

This folder is their source; the wheel ships it as ``pytest_athalia.suites`` (setuptools' ``package-dir``).
From a clone: ``pytest suites/ci --athalia-env=dev``. From an installed package:
``pytest --pyargs pytest_athalia.suites.ci --athalia-env=PATH`` (or ``pytest_athalia.suites`` for all three).
"""

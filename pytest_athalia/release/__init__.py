"""The release rehearsal: router, traffic probe, triggers, timing and the blue-green state machine.

Internal: the public API is :mod:`pytest_athalia`.
"""

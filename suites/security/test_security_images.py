"""Security suite, images: Trivy on every image of the stack, one test per image and scanner.

Run it with ``pytest suites/security --athalia-env=staging``. The stack need not run: images are
scanned where they are (built with ``docker compose build`` first when missing, see
``security.trivy.build_missing``). Which severities fail is the environment's ``security.trivy.fail_on``.
"""

from __future__ import annotations

from pytest_athalia import Gate, ImageCase, SecurityScans


def test_image(athalia_image_case: ImageCase, athalia_security: SecurityScans, athalia_gate: Gate) -> None:
    """The image has no finding of a failing severity for this scanner (vuln, secret, misconfig or license)."""
    athalia_security.check_image(athalia_image_case, athalia_gate)

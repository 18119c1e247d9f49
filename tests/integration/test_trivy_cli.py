"""The real Trivy binary: the dev extra installs it, and it knows every flag of our command lines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_athalia._errors import ScanError
from pytest_athalia.security._trivy import TrivyOptions, file_command, find_trivy, image_command
from pytest_athalia.testing import unavailable


@pytest.mark.parametrize("sub", ["image", "fs"])
def test_every_flag_we_pass_exists_in_the_real_binary(sub: str) -> None:
    """Each flag of our command lines is listed by the installed trivy's --help (no guessed flags)."""
    try:
        binary = find_trivy()
    except ScanError as exc:
        unavailable(str(exc))
    helptext = subprocess.run([str(binary), sub, "--help"], capture_output=True, text=True, check=True).stdout
    options = TrivyOptions(cache_dir=Path("/c"), ignore_unfixed=True, db_repository="m.local/db:2")
    if sub == "image":
        argv = image_command("trivy", "i", ["vuln", "secret", "misconfig"], options, "/o")
    else:
        argv = file_command("trivy", Path("/f"), ["misconfig", "secret"], options, "/o")
    flags = {arg.split("=")[0] for arg in argv if arg.startswith("--")}
    missing = sorted(flag for flag in flags if f"{flag} " not in helptext)
    assert not missing, f"trivy {sub} does not know {missing}"


def test_trivy_in_this_venv_is_executable() -> None:
    """The dev extra installs the static binary beside Python (the CI relies on it)."""
    try:
        binary = find_trivy()
    except ScanError as exc:
        unavailable(str(exc))
    assert os.access(binary, os.X_OK)

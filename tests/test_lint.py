"""The code stays clean: ruff check and ruff format, as part of the one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


@pytest.mark.parametrize("args", [["check", "src", "tests"], ["format", "--check", "src", "tests"]])
def test_ruff(args: list[str]) -> None:
    result = subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

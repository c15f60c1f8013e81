"""The code stays clean: ruff check and format, mypy strict and the import contracts,
as part of the one test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else (shutil.which(name) or name)


def _run(args: list[str], cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


@pytest.mark.parametrize(
    "args", [["check", "src", "tests", "bench"], ["format", "--check", "src", "tests", "bench"]]
)
def test_ruff(args: list[str]) -> None:
    result = _run([_tool("ruff"), *args])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run([_tool("mypy")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold() -> None:
    result = _run([_tool("lint-imports")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_contracts_catch_a_wrong_import(tmp_path: Path) -> None:
    """The contracts are not vacuous: the domain importing the store breaks both."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    schedule = tmp_path / "src" / "nachfass_bot" / "domain" / "schedule.py"
    schedule.write_text(
        schedule.read_text() + "\nfrom nachfass_bot.adapters.store import Store  # noqa\n"
    )
    result = _run([_tool("lint-imports")], cwd=tmp_path, PYTHONPATH=str(tmp_path / "src"))
    assert result.returncode != 0
    assert "nachfass_bot.domain.schedule -> nachfass_bot.adapters.store" in result.stdout
    assert "2 broken" in result.stdout

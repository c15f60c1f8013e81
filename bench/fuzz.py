"""The long fuzz run: every property test of the suite with many fresh random examples.

    .venv/bin/python bench/fuzz.py [--examples N] [-k EXPRESSION] [pytest options …]

The suite runs each property a few dozen to a few hundred times, derandomized, so that
it stays fast and gives the same result every run. This script runs the same tests with
the ``fuzz`` profile of ``tests/conftest.py``: ``--examples`` (default 2000) examples per
property, new random ones each run. A failure is printed with the smallest example
hypothesis found and a ``@reproduce_failure`` line, and kept in ``.hypothesis/`` so that
the next run tries it first. ``-k`` picks properties by name, as in pytest.

Properties: ``tests/test_*_properties.py`` (mail reading, whole cycles, the command line,
approval by reply).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROPERTY_FILES = sorted(str(path) for path in (ROOT / "tests").glob("test_*_properties.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property")
    known, rest = parser.parse_known_args(argv)
    if known.examples < 1:
        parser.error("--examples must be at least 1")
    env = {
        **os.environ,
        "NACHFASS_HYPOTHESIS_PROFILE": "fuzz",
        "NACHFASS_FUZZ_EXAMPLES": str(known.examples),
    }
    command = [sys.executable, "-m", "pytest", "-q", "--hypothesis-show-statistics"]
    return subprocess.call([*command, *PROPERTY_FILES, *rest], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())

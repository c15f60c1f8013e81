"""The sending window's holidays come from the ``holidays`` library's class for Germany,
loaded without the library's 250 other countries (domain/calendar.py
``_german_holidays``): the same tables as ``holidays.country_holidays("DE", …)``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Every Bundesland's table for many years, by the given function: run in a fresh
# interpreter each, so that neither way finds the other's module loaded.
_TABLES = """
from nachfass_bot.domain.calendar import GERMAN_SUBDIVISIONS
import holidays
{setup}
years = [*range(1989, 2036), *range(2098, 2102)]
for land in sorted(GERMAN_SUBDIVISIONS):
    for year in years:
        print(land, year, sorted(country(subdiv=land, years=year, expand=False).items()))
"""


def tables(setup: str) -> str:
    return fresh(_TABLES.format(setup=setup))


def fresh(probe: str) -> str:
    """What ``probe`` prints, run in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def test_every_bundesland_gets_the_library_s_own_table() -> None:
    ours = tables("from nachfass_bot.domain.calendar import _german_holidays\n"
                  "country = _german_holidays()")  # fmt: skip
    theirs = tables("from functools import partial\n"
                    "country = partial(holidays.country_holidays, 'DE')")  # fmt: skip
    assert ours == theirs
    assert len(ours.splitlines()) == 16 * 51 and "datetime.date(2026, 6, 4)" in ours


def test_a_holiday_look_up_imports_germany_alone() -> None:
    probe = (
        "import sys; from datetime import date; "
        "from nachfass_bot.domain.calendar import is_public_holiday; "
        "corpus_christi = date(2026, 6, 4); "
        "print(is_public_holiday(corpus_christi, 'NW'), is_public_holiday(corpus_christi, 'BE'), "
        "'holidays.countries' in sys.modules, 'holidays.countries.austria' in sys.modules)"
    )
    assert fresh(probe).split() == ["True", "False", "False", "False"]


def test_the_library_loads_without_importlib_metadata_and_knows_its_version() -> None:
    """The calendar imports ``holidays`` with its ``__version__`` read from the
    distribution's METADATA file (domain/calendar.py ``_spare_metadata``): the value
    ``importlib.metadata`` gives, without loading it (≈40 ms of a command)."""
    probe = (
        "import sys; from datetime import date; "
        "from nachfass_bot.domain.calendar import is_public_holiday; "
        "is_public_holiday(date(2026, 6, 4), 'NW'); "
        "loaded = 'importlib.metadata' in sys.modules; "
        "import holidays, importlib.metadata; "
        "print(loaded, holidays.__version__ == importlib.metadata.version('holidays'))"
    )
    assert fresh(probe).split() == ["False", "True"]


def test_a_library_that_wants_more_of_its_version_module_is_imported_the_usual_way(
    tmp_path: Path,
) -> None:
    """Should a release of ``holidays`` import more than ``__version__`` from its
    version module, the stand-in goes and the library's own module is loaded."""
    package = tmp_path / "holidays"
    package.mkdir()
    (package / "__init__.py").write_text("from holidays.version import __version__, BUILD\n")
    (package / "version.py").write_text("__version__ = '99.1'\nBUILD = 'own'\n")
    info = tmp_path / "holidays-99.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: holidays\nVersion: 99.1\n\n")
    probe = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
        "from nachfass_bot.domain.calendar import _import_holidays; "
        "_import_holidays(); import holidays; print(holidays.__version__, holidays.BUILD)"
    )
    assert fresh(probe).split() == ["99.1", "own"]

"""docs/DESIGN.md stays the spec the code cites: every cited section exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
# "docs/DESIGN.md, "Playbooks"" or "docs/DESIGN.md ("Playbooks")", possibly wrapped.
CITATION_RE = re.compile(r'docs/DESIGN\.md,?\s*\(?\s*"([^"]+)"')
OLD_BRIEF = "DOMAIN" + ".md"  # the brief outside the repository, cited before DESIGN.md


def _sources() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").glob("*.py")])


def _headings() -> set[str]:
    lines = DESIGN.read_text(encoding="utf-8").splitlines()
    return {line.lstrip("#").strip() for line in lines if line.startswith("#")}


def test_cited_sections_exist() -> None:
    headings = _headings()
    missing = []
    for path in _sources():
        for cited in CITATION_RE.findall(path.read_text(encoding="utf-8")):
            section = " ".join(cited.split())
            if section not in headings:
                missing.append(f"{path.relative_to(ROOT)}: {section}")
    assert missing == []


def test_code_cites_the_design_not_the_old_brief() -> None:
    stale = [str(p.relative_to(ROOT)) for p in _sources() if OLD_BRIEF in p.read_text("utf-8")]
    assert stale == []


def test_citations_are_found() -> None:
    """The pattern is not vacuous: the playbooks cite their section."""
    schedule = ROOT / "src" / "nachfass_bot" / "domain" / "schedule.py"
    assert "Playbooks" in CITATION_RE.findall(schedule.read_text(encoding="utf-8"))

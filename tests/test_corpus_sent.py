"""The sent-mail corpus: every ``tests/corpus_sent/*.eml`` judged by ``classify_sent``.

``tests/corpus_sent/labels.toml`` holds the world (``[context]``) and one table per file:
the expected kind, a group and a note. ``make_sent.py`` in that folder writes the mails;
to add a case, add it there, run it, and add its table.

Two measures (docs/DESIGN.md, "What a sent mail is"): recall on offers, orders and
invoices must stay at 95 % or more, and no private mail, colleague's mail, mass mail,
reply in a tracked thread or bot mail may ever be tracked. The per-file test pins each
verdict exactly.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nachfass_bot.mail.sentkind import SentVerdict, classify_sent

CORPUS = Path(__file__).parent / "corpus_sent"
with (CORPUS / "labels.toml").open("rb") as _handle:
    _LABELS = tomllib.load(_handle)
CONTEXT: dict[str, Any] = _LABELS.pop("context")
LABELS: dict[str, dict[str, Any]] = _LABELS
EML_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))

KINDS = ("angebot", "auftrag", "rechnung", "none")
FOUND_GROUPS = {"offer": "angebot", "order": "auftrag", "invoice": "rechnung"}
NEVER_GROUPS = ("private", "colleague", "mass", "tracked", "bot")
GROUPS = (*FOUND_GROUPS, *NEVER_GROUPS, "other")


def judge(name: str) -> SentVerdict:
    return classify_sent(
        (CORPUS / name).read_bytes(),
        owner_email=CONTEXT["owner_email"],
        owner_domains=CONTEXT["owner_domains"],
        tracking_address=CONTEXT["tracking_address"],
        max_recipients=CONTEXT["max_recipients"],
        tracked_message_ids=CONTEXT["tracked_message_ids"],
    )


def kind_of(verdict: SentVerdict) -> str:
    return "none" if verdict.kind is None else str(verdict.kind)


@pytest.mark.parametrize("name", EML_FILES)
def test_sent_mail(name: str) -> None:
    entry = LABELS[name]
    verdict = judge(name)
    assert kind_of(verdict) == entry["kind"], f"{entry['note']} | {verdict.reason}"
    assert verdict.delay_days == entry.get("delay_days")
    assert verdict.reason


def test_recall_and_false_tracks() -> None:
    """Recall per kind ≥ 95 %, zero tracks of what must never be tracked (printed)."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_tracks = []
    for name in EML_FILES:
        entry, kind = LABELS[name], kind_of(judge(name))
        group = entry["group"]
        if group in FOUND_GROUPS:
            total[group] += 1
            found[group] += kind == FOUND_GROUPS[group]
        elif kind != "none":
            false_tracks.append(f"{name} ({group}) → {kind}")
    for group in FOUND_GROUPS:
        print(f"recall {group}: {found[group]}/{total[group]}")
    print(f"false tracks: {false_tracks or 'none'}")
    recall = sum(found.values()) / sum(total.values())
    assert recall >= 0.95
    assert all(found[group] / total[group] >= 0.95 for group in FOUND_GROUPS)
    assert [t for t in false_tracks if t.split("(")[1].split(")")[0] in NEVER_GROUPS] == []


def test_every_mail_has_a_label_and_every_label_a_mail() -> None:
    assert sorted(set(EML_FILES) ^ set(LABELS)) == []


def test_labels_are_well_formed() -> None:
    problems = []
    for name, entry in LABELS.items():
        if set(entry) - {"kind", "group", "delay_days", "note"} or not entry.get("note"):
            problems.append(f"{name}: keys {sorted(entry)}")
        if entry.get("kind") not in KINDS or entry.get("group") not in GROUPS:
            problems.append(f"{name}: kind {entry.get('kind')}, group {entry.get('group')}")
        expected = FOUND_GROUPS.get(entry.get("group", ""), "none")
        if entry.get("group") != "other" and entry.get("kind") != expected:
            problems.append(f"{name}: group {entry['group']} needs kind {expected}")
    assert problems == []


def test_corpus_covers_the_required_cases() -> None:
    groups = Counter(entry["group"] for entry in LABELS.values())
    programs = Counter(name.split("_")[0] for name in EML_FILES)
    assert len(EML_FILES) >= 60
    assert all(groups[group] >= 5 for group in ("offer", "order", "invoice", "private"))
    assert all(groups[group] >= 3 for group in ("colleague", "mass", "tracked", "bot"))
    assert all(programs[p] >= 5 for p in ("tb", "outlook", "apple", "gmail"))
    assert programs["gmx"] + programs["webde"] >= 5

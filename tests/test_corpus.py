"""The mail corpus: every ``tests/corpus/*.eml`` judged against its expected verdict.

``tests/corpus/context.toml`` describes the world the mails are judged in (the owner, the
bot's own Message-IDs, four open threads); ``tests/corpus/verdicts.toml`` holds one table
per file — verdict, threads, return date, failed recipients, folder and a note saying what
the mail is. The head of ``verdicts.toml`` explains each key. To add a case: drop the
``.eml`` into the folder and add its table; nothing here changes.

The judge is :func:`nachfass_bot.mail.judge.judge_mail`. While that module does not exist yet the
corpus tests are skipped locally and fail under CI (like the Dovecot tests in conftest.py);
the table checks run either way.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nachfass_bot.domain.models import Client, Kind, State, Thread

CORPUS = Path(__file__).parent / "corpus"

KINDS = ("answer", "auto-reply", "bounce-permanent", "bounce-delay", "owner", "own", "unrelated")
ENTRY_KEYS = frozenset({"verdict", "threads", "return_date", "failed", "folder", "note"})


def _load_toml(name: str) -> dict[str, Any]:
    with (CORPUS / name).open("rb") as handle:
        return tomllib.load(handle)


CONTEXT = _load_toml("context.toml")
VERDICTS: dict[str, dict[str, Any]] = _load_toml("verdicts.toml")
EML_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))

OWNER_EMAIL: str = CONTEXT["owner"]["email"]
OWN_MESSAGE_IDS = frozenset(CONTEXT["owner"]["own_message_ids"])


def _thread(table: dict[str, Any]) -> Thread:
    """One thread of context.toml as the domain's Thread (original + follow-ups)."""
    client = Client(
        email=table["client_email"],
        name=table.get("client_name"),
        assistant_email=table.get("assistant_email"),
        id=table["id"],
    )
    message_ids = table["message_ids"]
    return Thread(
        id=table["id"],
        kind=Kind(table["kind"]),
        client=client,
        subject=table["subject"],
        state=State(table["state"]),
        step=len(message_ids) - 1,  # every id after the original is a follow-up we sent
        started_at=table["started_at"].astimezone(UTC),
        invoice_no=table.get("invoice_no"),
        amount=Decimal(table["amount"]) if "amount" in table else None,
        due_date=table.get("due_date"),
        message_ids=frozenset(message_ids),
    )


THREADS = tuple(_thread(table) for table in CONTEXT["threads"])
THREAD_IDS = frozenset(thread.id for thread in THREADS)


def _as_date(value: str | date) -> date:
    """TOML gives a date for ``2026-03-16`` and a str for ``"2026-03-16"``; accept both."""
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass(frozen=True)
class Outcome:
    """The facts of a verdict the corpus pins down, in a form that compares and prints well."""

    kind: str
    threads: tuple[int, ...]
    return_date: date | None
    failed: tuple[str, ...] | None  # None: not pinned down (delays)


def _expected(entry: dict[str, Any]) -> Outcome:
    kind = entry["verdict"]
    if "failed" in entry:
        failed: tuple[str, ...] | None = tuple(sorted(entry["failed"]))
    else:
        failed = None if kind == "bounce-delay" else ()
    return_date = entry.get("return_date")
    return Outcome(
        kind=kind,
        threads=tuple(sorted(entry.get("threads", []))),
        return_date=_as_date(return_date) if return_date is not None else None,
        failed=failed,
    )


def _actual(verdict: Any, expected: Outcome) -> Outcome:
    return Outcome(
        kind=verdict.kind,
        threads=tuple(sorted(verdict.thread_ids)),
        return_date=verdict.return_date,
        failed=None if expected.failed is None else tuple(sorted(verdict.failed_recipients)),
    )


@pytest.fixture(scope="module")
def judge_mail() -> Callable[..., Any]:
    """``nachfass_bot.mail.judge.judge_mail``; skip (locally) or fail (under CI) if missing."""
    try:
        from nachfass_bot.mail.judge import judge_mail
    except ModuleNotFoundError as exc:
        if exc.name != "nachfass_bot.mail.judge":
            raise
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("nachfass_bot.mail.judge is missing")
        pytest.skip("nachfass_bot.mail.judge does not exist yet")
    return judge_mail


@pytest.mark.parametrize("name", EML_FILES)
def test_corpus_mail(name: str, judge_mail: Callable[..., Any]) -> None:
    entry = VERDICTS[name]
    raw = (CORPUS / name).read_bytes()

    verdict = judge_mail(
        raw,
        folder=entry.get("folder", "INBOX"),
        threads=THREADS,
        owner_email=OWNER_EMAIL,
        own_message_ids=OWN_MESSAGE_IDS,
    )

    expected = _expected(entry)
    assert _actual(verdict, expected) == expected, (
        f"{entry.get('note', '')} | judge's reason: {verdict.reason}"
    )


# --- the table itself ------------------------------------------------------------------


def test_every_mail_has_a_verdict_and_every_verdict_a_mail() -> None:
    assert sorted(set(EML_FILES) - set(VERDICTS)) == [], "mails without a table"
    assert sorted(set(VERDICTS) - set(EML_FILES)) == [], "tables without a mail"


def _entry_problems(name: str, entry: dict[str, Any]) -> list[str]:
    """What is wrong with one table of verdicts.toml (empty when it is fine)."""
    problems = [f"{name}: unknown key {key!r}" for key in sorted(set(entry) - ENTRY_KEYS)]
    kind = entry.get("verdict")
    threads = entry.get("threads", [])
    if kind not in KINDS:
        return [*problems, f"{name}: verdict {kind!r} is not one of {KINDS}"]
    if sorted(set(threads)) != threads or not set(threads) <= THREAD_IDS:
        problems.append(f"{name}: threads {threads} must be sorted known thread ids")
    if kind in ("answer", "auto-reply", "bounce-permanent", "bounce-delay") and not threads:
        problems.append(f"{name}: a {kind} needs its threads")
    if kind in ("owner", "own", "unrelated") and threads:
        problems.append(f"{name}: a {kind} answers no thread")
    if "return_date" in entry:
        if kind != "auto-reply":
            problems.append(f"{name}: return_date only belongs to an auto-reply")
        try:
            _as_date(entry["return_date"])
        except (TypeError, ValueError):
            problems.append(f"{name}: return_date {entry['return_date']!r} is no YYYY-MM-DD")
    failed = entry.get("failed")
    if kind == "bounce-permanent" and not failed:
        problems.append(f"{name}: a permanent bounce needs its failed addresses")
    if failed is not None:
        if not kind.startswith("bounce"):
            problems.append(f"{name}: failed only belongs to a bounce")
        if any(address != address.lower() for address in failed):
            problems.append(f"{name}: failed addresses are written lower-case")
    return problems


def test_verdict_table_is_well_formed() -> None:
    problems = [
        problem for name, entry in VERDICTS.items() for problem in _entry_problems(name, entry)
    ]
    assert problems == []


def test_corpus_covers_the_required_cases() -> None:
    counts = Counter(entry["verdict"] for entry in VERDICTS.values())
    auto_replies = [entry for entry in VERDICTS.values() if entry["verdict"] == "auto-reply"]
    sizes = {name: (CORPUS / name).stat().st_size for name in EML_FILES}
    raws = [(CORPUS / name).read_bytes() for name in EML_FILES]

    assert len(EML_FILES) >= 85
    assert counts["answer"] >= 30
    assert counts["auto-reply"] >= 15
    assert counts["bounce-permanent"] + counts["bounce-delay"] >= 12
    assert counts["bounce-delay"] >= 2
    assert counts["owner"] >= 6
    assert counts["unrelated"] >= 12
    # Return dates in several forms, and out-of-office texts that name no date at all.
    assert len({entry["return_date"] for entry in auto_replies if "return_date" in entry}) >= 2
    assert sum("return_date" not in entry for entry in auto_replies) >= 2
    # Answers found outside the INBOX, and one mail that answers two threads.
    assert any(entry["verdict"] == "answer" and "folder" in entry for entry in VERDICTS.values())
    assert any(len(entry.get("threads", [])) > 1 for entry in VERDICTS.values())
    # One huge mail, yet the corpus stays small; both line endings occur.
    assert max(sizes.values()) > 200 * 1024
    assert sum(sizes.values()) < 2 * 1024 * 1024
    assert any(b"\r\n" in raw for raw in raws)
    assert any(b"\n" in raw and b"\r\n" not in raw for raw in raws)


# --- a delivery system never answers ---------------------------------------------------

# The sender forms of MAILER-DAEMON, postmaster and MDaemon seen in the wild: any case,
# the client's company domain or another, bare or with a display name.
DELIVERY_SYSTEM_SENDERS = (
    "MAILER-DAEMON@keller-bau.de",
    "mailer-daemon@keller-bau.de",
    "Mailer-Daemon@mail.keller-bau.de",
    "MAILER-DAEMON@keller-bau.de (Mail Delivery System)",
    '"Mail Delivery System" <MAILER-DAEMON@keller-bau.de>',
    "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "postmaster@keller-bau.de",
    "POSTMASTER@Keller-Bau.DE",
    "Postmaster <postmaster@keller-bau.de>",
    '"MDaemon at keller-bau.de" <MDaemon@keller-bau.de>',
)


def _human_looking_mail(sender: str, return_path: str | None) -> bytes:
    """A delivery system's mail that reads like the client's consent and references both
    the thread's offer and our follow-up, quoting the follow-up below the answer."""
    lines = [
        *([f"Return-Path: {return_path}"] if return_path is not None else []),
        f"From: {sender}",
        "To: Anna Berger <anna@berger-design.de>",
        "Subject: Re: Angebot Relaunch Webseite Keller Bau",
        "Date: Thu, 12 Mar 2026 08:41:17 +0100",
        "Message-ID: <3f9c2a71-5e0b-4d4e-9a61-0c8e7d2b1f44@keller-bau.de>",
        "In-Reply-To: <nf-sent-1@berger-design.de>",
        "References: <angebot-keller@berger-design.de> <nf-sent-1@berger-design.de>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Guten Tag Frau Berger,",
        "",
        "vielen Dank für Ihr Angebot, das sieht gut aus – wir machen das so.",
        "Rufen Sie mich gern an, dann besprechen wir den Start.",
        "",
        "Viele Grüße",
        "Jonas Keller",
        "",
        "Am 10.03.2026 um 10:12 schrieb Anna Berger:",
        "> Guten Tag Herr Keller,",
        "> ist mein Angebot gut bei Ihnen angekommen?",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("return_path", [None, "<>"], ids=["no-return-path", "null-path"])
@pytest.mark.parametrize("sender", DELIVERY_SYSTEM_SENDERS)
def test_delivery_system_mail_is_never_an_answer(
    sender: str, return_path: str | None, judge_mail: Callable[..., Any]
) -> None:
    raw = _human_looking_mail(sender, return_path)

    for folder in ("INBOX", "Junk"):
        verdict = judge_mail(
            raw,
            folder=folder,
            threads=THREADS,
            owner_email=OWNER_EMAIL,
            own_message_ids=OWN_MESSAGE_IDS,
        )
        assert verdict.kind in ("bounce-permanent", "bounce-delay", "unrelated"), verdict.reason
        assert verdict.matches == ()


def test_the_same_mail_from_the_client_is_an_answer(judge_mail: Callable[..., Any]) -> None:
    """The check above is not vacuous: only the sender makes the difference."""
    raw = _human_looking_mail("Jonas Keller <jonas.keller@keller-bau.de>", None)
    verdict = judge_mail(
        raw,
        folder="INBOX",
        threads=THREADS,
        owner_email=OWNER_EMAIL,
        own_message_ids=OWN_MESSAGE_IDS,
    )
    assert (verdict.kind, verdict.thread_ids) == ("answer", (1,))


@pytest.mark.parametrize(
    "name", ["qmail_client_domain_qp_keller.eml", "exchange_ndr_de_51010_keller.eml"]
)
def test_bounce_whose_body_is_gone_answers_nothing(name: str) -> None:
    """A body fetch that finds the mail expunged hands the judge no bytes: the header alone
    (MAILER-DAEMON/postmaster at the client's domain, In-Reply-To the thread) must not
    make it a colleague's answer."""
    from nachfass_bot.mail.inbound import parse_inbound
    from nachfass_bot.mail.judge import judge_inbound

    raw = (CORPUS / name).read_bytes()
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0] + b"\n\n"
    inbound = parse_inbound(head, folder="INBOX", uid=7)

    verdict = judge_inbound(
        inbound, b"", threads=THREADS, owner_email=OWNER_EMAIL, own_message_ids=OWN_MESSAGE_IDS
    )

    assert verdict.kind == "unrelated"

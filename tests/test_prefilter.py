"""The server-side prefilter (mail/prefilter.py): the IMAP SEARCH programs find, on a
real Dovecot, every mail that ``InboxReader._may_act`` takes, and not the plain rest.

The superset test appends every ``.eml`` under tests/ to one folder, fetches the header
fields as a sync does (``HEADER_FIELDS``), and judges each mail with the real
``_may_act`` under several ``Wanted`` variants built from the mail itself: nothing
tracked, its sender tracked, its domain tracked, its ids known, its sender being the
owner, and so many ids that the programs fall back to "any reply". For each variant the
programs run over that one mail's UID; a mail that may act must be a hit.

A mail the first look cannot read (None) is a candidate today whatever it says; here it
counts as one only through the triggers the full parse shows (:func:`_parsed_look`):
its From, Message-ID, In-Reply-To and References as ``parse_inbound`` reads them, and the
signs (a bounce's, token, delivery system) of its parsed fields. That is the
claim of the module docstring: such a mail matters only through those fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given

from loophelpers import mail
from mailstrategies import budget, raw_mails
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.maildir import MaildirMailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.guard import GuardedMailbox, MailInTransaction
from nachfass_bot.app.inbox import InboxReader
from nachfass_bot.config import ServerConfig
from nachfass_bot.mail.approval import find_token
from nachfass_bot.mail.bounces import (
    field_value,
    is_bounce_subject,
    is_delivery_system,
    names_delivery_system,
)
from nachfass_bot.mail.classify import is_auto_reply_subject
from nachfass_bot.mail.firstlook import REPORT_FIELDS, FirstLook, first_look
from nachfass_bot.mail.inbound import HEADER_FIELDS, parse_inbound
from nachfass_bot.mail.matching import ThreadIndex
from nachfass_bot.mail.prefilter import Wanted, answer_programs, quote, search_programs
from nachfass_bot.texts.compose import new_message_id
from servers import DovecotServer, MailAccount

TESTS = Path(__file__).parent
EML_FILES = sorted(TESTS.rglob("*.eml"))
OWNER = "niemand@prefilter.invalid"
FOLDER = "Korpus"
FUZZ = "Fuzz"
FILLER_IDS = frozenset(f"<filler-{n}@elsewhere.invalid>" for n in range(300))


@dataclass(frozen=True)
class Corpus:
    mailbox: ImapMailbox
    headers: dict[int, bytes]  # uid → header fields as the sync fetches them
    names: dict[int, str]  # uid → file, for messages


def _config(account: MailAccount) -> ServerConfig:
    return ServerConfig(
        host=account.host, port=account.port, security="none", username=account.user,
        password_env=None, password_command=None, section="imap",
    )  # fmt: skip


@pytest.fixture(scope="module")
def corpus(dovecot_server: DovecotServer) -> Iterator[Corpus]:
    account = dovecot_server.add_account()
    names: dict[int, str] = {}
    with account.client() as imap:
        imap.create_folder(FOLDER)
        imap.create_folder(FUZZ)
        for uid, path in enumerate(EML_FILES, start=1):
            imap.append(FOLDER, path.read_bytes(), msg_time=datetime(2026, 1, 1, tzinfo=UTC))
            names[uid] = str(path.relative_to(TESTS))
    with ImapMailbox.connect(_config(account), account.password, timeout=30) as mailbox:
        headers = {
            header.uid: header.header
            for batch in mailbox.fetch_headers(FOLDER, 1, HEADER_FIELDS)
            for header in batch
        }
        assert sorted(headers) == sorted(names)
        yield Corpus(mailbox, headers, names)


def _parsed_look(raw: bytes) -> FirstLook:
    """The triggers of a mail the first look gives up on, from the full parse."""
    inbound = parse_inbound(raw, folder=FOLDER, uid=1)
    msg = message_from_bytes(raw)
    subject = inbound.subject
    content = (field_value(msg, "Content-Type") or "").lower()
    report = (
        "report" in content
        or "delivery-status" in content
        or any(field_value(msg, name) is not None for name in REPORT_FIELDS)
    )
    named = names_delivery_system(field_value(msg, "From"))
    machine = (inbound.is_auto_reply and not inbound.is_list_mail) or is_auto_reply_subject(
        subject.strip()
    )
    return FirstLook(
        message_id=inbound.message_id,
        from_addr=inbound.from_addr,
        date=inbound.date,
        in_reply_to=inbound.in_reply_to,
        references=inbound.references,
        is_list_mail=inbound.is_list_mail,
        machine=machine or report,
        bounce_sign=report or named,
        maybe_command=find_token(subject) is not None,
        bounce_subject=is_bounce_subject(subject),
        delivery_system=is_delivery_system(inbound.from_addr),
    )


def _index(own: frozenset[str], references: frozenset[str], senders: frozenset[str],
           domains: frozenset[str]) -> ThreadIndex:  # fmt: skip
    """A ThreadIndex with these keys (one fictitious thread 1)."""
    return ThreadIndex(
        by_id={}, own_message_ids=own, rank={},
        by_reference=dict.fromkeys(references, (1,)),
        by_sender=dict.fromkeys(senders, (1,)),
        by_domain=dict.fromkeys(domains, (1,)),
    )  # fmt: skip


def _is_candidate(look: FirstLook, owner: str, index: ThreadIndex, drafts: set[str]) -> bool:
    """The real ``InboxReader._candidate`` (it reads only the owner from the reader)."""
    reader = SimpleNamespace(owner_email=owner)
    reader._may_act = partial(InboxReader._may_act, reader)
    known = SimpleNamespace(index=index)
    return InboxReader._candidate(reader, look, known, drafts)  # type: ignore[arg-type]


def _may_act(look: FirstLook, owner: str, index: ThreadIndex, drafts: set[str]) -> bool:
    """The real ``InboxReader._may_act``: what the programs must find."""
    reader = SimpleNamespace(owner_email=owner)
    known = SimpleNamespace(index=index)
    return InboxReader._may_act(reader, look, known, drafts)  # type: ignore[arg-type]


def _variants(look: FirstLook) -> Iterator[tuple[str, Wanted, ThreadIndex, set[str]]]:
    """(name, Wanted, the index and drafts ``_may_act`` sees with the same knowledge)."""
    empty: frozenset[str] = frozenset()
    yield "nothing tracked", Wanted(OWNER), _index(empty, empty, empty, empty), set()
    sender = (look.from_addr or "").casefold()
    if sender:
        senders = frozenset({sender})
        yield "sender", Wanted(OWNER, senders=senders), _index(empty, empty, senders, empty), set()
        domain = frozenset({sender.rpartition("@")[2]})
        yield "domain", Wanted(OWNER, domains=domain), _index(empty, empty, empty, domain), set()
        yield "owner", Wanted(sender), _index(empty, empty, empty, empty), set()
    ids = frozenset(
        one.casefold() for one in (look.message_id, *look.in_reply_to, *look.references) if one
    )
    if ids:
        # the bot's own ids are those it made (new_message_id): they carry the mark
        own = frozenset(one for one in ids if ".nachfass@" in one)
        yield "ids", Wanted(OWNER, message_ids=ids), _index(own, ids, empty, empty), set(own)
        many = ids | FILLER_IDS
        yield "many ids", Wanted(OWNER, message_ids=many), _index(own, many, empty, empty), set()


def test_the_programs_find_every_candidate_of_the_corpus(corpus: Corpus) -> None:
    missed: list[str] = []
    unread = 0
    for uid, raw in corpus.headers.items():
        look = first_look(raw)
        if look is None:
            unread += 1
            look = _parsed_look(raw)
        for name, wanted, index, drafts in _variants(look):
            if not _may_act(look, wanted.owner, index, drafts):
                continue
            hits = [
                found
                for program in search_programs(wanted)
                for found in corpus.mailbox.search_uids(FOLDER, program, uid, uid)
            ]
            if uid not in hits:
                missed.append(f"{corpus.names[uid]} ({name})")
    assert not missed, "the server misses candidates:\n" + "\n".join(missed)
    assert unread < len(corpus.headers)


def test_the_programs_leave_out_the_plain_mails_of_the_corpus(corpus: Corpus) -> None:
    """The prefilter filters: with nothing tracked, the corpus' mails that cannot act (no
    bounce sign, no token) are not all hits."""
    plain = []
    for uid, raw in corpus.headers.items():
        look = first_look(raw)
        empty = _index(frozenset(), frozenset(), frozenset(), frozenset())
        if look is not None and not _may_act(look, OWNER, empty, set()):
            plain.append(uid)
    hits = {
        found
        for program in search_programs(Wanted(OWNER))
        for found in corpus.mailbox.search_uids(FOLDER, program, 1, max(corpus.headers))
    }
    assert plain
    assert len(set(plain) - hits) > len(plain) / 2


def test_a_newsletter_is_no_hit_and_a_reply_is(dovecot: MailAccount) -> None:
    newsletter = mail(
        sender="news@shop.example", to=dovecot.user, subject="Unsere Angebote im März",
        body="Hallo\n", date=datetime(2026, 1, 2, tzinfo=UTC),
    )  # fmt: skip
    newsletter = newsletter.replace(b"\n", b"\nList-Unsubscribe: <mailto:u@shop.example>\n", 1)
    newsletter = newsletter.replace(b"\n", b"\nPrecedence: bulk\n", 1)
    ours = new_message_id(dovecot.user)
    reply = mail(
        sender="kunde@firma.example", to=dovecot.user, subject="Re: Angebot",
        body="Passt.\n", date=datetime(2026, 1, 3, tzinfo=UTC), in_reply_to=ours,
    )  # fmt: skip
    bounce = mail(
        sender="MAILER-DAEMON@mx.example", to=dovecot.user, subject="Undelivered  Mail",
        body="x\n", date=datetime(2026, 1, 4, tzinfo=UTC),
    )  # fmt: skip
    token = mail(
        sender="chef@berger.example", to=dovecot.user, subject="AW: [ NF - 0123456789abcdef0123 ]",
        body="ok\n", date=datetime(2026, 1, 5, tzinfo=UTC),
    )  # fmt: skip
    copy = mail(
        sender="anna@berger-design.example", to="kunde@firma.example", subject="Angebot",
        body="Anbei\n", date=datetime(2026, 1, 6, tzinfo=UTC), message_id=ours,
    )  # fmt: skip
    for raw in (newsletter, reply, bounce, token, copy):
        dovecot.append("INBOX", raw)
    with ImapMailbox.connect(_config(dovecot), dovecot.password, timeout=10) as mailbox:

        def hits(wanted: Wanted) -> set[int]:
            return {
                uid
                for program in search_programs(wanted)
                for uid in mailbox.search_uids("INBOX", program, 1, 5)
            }

        # a reply to the bot's mail and a copy of it are found by the mark alone
        assert hits(Wanted(OWNER)) == {2, 3, 4, 5}
        assert hits(Wanted(OWNER, message_ids=frozenset({ours.casefold()}))) == {2, 3, 4, 5}
        assert hits(Wanted(OWNER, message_ids=FILLER_IDS)) == {2, 3, 4, 5}  # any reply
        assert hits(Wanted(OWNER, domains=frozenset({"firma.example"}))) == {2, 3, 4, 5}
        assert hits(Wanted("news@shop.example")) == {1, 2, 3, 4, 5}
        assert mailbox.search_uids("INBOX", "ALL", 2, 3) == [2, 3]
        assert mailbox.search_uids("INBOX", "ALL", 3, 2) == []
        assert mailbox.search_uids("INBOX", "ALL", 5, 99) == [5]


def test_quoting() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("") == '""'
    for bad in ("a\r\nb", "grüße", "a\x00b"):
        with pytest.raises(ValueError):
            quote(bad)


def test_an_unquotable_value_becomes_its_pieces_or_the_broadest_key() -> None:
    (program,) = search_programs(Wanted("jürgen@müller.example"))
    assert '(FROM "j" FROM "rgen@m" FROM "ller.example")' in program
    (program,) = search_programs(Wanted("ööö"))
    assert program.endswith('FROM ""') or 'FROM "" ' in program
    (program,) = search_programs(Wanted(OWNER, message_ids=frozenset({'<a"b\\c@x>'})))
    assert 'HEADER References "a\\"b\\\\c@x"' in program
    # a casefolded "ß" reads "ss": the server must find "straße" too
    (program,) = search_programs(Wanted(OWNER, senders=frozenset({"strasse@x.example"})))
    assert '(FROM "stra" FROM "e@x.example")' in program
    assert not re.search(r"[\r\n]|[^\x20-\x7e]", program)


def test_many_keys_are_split_and_many_ids_fall_back() -> None:
    senders = frozenset(f"kunde{n}@firma{n}.example" for n in range(450))
    programs = search_programs(Wanted(OWNER, senders=senders), max_keys=200)
    assert len(programs) == 3
    assert all(program.count("FROM ") + program.count("HEADER ") <= 200 * 4 for program in programs)
    assert all(len(program) < 64_000 for program in programs)
    assert sum(program.count("@firma") for program in programs) == 450
    own = new_message_id(OWNER).casefold()
    few = search_programs(Wanted(OWNER, message_ids=frozenset({"<a@x>", "<b@x>", own})))
    assert len(few) == 1
    assert 'HEADER In-Reply-To "a@x"' in few[0]
    assert 'HEADER Message-ID "a@x"' not in few[0]  # a thread's id counts only as reference
    assert own.strip("<>") not in few[0]  # the bot's own: by the mark
    assert 'HEADER In-Reply-To ".nachfass@"' in few[0]
    assert 'HEADER In-Reply-To ""' not in few[0]
    twenty = frozenset(f"<{n}@x>" for n in range(20))
    assert 'HEADER In-Reply-To ""' not in search_programs(Wanted(OWNER, message_ids=twenty))[0]
    assert (
        'HEADER In-Reply-To ""' in search_programs(Wanted(OWNER, message_ids=twenty | {"<c@x>"}))[0]
    )
    (fallback,) = search_programs(Wanted(OWNER, message_ids=FILLER_IDS))
    assert 'HEADER In-Reply-To ""' in fallback
    assert 'HEADER References ""' in fallback
    assert 'HEADER Message-ID ".nachfass@"' in fallback
    assert "filler" not in fallback


def test_programs_are_balanced_or_trees() -> None:
    (program,) = search_programs(Wanted(OWNER))
    depth = max(len(match) for match in re.findall(r"(?:OR )+", program))
    assert depth <= 8 * len("OR ")


@given(raw=raw_mails())
@budget(60)
def test_the_programs_find_every_candidate_of_hostile_mails(corpus: Corpus, raw: bytes) -> None:
    """The same over generated mails in every encoding mailers get wrong; here many
    headers are ones the first look gives up on."""
    corpus.mailbox.append(FUZZ, raw, datetime(2026, 1, 1, tzinfo=UTC))
    uid = corpus.mailbox.folder_status(FUZZ).uidnext - 1
    (header,) = next(iter(corpus.mailbox.fetch_headers(FUZZ, uid, HEADER_FIELDS)))
    look = first_look(header.header) or _parsed_look(header.header)
    for name, wanted, index, drafts in _variants(look):
        if _may_act(look, wanted.owner, index, drafts):
            hits = [
                found
                for program in search_programs(wanted)
                for found in corpus.mailbox.search_uids(FUZZ, program, uid, uid)
            ]
            assert uid in hits, f"{name}: {raw[:2000]!r}"


# Signs that make a mail worth reading whoever sent it: a bounce's, a draft's token.
SIGNS: tuple[bytes, ...] = (
    b"Subject: Undeliverable: Angebot",
    b"Subject: Mail delivery failed: returning message to sender",
    b"Subject: Returned mail: see transcript for details",
    b"Subject: failure notice",
    b"Subject: Delayed Mail (still being retried)",
    b"Subject: Warning: message 1abc-02 delayed 24 hours",
    b"Subject: Unzustellbar: Angebot",
    b"Subject: Nicht  zugestellt: Angebot",
    b"Subject: =?utf-8?q?Zustellung_verz=C3=B6gert?=",
    b"Subject: Fehler bei der Zustellung",
    b"Subject: Re: [NF-0123456789abcdef0123] Entwurf",
    b"Subject: Re: [ nf - 0123456789 abcdef0123 ] Entwurf",
    b"From: postmaster@mx.example",
    b'From: "Mail Delivery System" <MAILER-DAEMON@mx.example>',
    b"From: MDaemon@firma.example",
    b"From: mailerdaemon@mx.example",
    b'From: "Mail Delivery Subsystem" <bounces@mx.example>',
    b"From: Mail  Delivery System <noreply@mx.example>",
    b"X-Failed-Recipients: kunde@firma.example",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x",
    b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x",
    b"Content-Type: message/delivery-status",
    b"Content-Type: message/global-delivery-status",
)
# An auto-reply's signs: a candidate for the full parse, but alone (naming nothing known)
# no mail that may act, and no key of the server's look.
AUTO_REPLY_SIGNS: tuple[bytes, ...] = (
    b"Subject: Automatische  Antwort: Angebot",
    b"Subject: Out of\toffice until Monday",
    b"Subject: AutoReply",
    b"Subject: =?utf-8?b?QWJ3ZXNlbmhlaXRzbm90aXo6IEFuZ2Vib3Q=?=",
    b"Auto-Submitted: auto-replied (vacation)",
    b"X-Autoreply: yes",
    b"X-Autorespond: Abwesend",
    b"X-AutoReply-From: kunde@firma.example",
    b"X-Mail-Autoreply: 1",
    b"X-Apple-Action: vacation",
    b"Precedence: auto_reply",
    b"Precedence: first-class",
    b"Precedence: auto_reply\r\nPrecedence: bulk",
    b"Return-Path: <>",
    b"Return-Path: < >",
)
_PLAIN_FIELDS = (
    b"From: Shop <news@shop.example>",
    b"Subject: Unsere Angebote",
    b"Precedence: bulk",
    b"List-Unsubscribe: <mailto:u@shop.example>",
    b"Return-Path: <bounce@shop.example>",
)


def _with(field: bytes) -> bytes:
    """A plain newsletter with ``field`` in place of the plain field of that name."""
    names = {line.split(b":", 1)[0].lower() for line in field.split(b"\r\n")}
    kept = [line for line in _PLAIN_FIELDS if line.split(b":", 1)[0].lower() not in names]
    head = [*kept, *field.split(b"\r\n"), b"Date: Fri, 02 Jan 2026 10:00:00 +0000"]
    return b"\r\n".join([*head, b"Message-ID: <n1@shop.example>", b"", b"Hallo", b""])


def test_each_sign_alone_is_found(dovecot: MailAccount) -> None:
    """Each sign that makes ``_may_act`` say yes on its own is a hit on its own (the
    corpus has most signs together, where one key may hide another's gap); an
    auto-reply's sign alone sends a mail to the full parse when it is read, but is no
    hit: a shop's notification names no thread."""
    empty = _index(frozenset(), frozenset(), frozenset(), frozenset())
    plain = _with(b"X-Nothing: 1")
    look = first_look(plain)
    assert look is not None
    assert not _is_candidate(look, OWNER, empty, set())
    for field in SIGNS:
        look = first_look(_with(field))
        assert look is not None
        assert _may_act(look, OWNER, empty, set()), field
    for field in AUTO_REPLY_SIGNS:
        look = first_look(_with(field))
        assert look is not None
        assert _is_candidate(look, OWNER, empty, set()), field
        assert not _may_act(look, OWNER, empty, set()), field
    for raw in (plain, *map(_with, SIGNS), *map(_with, AUTO_REPLY_SIGNS)):
        dovecot.append("INBOX", raw)
    with ImapMailbox.connect(_config(dovecot), dovecot.password, timeout=10) as mailbox:
        programs = search_programs(Wanted(OWNER))

        def hit(uid: int) -> bool:
            return any(mailbox.search_uids("INBOX", p, uid, uid) for p in programs)

        assert not [field for uid, field in enumerate(SIGNS, start=2) if not hit(uid)]
        first = 2 + len(SIGNS)
        assert not [field for uid, field in enumerate(AUTO_REPLY_SIGNS, start=first) if hit(uid)]
        assert not hit(1)


def test_the_guard_passes_the_search_on_outside_a_transaction(
    memory_store: Store, tmp_path: Path
) -> None:
    """The demo Maildir cannot search (None: take the whole range); the guard refuses
    the search inside a database transaction, like every other IMAP call."""
    mailbox = GuardedMailbox(MaildirMailbox(tmp_path / "Postfach"), memory_store)
    assert mailbox.search_uids("INBOX", "ALL", 1, 10) is None
    with memory_store.atomic(), pytest.raises(MailInTransaction):
        mailbox.search_uids("INBOX", "ALL", 1, 10)


class _Client:
    """Just enough of an IMAPClient for ImapMailbox to say whether it may search."""

    def __init__(self, capabilities: tuple[bytes, ...], welcome: bytes) -> None:
        self.capabilities, self.welcome = capabilities, welcome
        self.normalise_times = True

    def has_capability(self, name: str) -> bool:
        return name.encode() in self.capabilities


@pytest.mark.parametrize(
    ("capabilities", "welcome", "searches"),
    [
        ((b"IMAP4rev1",), b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.", True),
        ((b"IMAP4rev1", b"X-GM-EXT-1"), b"* OK Gimap ready for requests", False),
        ((b"IMAP4rev1",), b"* OK The Microsoft Exchange IMAP4 service is ready.", False),
    ],
)
def test_gmail_and_exchange_are_not_asked_to_search(
    capabilities: tuple[bytes, ...], welcome: bytes, searches: bool
) -> None:
    """Their search matches words of an index, not substrings: a key like SUBJECT
    "abwesen" would miss "Abwesenheitsnotiz", so the sync reads every header there."""
    mailbox = ImapMailbox(_Client(capabilities, welcome))  # type: ignore[arg-type]
    found = mailbox.search_uids("INBOX", 'SUBJECT "x"', 5, 1)  # an empty range: no I/O
    assert found == ([] if searches else None)


def test_the_look_back_asks_only_for_what_may_answer() -> None:
    wanted = Wanted("", senders=frozenset({"kunde@firma.example"}),
                    domains=frozenset({"firma.example"}),
                    message_ids=frozenset({"<a@x>", "<b.nachfass@y>"}))  # fmt: skip
    (program,) = answer_programs(wanted)
    for key in ('HEADER In-Reply-To "a@x"', '(HEADER References "b.nachfa" HEADER References "@y")',
                'FROM "kunde@firma.example"', 'FROM "@firma.example"'):  # fmt: skip
        assert key in program
    assert "SUBJECT" not in program and "Message-ID" not in program
    many = frozenset(f"<m{number}@x>" for number in range(21))
    (fallback,) = answer_programs(Wanted("", message_ids=many))
    assert fallback == 'OR HEADER In-Reply-To "" HEADER References ""'

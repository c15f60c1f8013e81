"""matching.py: which threads an inbound mail answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from nachfass_bot.domain.models import LISTENING_STATES, Client, Inbound, Kind, State, Thread
from nachfass_bot.mail.inbound import parse_inbound
from nachfass_bot.mail.matching import (
    CLOCK_SKEW,
    FREEMAIL_DOMAINS,
    Match,
    answer_keys,
    answer_time,
    index_threads,
    match_inbound,
    match_synced,
    related_threads,
)

OWNER = "Lena@Berger-Text.de"
OFFER_ID = "<20260105101500.4711.1@berger-text.de>"
FOLLOW_UP_ID = "<20260112090000.4711.2@berger-text.de>"
INVOICE_ID = "<20260108080000.4712.1@berger-text.de>"

KELLER = Client(
    email="jonas.keller@keller-bau.de",
    name="Jonas Keller",
    assistant_email="empfang@keller-bau.de",
    id=1,
)
MUELLER = Client(email="joerg@mueller-gmbh.de", name="Jörg Müller", id=2)

OFFER = Thread(
    id=10,
    kind=Kind.ANGEBOT,
    client=KELLER,
    subject="Angebot für Ihre Webseite",
    state=State.OPEN,
    step=1,
    started_at=datetime(2026, 1, 5, 10, 15, tzinfo=UTC),
    message_ids=frozenset({OFFER_ID, FOLLOW_UP_ID}),
)
INVOICE = Thread(
    id=11,
    kind=Kind.RECHNUNG,
    client=KELLER,
    subject="Rechnung 2026-003",
    state=State.PARKED,
    step=2,
    started_at=datetime(2026, 1, 8, 8, 0, tzinfo=UTC),
    message_ids=frozenset({INVOICE_ID}),
)
OTHER_CLIENT = Thread(
    id=12,
    kind=Kind.AUFTRAG,
    client=MUELLER,
    subject="Texte Broschüre",
    state=State.OPEN,
    step=0,
    started_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC),
    message_ids=frozenset({"<20260102090000.1@berger-text.de>"}),
)
THREADS = (OFFER, INVOICE, OTHER_CLIENT)

# A real Outlook reply from the client to the offer (headers only, as the IMAP adapter
# fetches them).
CLIENT_REPLY = (
    b'From: "Keller, Jonas" <Jonas.Keller@Keller-Bau.de>\r\n'
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b"Subject: =?iso-8859-1?Q?AW:_Angebot_f=FCr_Ihre_Webseite?=\r\n"
    b"Date: Tue, 13 Jan 2026 09:41:12 +0000\r\n"
    b"Message-ID: <AM0PR07MB6305E1B2@AM0PR07MB6305.eurprd07.prod.outlook.com>\r\n"
    b"References: <20260105101500.4711.1@berger-text.de>\r\n"
    b"In-Reply-To: <20260105101500.4711.1@berger-text.de>\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"\r\n"
)

GMAIL_VACATION = (
    b"Auto-Submitted: auto-replied\r\n"
    b"X-Autoreply: yes\r\n"
    b"Precedence: bulk\r\n"
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Abwesenheitsnotiz: Angebot\r\n"
    b"Date: Mon, 12 Jan 2026 10:00:05 +0100\r\n"
    b"Message-ID: <vacation.1a2b3c@mail.gmail.com>\r\n"
    b"In-Reply-To: <20260112090000.4711.2@berger-text.de>\r\n"
    b"\r\n"
)

BOUNCE = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <MAILER-DAEMON@mout.kundenserver.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Mail delivery failed: returning message to sender\r\n"
    b"Date: Mon, 12 Jan 2026 10:00:02 +0100\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
    b"\r\n"
)


def _inbound(**changes: object) -> Inbound:
    """A brand-new human mail from the client, without references, in the INBOX."""
    base = Inbound(
        folder="INBOX",
        uid=42,
        message_id="<new-mail-1@keller-bau.de>",
        from_addr="jonas.keller@keller-bau.de",
        to_addrs=("lena@berger-text.de",),
        subject="Frage zum Projekt",
        date=datetime(2026, 1, 14, 12, 0, tzinfo=UTC),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _rules(matches: list[Match]) -> dict[int, str]:
    return {match.thread_id: match.rule for match in matches}


# --- the rules -------------------------------------------------------------------------


def test_reference_matches_the_thread_and_the_client_address_the_other() -> None:
    inbound = parse_inbound(CLIENT_REPLY, folder="INBOX", uid=1)
    matches = match_inbound(inbound, THREADS, owner_email=OWNER)
    assert _rules(matches) == {10: "reference", 11: "client-address"}
    assert matches[0].reason == (
        "jonas.keller@keller-bau.de hat geantwortet (Antwort auf meine Mail, gefunden im "
        "Ordner INBOX); ich fasse nicht mehr nach."
    )


def test_new_mail_from_client_answers_every_listening_thread_of_that_client() -> None:
    matches = match_inbound(_inbound(), THREADS, owner_email=OWNER)
    assert _rules(matches) == {10: "client-address", 11: "client-address"}
    assert "Kundenadresse" in matches[0].reason


def test_address_comparison_is_case_insensitive() -> None:
    matches = match_inbound(
        _inbound(from_addr="Jonas.Keller@KELLER-bau.de"), THREADS, owner_email=OWNER
    )
    assert _rules(matches) == {10: "client-address", 11: "client-address"}


def test_assistant_address_matches() -> None:
    matches = match_inbound(_inbound(from_addr="empfang@keller-bau.de"), THREADS, owner_email=OWNER)
    assert _rules(matches) == {10: "assistant-address", 11: "assistant-address"}
    assert "Assistenz" in matches[0].reason


def test_reference_wins_over_client_address() -> None:
    inbound = _inbound(in_reply_to=(FOLLOW_UP_ID,))
    assert _rules(match_inbound(inbound, [OFFER], owner_email=OWNER)) == {10: "reference"}


def test_reference_found_in_references_only_and_case_insensitive() -> None:
    inbound = _inbound(
        from_addr="someone@freemail.de",
        references=("<unrelated@x.de>", INVOICE_ID.upper()),
    )
    assert _rules(match_inbound(inbound, THREADS, owner_email=OWNER)) == {11: "reference"}


def test_colleague_at_the_company_domain_answers_every_thread_of_that_client() -> None:
    inbound = _inbound(from_addr="p.sommer@keller-bau.de")
    matches = match_inbound(inbound, THREADS, owner_email=OWNER)
    assert set(_rules(matches).values()) == {"colleague"}
    assert {m.thread_id for m in matches} == {10, 11}, "Müller is another company"
    assert "Firma des Kunden" in matches[0].reason


def test_colleague_replying_to_our_mail_matches_by_reference_first() -> None:
    inbound = _inbound(from_addr="p.sommer@keller-bau.de", in_reply_to=(OFFER_ID,))
    matches = match_inbound(inbound, THREADS, owner_email=OWNER)
    assert _rules(matches)[10] == "reference"
    assert "p.sommer@keller-bau.de" in matches[0].reason


@pytest.mark.parametrize("domain", ["gmx.de", "web.de", "gmail.com", "t-online.de", "posteo.de"])
def test_same_freemail_domain_is_no_colleague(domain: str) -> None:
    client = Client(email=f"lena.hoffmann@{domain}", id=7)
    thread = replace(OFFER, id=70, client=client, message_ids=frozenset())
    stranger = _inbound(from_addr=f"someone.else@{domain}")
    assert match_inbound(stranger, (thread,), owner_email=OWNER) == []


def test_freemail_list_is_long_and_has_the_german_providers() -> None:
    assert len(FREEMAIL_DOMAINS) >= 40
    assert {"gmx.de", "web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org"} <= (
        FREEMAIL_DOMAINS
    )


def test_related_threads_finds_the_sender_of_an_auto_reply() -> None:
    inbound = replace(_inbound(from_addr="jonas.keller@keller-bau.de"), is_auto_reply=True)
    assert match_inbound(inbound, THREADS, owner_email=OWNER) == []
    related = related_threads(inbound, THREADS, owner_email=OWNER)
    assert {m.thread_id for m in related} == {10, 11}


def test_stranger_matches_nothing() -> None:
    inbound = _inbound(from_addr="newsletter@shop.de", references=("<other@shop.de>",))
    assert match_inbound(inbound, THREADS, owner_email=OWNER) == []


def test_mail_without_from_can_still_match_by_reference() -> None:
    matches = match_inbound(
        _inbound(from_addr=None, in_reply_to=(OFFER_ID,)), THREADS, owner_email=OWNER
    )
    assert _rules(matches) == {10: "reference"}
    assert "unbekanntem Absender" in matches[0].reason


def test_empty_thread_list() -> None:
    assert match_inbound(_inbound(), [], owner_email=OWNER) == []


# --- never a match ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "owner", ["lena@berger-text.de", "LENA@BERGER-TEXT.DE", " Lena@Berger-Text.de "]
)
def test_owners_own_mail_never_matches(owner: str) -> None:
    inbound = _inbound(from_addr="lena@berger-text.de", in_reply_to=(OFFER_ID,))
    assert match_inbound(inbound, THREADS, owner_email=owner) == []


def test_own_message_id_never_matches() -> None:
    inbound = _inbound(message_id=FOLLOW_UP_ID, in_reply_to=(OFFER_ID,))
    assert match_inbound(inbound, THREADS, owner_email=OWNER, own_message_ids={FOLLOW_UP_ID}) == []


def test_no_message_id_is_not_mistaken_for_our_own() -> None:
    inbound = _inbound(message_id=None)
    matches = match_inbound(inbound, THREADS, owner_email=OWNER, own_message_ids={FOLLOW_UP_ID})
    assert _rules(matches) == {10: "client-address", 11: "client-address"}


def test_gmail_vacation_reply_never_matches() -> None:
    inbound = parse_inbound(GMAIL_VACATION, folder="INBOX", uid=2)
    assert inbound.in_reply_to == (FOLLOW_UP_ID,)
    assert match_inbound(inbound, THREADS, owner_email=OWNER) == []


def test_bounce_never_matches() -> None:
    inbound = parse_inbound(BOUNCE, folder="INBOX", uid=3)
    inbound = replace(inbound, in_reply_to=(OFFER_ID,))
    assert match_inbound(inbound, THREADS, owner_email=OWNER) == []


def test_unthreaded_mail_older_than_the_thread_never_matches() -> None:
    old = _inbound(date=datetime(2026, 1, 6, 12, 0, tzinfo=UTC))  # after OFFER, before INVOICE
    assert _rules(match_inbound(old, THREADS, owner_email=OWNER)) == {10: "client-address"}
    very_old = _inbound(date=datetime(2025, 12, 1, tzinfo=UTC))
    assert match_inbound(very_old, THREADS, owner_email=OWNER) == []


@pytest.mark.parametrize(
    "written", [datetime(1900, 1, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)]
)
def test_a_reply_naming_our_message_id_answers_whatever_its_date(written: datetime) -> None:
    reply = _inbound(date=written, in_reply_to=(OFFER_ID,))
    assert _rules(match_inbound(reply, [OFFER], owner_email=OWNER)) == {10: "reference"}


def test_internaldate_decides_for_unthreaded_mail_not_the_date_header() -> None:
    before, after = OFFER.started_at - timedelta(days=2), OFFER.started_at + timedelta(days=2)
    late = _inbound(date=before, received=after)
    assert _rules(match_inbound(late, [OFFER], owner_email=OWNER)) == {10: "client-address"}
    early = _inbound(date=after, received=before)
    assert match_inbound(early, [OFFER], owner_email=OWNER) == []
    colleague = _inbound(from_addr="empfang2@keller-bau.de", date=before, received=after)
    assert _rules(match_inbound(colleague, [OFFER], owner_email=OWNER)) == {10: "colleague"}


def test_answer_time_is_a_plausible_date_else_the_arrival_else_now() -> None:
    now = datetime(2026, 2, 1, tzinfo=UTC)
    written, arrived = datetime(2026, 1, 14, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)
    assert answer_time(_inbound(date=written, received=arrived), OFFER, now) == written
    absurd = _inbound(date=datetime(1900, 1, 1, tzinfo=UTC), received=arrived)
    assert answer_time(absurd, OFFER, now) == arrived
    future = _inbound(date=datetime(2030, 1, 1, tzinfo=UTC), received=None)
    assert answer_time(future, OFFER, now) == now


def test_a_synced_mail_is_matched_by_the_same_rules_without_the_owner() -> None:
    reply = _inbound(date=datetime(1900, 1, 1, tzinfo=UTC), references=(OFFER_ID,))
    (in_the_cycle,) = match_inbound(reply, [OFFER], owner_email=OWNER)
    assert match_synced(reply, OFFER) == in_the_cycle
    assert in_the_cycle.rule == "reference"
    assert match_synced(_inbound(is_list_mail=True), OFFER) is None
    assert match_synced(_inbound(is_auto_reply=True), OFFER) is None
    daemon = _inbound(from_addr="mailer-daemon@keller-bau.de", references=(OFFER_ID,))
    assert match_synced(daemon, OFFER) is None
    assert match_synced(_inbound(date=datetime(2025, 12, 1, tzinfo=UTC)), OFFER) is None


def test_answer_keys_name_ids_senders_and_the_company_domain_but_no_freemail() -> None:
    keys = answer_keys(OFFER)
    assert keys.references == {OFFER_ID.casefold(), FOLLOW_UP_ID.casefold()}
    assert keys.senders == {"jonas.keller@keller-bau.de", "empfang@keller-bau.de"}
    assert keys.domains == {"keller-bau.de"}
    assert keys.since == OFFER.started_at - CLOCK_SKEW
    private = replace(OFFER, client=Client(email="Jonas@GMX.de"), message_ids=frozenset())
    assert answer_keys(private).domains == frozenset()
    assert answer_keys(private).senders == {"jonas@gmx.de"}


def test_a_reply_to_our_mail_matches_whatever_its_date_says() -> None:
    """A phone with a reset clock dates its reply 1970 or 2000: naming our mail, the reply
    was written after it."""
    for year in (1900, 1970, 2000, 2025):
        reset = _inbound(date=datetime(year, 1, 1, tzinfo=UTC), in_reply_to=(OFFER_ID,))
        assert _rules(match_inbound(reset, THREADS, owner_email=OWNER)) == {10: "reference"}


def test_small_clock_skew_is_tolerated_but_not_more() -> None:
    just_before = OFFER.started_at - CLOCK_SKEW + timedelta(seconds=1)
    clearly_before = OFFER.started_at - CLOCK_SKEW - timedelta(seconds=1)
    assert match_inbound(_inbound(date=just_before), [OFFER], owner_email=OWNER) != []
    assert match_inbound(_inbound(date=clearly_before), [OFFER], owner_email=OWNER) == []


def test_missing_date_counts_as_new() -> None:
    matches = match_inbound(_inbound(date=None), THREADS, owner_email=OWNER)
    assert _rules(matches) == {10: "client-address", 11: "client-address"}


@pytest.mark.parametrize("state", [State.ANSWERED, State.PAID, State.CLOSED])
def test_threads_that_no_longer_listen_are_skipped(state: State) -> None:
    thread = replace(OFFER, state=state)
    inbound = _inbound(in_reply_to=(OFFER_ID,))
    assert match_inbound(inbound, [thread], owner_email=OWNER) == []


@pytest.mark.parametrize("state", [State.OPEN, State.PAUSED, State.RESTING, State.PARKED])
def test_listening_states_match(state: State) -> None:
    thread = replace(OFFER, state=state)
    assert len(match_inbound(_inbound(), [thread], owner_email=OWNER)) == 1


# --- the reason ------------------------------------------------------------------------


def test_reason_in_junk_folder_is_loud() -> None:
    inbound = _inbound(folder="Junk-E-Mail", is_junk_folder=True, in_reply_to=(OFFER_ID,))
    (match, _) = match_inbound(inbound, THREADS, owner_email=OWNER)
    assert match.reason.startswith(
        "jonas.keller@keller-bau.de hat geantwortet (Antwort auf meine Mail, gefunden im "
        "Ordner Junk-E-Mail); ich fasse nicht mehr nach."
    )
    assert "Spam-Ordner" in match.reason


def test_reason_outside_junk_does_not_mention_spam() -> None:
    (match, _) = match_inbound(_inbound(), THREADS, owner_email=OWNER)
    assert "Spam" not in match.reason
    assert "INBOX" in match.reason


def test_match_is_frozen() -> None:
    match = Match(thread_id=1, rule="reference", reason="x")
    with pytest.raises(AttributeError):
        match.rule = "other"  # type: ignore[misc]


# --- the cycle's index of threads ------------------------------------------------------


def _mails() -> list[Inbound]:
    return [
        parse_inbound(CLIENT_REPLY, folder="INBOX", uid=1),
        parse_inbound(GMAIL_VACATION, folder="INBOX", uid=2),
        _inbound(),
        _inbound(from_addr="empfang@keller-bau.de"),
        _inbound(from_addr="chefin@mueller-gmbh.de"),
        _inbound(from_addr="fremd@example.test", references=(INVOICE_ID.upper(),)),
    ]


def test_the_index_gives_the_answers_of_the_list_of_threads() -> None:
    index = index_threads(THREADS)
    for inbound in _mails():
        assert related_threads(inbound, index, owner_email=OWNER) == related_threads(
            inbound, THREADS, owner_email=OWNER
        )


def test_an_updated_index_is_the_index_of_the_threads_read_again() -> None:
    """After an answer (a thread stops listening) and a new thread, the index updated for
    the changed threads answers as one built afresh over the listening threads."""
    answered = replace(OFFER, state=State.ANSWERED)
    new = replace(OTHER_CLIENT, id=20, client=KELLER, message_ids=frozenset({"<n@x>"}))
    before = [t for t in THREADS if t.state in LISTENING_STATES]
    after = [t for t in (answered, INVOICE, OTHER_CLIENT, new) if t.state in LISTENING_STATES]
    updated = index_threads(before, {FOLLOW_UP_ID}).updated({10: answered, 20: new}, ())
    fresh = index_threads(after)
    assert len(fresh.threads) == len(before)
    assert updated.threads == fresh.threads
    for inbound in _mails():
        assert related_threads(inbound, updated, owner_email=OWNER) == related_threads(
            inbound, fresh, owner_email=OWNER
        )

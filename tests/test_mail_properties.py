"""Properties of reading mail, over generated and random bytes (hypothesis).

* Nothing in ``mail/`` raises on any bytes: header parsing, classification, the body's
  plain text, the verdict, the approval check (docs/DESIGN.md, "Guarantees": a mail that
  cannot be parsed is skipped, the loop goes on).
* A person's reply naming one of our Message-IDs answers that thread, whatever its Date
  (year 0001, 1900, 9999, garbage, none) and whatever its body.
* The cycle's index of threads (``ThreadIndex``) gives every mail the verdict the list
  of threads gives it: the index only saves comparisons.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mailstrategies import budget, human_answers, raw_mails
from nachfass_bot.domain.models import LISTENING_STATES, Client, Kind, State, Thread, VerdictKind
from nachfass_bot.mail.approval import check_reply, parse_command, parse_owner_request
from nachfass_bot.mail.classify import classify_message
from nachfass_bot.mail.headers import authentication_results, plain_text
from nachfass_bot.mail.inbound import parse_inbound
from nachfass_bot.mail.judge import judge_inbound, judge_mail, needs_body
from nachfass_bot.mail.matching import index_threads
from nachfass_bot.mail.owntext import own_text

OWNER = "anna@berger-design.test"
OURS = ("<offer-1@berger-design.test>", "<nachfass.17@berger-design.test>", "<Own.X@Host.test>")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

any_mail = st.one_of(st.binary(max_size=3000), raw_mails())


@st.composite
def threads(draw: st.DrawFn) -> list[Thread]:
    """One to three threads in any state, each holding some of our Message-IDs."""
    found = []
    for number in range(1, draw(st.integers(1, 3)) + 1):
        ids = draw(st.sets(st.sampled_from(OURS), max_size=2))
        client = draw(
            st.sampled_from(
                (
                    Client("jonas@keller-bau.test", "Jonas Keller", id=1),
                    Client("m@gmx.de", None, assistant_email="info@example.test", id=2),
                )
            )
        )
        found.append(
            Thread(
                id=number,
                kind=draw(st.sampled_from(Kind)),
                client=client,
                subject="Angebot",
                state=draw(st.sampled_from(State)),
                step=draw(st.integers(0, 3)),
                started_at=START + timedelta(days=draw(st.integers(-400, 400))),
                message_ids=frozenset(ids),
            )
        )
    return found


@budget(200)
@given(any_mail, threads(), st.dates(), st.sampled_from(["INBOX", "Junk", "Spam/ä"]))
def test_reading_a_mail_never_raises(
    raw: bytes, known: list[Thread], received: date, folder: str
) -> None:
    inbound = parse_inbound(raw, folder=folder, uid=7, is_junk_folder=folder != "INBOX")
    own = set(OURS)
    needs_body(inbound, known, owner_email=OWNER, own_message_ids=own)
    judge_inbound(inbound, raw, threads=known, owner_email=OWNER, own_message_ids=own)
    judge_mail(raw, folder=folder, threads=known, owner_email=OWNER, own_message_ids=own)
    classify_message(raw, received=received)
    index = index_threads(known, own)
    assert needs_body(inbound, index, owner_email=OWNER) == needs_body(
        inbound, known, owner_email=OWNER, own_message_ids=own
    )
    assert judge_inbound(inbound, raw, threads=index, owner_email=OWNER) == judge_inbound(
        inbound, raw, threads=known, owner_email=OWNER, own_message_ids=own
    )
    text = plain_text(raw)
    authentication_results(raw)
    check_reply(raw, OWNER)
    own_text(text, draft_body="Guten Tag,\n\nwie steht es?", token="0123456789abcdef0123")
    parse_command(text, today=received, draft_body="Guten Tag", token="0123456789abcdef0123")
    parse_owner_request(inbound.subject, text, today=received)


@budget(200)
@given(st.data(), threads())
def test_a_person_naming_our_message_id_always_answers(data: st.DataObject, known: list[Thread]):
    """Whatever the Date says — a reset phone clock (1970, 2000), a typo (0001, 9999),
    garbage, none — a reply that names a mail of the thread was written after it."""
    referencing = [t for t in known if t.message_ids]
    if not referencing:
        return
    raw, referenced = data.draw(
        human_answers(sorted({mid for t in referencing for mid in t.message_ids}), OWNER)
    )
    verdict = judge_mail(
        raw, folder="INBOX", threads=known, owner_email=OWNER, own_message_ids=set(OURS)
    )
    for thread in known:
        if thread.state in LISTENING_STATES and referenced in thread.message_ids:
            assert verdict.kind is VerdictKind.ANSWER, verdict
            assert thread.id in verdict.thread_ids, verdict

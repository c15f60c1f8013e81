"""A send that hangs: before DATA it is safe to retry, once DATA began it is uncertain
(issue 10, point 4). The SMTP sink stalls a command and the transport gives up, either
at its deadline for the whole send or at its timeout for one answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from loophelpers import local, mails_to, owner_reply, write_config
from nachfass_bot.adapters.smtp import SmtpTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.engine import Engine
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import Config, load_config
from nachfass_bot.domain.models import Client, DraftState, Kind
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.compose import address, build_mail
from servers import CuttingProxy, MailAccount, SmtpSink

CLIENT = "m.sommer@kanzlei-sommer.test"
OFFER_ID = "<offer-phases@berger-design.test>"
GIVE_UP = 1.5  # seconds until the transport gives up on a stalled server

# (per-answer timeout, deadline of the whole send): which of the two runs out first.
LIMITS = {
    "deadline of the whole send": (30.0, GIVE_UP),
    "timeout of one answer": (GIVE_UP, None),
}


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Config:
    return load_config(write_config(tmp_path, dovecot, smtp_sink, monkeypatch))


@pytest.fixture(params=list(LIMITS))
def transport(
    request: pytest.FixtureRequest, config: Config, dovecot: MailAccount
) -> SmtpTransport:
    timeout, deadline = LIMITS[request.param]
    return SmtpTransport(config.smtp, dovecot.password, timeout=timeout, deadline=deadline)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "nachfass.db")
    yield opened
    opened.close()


@pytest.fixture
def engine(config: Config, store: Store, transport: SmtpTransport) -> Engine:
    return build_engine(config, store, build_texts(config), transport=transport)


def client_mail(owner: str) -> EmailMessage:
    return build_mail(
        sender=address(owner, "Anna Berger"), recipient=address(CLIENT), subject="Angebot",
        body="Guten Tag", message_id="<phase-test@example.test>", now=local("2026-03-11T10:00"),
    )  # fmt: skip


def test_a_stall_after_the_data_is_uncertain_with_a_german_reason(
    transport: SmtpTransport, smtp_sink: SmtpSink, dovecot: MailAccount
) -> None:
    smtp_sink.stall_next("DATA")
    with pytest.raises(DeliveryError) as caught:
        transport.send(client_mail(dovecot.user))
    assert caught.value.uncertain, "the server has the mail: never send it again"
    assert not caught.value.permanent
    assert "Zeitüberschreitung" in str(caught.value)
    assert "unklar" in str(caught.value)
    assert len(smtp_sink.messages) == 1


def test_a_stall_before_the_data_is_temporary_with_a_german_reason(
    transport: SmtpTransport, smtp_sink: SmtpSink, dovecot: MailAccount
) -> None:
    smtp_sink.stall_next("RCPT")
    with pytest.raises(DeliveryError) as caught:
        transport.send(client_mail(dovecot.user))
    assert not caught.value.uncertain, "nothing was sent: a later try is safe"
    assert not caught.value.permanent
    assert "Zeitüberschreitung" in str(caught.value)
    assert smtp_sink.messages == []


def approved_draft(engine: Engine, store: Store, dovecot: MailAccount, sink: SmtpSink) -> int:
    """An offer of 3 March whose first step the owner approved on 11 March at 10:40."""
    sent_at = local("2026-03-03T10:15")
    client_id = store.upsert_client(Client(email=CLIENT, name="Miriam Sommer"), sent_at)
    thread_id = store.add_thread(
        kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot Logo", started_at=sent_at,
        now=sent_at, message_id=OFFER_ID,
    )  # fmt: skip
    engine.tick(local("2026-03-11T10:30"))
    draft = mails_to(sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40")))
    return thread_id


def unclear_alerts(sink: SmtpSink, owner: str) -> int:
    return sum("unklar" in str(m["Subject"]) for m in mails_to(sink, owner))


def test_a_client_mail_cut_off_during_data_ends_unclear_and_is_never_resent(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = approved_draft(engine, store, dovecot, smtp_sink)
    smtp_sink.stall_next("DATA", recipient=CLIENT)

    report = engine.tick(local("2026-03-11T10:45"))

    assert report.sent == 0
    assert [d.state for d in store.drafts(list(DraftState), thread_id)] == [DraftState.UNCLEAR]
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "the server got the mail once"
    assert unclear_alerts(smtp_sink, dovecot.user) == 1
    assert any("während der Übertragung" in problem for problem in report.problems)
    assert store.thread(thread_id).step == 1, "the step counts as done"

    smtp_sink.release()
    for later in ("2026-03-11T11:00", "2026-03-12T10:00"):
        assert engine.tick(local(later)).sent == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "never sent a second time"
    assert unclear_alerts(smtp_sink, dovecot.user) == 1, "the owner is alerted once"


def test_a_client_mail_stalled_before_data_is_retried_and_sent_once(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = approved_draft(engine, store, dovecot, smtp_sink)
    smtp_sink.stall_next("RCPT", recipient=CLIENT)

    report = engine.tick(local("2026-03-11T10:45"))

    assert report.sent == 0
    (draft,) = store.drafts(list(DraftState), thread_id)
    assert draft.state is DraftState.APPROVED, "nothing went out: tried again later"
    assert draft.send_after == local("2026-03-11T10:50")
    assert mails_to(smtp_sink, CLIENT) == []

    smtp_sink.release()
    assert engine.tick(local("2026-03-11T10:46")).sent == 0, "not before the backoff"
    assert engine.tick(local("2026-03-11T10:51")).sent == 1
    assert len(mails_to(smtp_sink, CLIENT)) == 1
    assert store.draft(draft.id).state is DraftState.SENT
    assert unclear_alerts(smtp_sink, dovecot.user) == 0


# -- one SMTP session for the mails of a cycle ------------------------------------------


def numbered_mail(owner: str, number: int) -> EmailMessage:
    return build_mail(
        sender=address(owner, "Anna Berger"), recipient=address(CLIENT), subject="Angebot",
        body="Guten Tag", message_id=f"<session-{number}@example.test>",
        now=local("2026-03-11T10:00"),
    )  # fmt: skip


def test_mails_of_a_session_share_one_connection_and_login(
    config: Config, smtp_sink: SmtpSink, dovecot: MailAccount
) -> None:
    transport = SmtpTransport(config.smtp, dovecot.password)
    with transport.session():
        for number in range(3):
            transport.send(numbered_mail(dovecot.user, number))
    transport.send(numbered_mail(dovecot.user, 3))
    assert len(smtp_sink.messages) == 4
    assert len(smtp_sink.auth_logins) == 2, "one login for the session, one for the mail after"


def test_a_session_whose_connection_the_server_dropped_opens_a_new_one(
    config: Config, smtp_sink: SmtpSink, dovecot: MailAccount
) -> None:
    with CuttingProxy(smtp_sink.host, smtp_sink.port, cut_after_bytes=None) as proxy:
        server = replace(config.smtp, port=proxy.port)
        transport = SmtpTransport(server, dovecot.password)
        with transport.session():
            transport.send(numbered_mail(dovecot.user, 1))
            proxy.cut()
            transport.send(numbered_mail(dovecot.user, 2))
    assert len(smtp_sink.messages) == 2
    assert len(proxy.connections) == 2

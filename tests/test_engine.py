"""Engine cycles against the real Dovecot, with hooks at the exact moments that matter."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loophelpers import local, mail, mails_to, owner_reply, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.engine import Engine
from nachfass_bot.app.threads import resume_thread
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, Kind, State
from nachfass_bot.errors import TemplateError
from servers import MailAccount, SmtpSink

CLIENT = "m.sommer@kanzlei-sommer.test"
OFFER_ID = "<offer-sommer@berger-design.test>"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "nachfass.db")
    yield opened
    opened.close()


@pytest.fixture
def engine(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, store: Store, monkeypatch
) -> Engine:
    config = load_config(write_config(tmp_path, dovecot, smtp_sink, monkeypatch))
    return build_engine(config, store, build_texts(config))


def add_offer(store: Store, sent_at: datetime) -> int:
    client_id = store.upsert_client(Client(email=CLIENT, name="Miriam Sommer"), sent_at)
    return store.add_thread(
        kind=Kind.ANGEBOT,
        client_id=client_id,
        subject="Angebot Logo",
        started_at=sent_at,
        now=sent_at,
        message_id=OFFER_ID,
    )


def client_answer(owner: str, when: datetime) -> bytes:
    return mail(
        sender=f"Miriam Sommer <{CLIENT}>",
        to=owner,
        subject="Re: Angebot Logo",
        body="Guten Tag Frau Berger,\n\nwir sind dabei!\n",
        date=when,
        in_reply_to=OFFER_ID,
    )


class AnswerArrivesWhileApproving:
    """A mailbox that lets the client's answer land right after the owner's "ok" is read,
    i.e. after the cycle's poll and just before the send."""

    def __init__(self, inner: ImapMailbox, account: MailAccount, when: datetime) -> None:
        self.inner = inner
        self.account = account
        self.when = when
        self.delivered = False

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        return self.fetch_messages(folder, [uid])[uid]

    def fetch_messages(self, folder: str, uids: list[int]) -> dict[int, bytes | None]:
        """Every body read (one or a batch) goes through here."""
        found = self.inner.fetch_messages(folder, uids)
        if not self.delivered:
            self.account.append("INBOX", client_answer(self.account.user, self.when))
            self.delivered = True
        return found

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_last_look_before_sending_cancels_when_the_client_just_answered(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    engine.tick(local("2026-03-11T10:30"))
    draft = mails_to(smtp_sink, dovecot.user)[0]
    dovecot.append("INBOX", owner_reply(dovecot, draft, "senden", local("2026-03-11T10:40")))

    real_open = engine.open_mailbox
    wrapped: list[AnswerArrivesWhileApproving] = []

    def open_with_race():
        wrapped.append(AnswerArrivesWhileApproving(real_open(), dovecot, local("2026-03-11T10:49")))
        return wrapped[-1]

    engine.open_mailbox = open_with_race
    report = engine.tick(local("2026-03-11T10:50"))

    assert wrapped[0].delivered, "the answer really arrived after the approval was read"
    assert report.commands == 1
    assert report.sent == 0
    assert mails_to(smtp_sink, CLIENT) == []
    thread = store.thread(thread_id)
    assert thread.state is State.ANSWERED
    assert [d.state for d in store.drafts(["cancelled", "sent", "approved"])] == ["cancelled"]


def test_uidvalidity_change_rescans_without_double_counting(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    dovecot.append("INBOX", client_answer(dovecot.user, local("2026-03-05T09:00")))
    first = engine.tick(local("2026-03-05T10:00"))
    assert first.answers == 1
    answered_at = store.thread(thread_id).answered_at

    validity, last_uid = store.folder_state("INBOX")
    store.save_folder_state("INBOX", validity + 1, last_uid, local("2026-03-05T10:00"))
    second = engine.tick(local("2026-03-06T10:00"))

    assert second.answers == 0
    assert store.thread(thread_id).answered_at == answered_at
    assert store.folder_state("INBOX") == (validity, last_uid)
    answer_events = [e for e in store.events(thread_id) if e.kind == "answer"]
    assert len(answer_events) == 1
    assert any("UIDVALIDITY" in e.text for e in store.events())


def test_mailbox_sync_is_incremental_by_uid(
    engine: Engine, store: Store, dovecot: MailAccount
) -> None:
    add_offer(store, local("2026-03-03T10:15"))
    for number in range(3):
        dovecot.append(
            "INBOX",
            mail(
                sender=f"news{number}@shop.test",
                to=dovecot.user,
                subject="Angebot der Woche",
                body="Rabatt!\n",
                date=local("2026-03-04T08:00"),
            ),
        )
    engine.tick(local("2026-03-04T10:00"))
    assert store.folder_state("INBOX")[1] == 3

    seen_before = store.db["seen"].count
    engine.tick(local("2026-03-04T11:00"))
    assert store.db["seen"].count == seen_before, "a second cycle reads nothing old again"


def test_owner_mail_to_client_is_never_an_answer(
    engine: Engine, store: Store, dovecot: MailAccount
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    own = mail(
        sender=dovecot.user,
        to=CLIENT,
        subject="Re: Angebot Logo",
        body="Kleine Ergänzung zum Angebot.\n",
        date=local("2026-03-04T09:00"),
        in_reply_to=OFFER_ID,
    )
    dovecot.append("INBOX", own)
    report = engine.tick(local("2026-03-04T10:00"))

    assert report.answers == 0
    assert store.thread(thread_id).state is State.OPEN


def test_auto_reply_is_not_an_answer(engine: Engine, store: Store, dovecot: MailAccount) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    vacation = mail(
        sender=CLIENT,
        to=dovecot.user,
        subject="Abwesenheitsnotiz: Angebot Logo",
        body="Ich bin bis 20.03. nicht im Büro.\n",
        date=local("2026-03-03T10:16"),
        in_reply_to=OFFER_ID,
        extra={"Auto-Submitted": "auto-replied"},
    )
    dovecot.append("INBOX", vacation)
    report = engine.tick(local("2026-03-04T10:00"))

    assert report.answers == 0
    assert store.thread(thread_id).state is State.OPEN


def approve_first_step(engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink):
    """Offer sent 2026-03-03; the draft comes on 2026-03-11 and the owner says ok."""
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    engine.tick(local("2026-03-11T10:30"))
    draft = mails_to(smtp_sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40")))
    return thread_id


def test_answer_in_junk_alerts_the_owner(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    add_offer(store, local("2026-03-03T10:15"))
    dovecot.append("Junk", client_answer(dovecot.user, local("2026-03-05T09:00")))
    engine.tick(local("2026-03-05T10:00"))

    alerts = mails_to(smtp_sink, dovecot.user)
    assert len(alerts) == 1
    assert "Spam-Ordner" in alerts[0]["Subject"]
    assert "Miriam Sommer" in alerts[0].get_content()
    assert alerts[0]["Auto-Submitted"] == "auto-generated"


def test_owner_mail_in_sent_restarts_the_count(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    by_hand = mail(
        sender=f"Anna Berger <{dovecot.user}>",
        to=f"Miriam Sommer <{CLIENT}>",
        subject="Re: Angebot Logo",
        body="Kurze Ergänzung: der Preis gilt bis Ende März.\n",
        date=local("2026-03-09T16:00"),
        in_reply_to=OFFER_ID,
    )
    dovecot.append("Sent", by_hand)

    engine.tick(local("2026-03-11T10:30"))
    assert mails_to(smtp_sink, dovecot.user) == [], "the count restarted on 9 March"
    thread = store.thread(thread_id)
    assert thread.state is State.OPEN
    assert thread.last_step_at == local("2026-03-09T16:00")
    assert any("selbst geschrieben" in e.text for e in store.events(thread_id))

    engine.tick(local("2026-03-17T16:05"))
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "8 days after the owner's own mail"


def test_later_postpones_and_paid_closes_an_invoice(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    client_id = store.upsert_client(Client(email=CLIENT), local("2026-03-02T09:00"))
    thread_id = store.add_thread(
        kind=Kind.RECHNUNG,
        client_id=client_id,
        subject="Rechnung 2026-015",
        started_at=local("2026-03-02T09:00"),
        now=local("2026-03-02T09:00"),
        invoice_no="2026-015",
        amount=Decimal("480.00"),
        due_date=date(2026, 3, 16),
    )
    engine.tick(local("2026-03-19T10:00"))
    first = mails_to(smtp_sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, first, "später 7", local("2026-03-19T10:05")))
    engine.tick(local("2026-03-19T10:10"))
    assert store.thread(thread_id).paused_until == local("2026-03-26T10:10")

    engine.tick(local("2026-03-25T10:00"))
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "nothing during the pause"
    engine.tick(local("2026-03-26T10:15"))
    again = mails_to(smtp_sink, dovecot.user)[-1]
    assert again["Message-ID"] != first["Message-ID"]
    assert "2026-015" in again.get_content()

    dovecot.append("INBOX", owner_reply(dovecot, again, "Bezahlt.", local("2026-03-26T11:00")))
    engine.tick(local("2026-03-26T11:05"))
    assert store.thread(thread_id).state is State.PAID
    assert mails_to(smtp_sink, CLIENT) == []


def test_temporary_smtp_refusal_is_retried_and_permanent_one_fails(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = approve_first_step(engine, store, dovecot, smtp_sink)
    smtp_sink.fail_next(451, "4.3.0 Try again later")
    report = engine.tick(local("2026-03-11T10:50"))
    assert report.sent == 0
    assert store.drafts(["approved"], thread_id), "a 4xx keeps the draft approved"

    report = engine.tick(local("2026-03-11T11:00"))
    assert report.sent == 1
    assert len(mails_to(smtp_sink, CLIENT)) == 1

    store.update_thread(
        thread_id, local("2026-03-18T11:00"), last_step_at=local("2026-03-10T11:00")
    )
    engine.tick(local("2026-03-18T11:05"))
    second = mails_to(smtp_sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, second, "ok", local("2026-03-18T11:10")))
    smtp_sink.fail_next(550, "5.1.1 User unknown")
    engine.tick(local("2026-03-18T11:15"))
    assert [d.state for d in store.drafts(["failed"], thread_id)] == ["failed"]
    assert store.thread(thread_id).state is State.PAUSED, "no step is drafted again by itself"
    alert = mails_to(smtp_sink, dovecot.user)[-1]
    assert f"nachfass-bot resume {thread_id}" in alert.get_content()
    engine.tick(local("2026-03-18T11:30"))
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "a 5xx is never retried"
    assert not [e for e in store.events(thread_id) if "UNIQUE" in e.text], "no error each cycle"

    # After "resume" the step is drafted afresh: the failed draft blocks it no more.
    resume_thread(store, thread_id, local("2026-03-18T12:00"))
    drafted = len(mails_to(smtp_sink, dovecot.user))
    engine.tick(local("2026-03-25T12:05"))
    assert len(mails_to(smtp_sink, dovecot.user)) == drafted + 1
    assert store.drafts(["pending"], thread_id)[0].step_number == 2


def crash_while_sending(engine: Engine, store: Store, dovecot, smtp_sink) -> tuple[int, int]:
    """The first step was sent; then the draft is set back to "sending" as a crash
    between the server's 250 and our commit would leave it."""
    thread_id = approve_first_step(engine, store, dovecot, smtp_sink)
    engine.tick(local("2026-03-11T10:45"))
    assert len(mails_to(smtp_sink, CLIENT)) == 1
    draft = store.drafts(["sent"], thread_id)[0]
    store.db.execute("UPDATE drafts SET state = 'sending' WHERE id = ?", [draft.id])
    store.update_thread(thread_id, local("2026-03-11T10:46"), step=0)
    return thread_id, draft.id


def test_interrupted_send_found_in_sent_folder_counts_as_sent(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id, draft_id = crash_while_sending(engine, store, dovecot, smtp_sink)
    owner_mails = len(mails_to(smtp_sink, dovecot.user))

    engine.tick(local("2026-03-11T11:00"))

    assert len(mails_to(smtp_sink, CLIENT)) == 1, "never sent twice"
    assert store.draft(draft_id).state == "sent"
    assert store.thread(thread_id).step == 1
    assert len(mails_to(smtp_sink, dovecot.user)) == owner_mails, "nothing to worry about"


def test_interrupted_send_not_in_sent_folder_is_unclear_and_never_resent(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id, draft_id = crash_while_sending(engine, store, dovecot, smtp_sink)
    dovecot.delete_all("Sent")

    engine.tick(local("2026-03-11T11:00"))

    assert len(mails_to(smtp_sink, CLIENT)) == 1
    assert store.draft(draft_id).state == "unclear"
    assert store.thread(thread_id).step == 1
    assert "unklar" in mails_to(smtp_sink, dovecot.user)[-1]["Subject"]


def test_out_of_office_postpones_the_next_step_past_the_return_date(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    vacation = mail(
        sender=f"Miriam Sommer <{CLIENT}>",
        to=dovecot.user,
        subject="Automatische Antwort: Angebot Logo",
        body=(
            "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 13.03.2026 nicht "
            "im Büro und ab dem 16.03. wieder für Sie da.\n"
        ),
        date=local("2026-03-03T10:16"),
        in_reply_to=OFFER_ID,
        extra={"Auto-Submitted": "auto-replied"},
    )
    dovecot.append("INBOX", vacation)

    report = engine.tick(local("2026-03-11T10:30"))  # the step would be due today

    assert report.answers == 0
    assert report.drafts == 0
    thread = store.thread(thread_id)
    assert thread.state is State.OPEN
    assert thread.paused_until == local("2026-03-17T09:00"), "back 16.03. + 1 business day"
    assert any(
        e.text == "Miriam Sommer ist ab Montag, 16. März 2026 wieder da (Abwesenheitsnotiz, keine "
        "Antwort); der nächste Schritt kommt frühestens am Dienstag, 17. März 2026, 09:00 Uhr."
        for e in store.events(thread_id)
    ), [e.text for e in store.events(thread_id)]

    engine.tick(local("2026-03-16T16:00"))
    assert mails_to(smtp_sink, dovecot.user) == []
    engine.tick(local("2026-03-17T09:00"))
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "drafted once the client is back"


def test_permanent_bounce_pauses_the_thread_with_a_task_and_an_alert(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    bounce = (
        "From: MAILER-DAEMON@mail.berger-design.test (Mail Delivery System)\r\n"
        f"To: {dovecot.user}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Tue, 03 Mar 2026 10:16:02 +0100\r\n"
        "Message-ID: <bounce-1@mail.berger-design.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n--B1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"<{CLIENT}>: host mx.kanzlei-sommer.test said: 550 5.1.1 User unknown\r\n"
        "\r\n--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.berger-design.test\r\n\r\n"
        f"Final-Recipient: rfc822; {CLIENT}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {OFFER_ID}\r\nSubject: Angebot Logo\r\n"
        "\r\n--B1--\r\n"
    ).encode()
    dovecot.append("INBOX", bounce)

    report = engine.tick(local("2026-03-03T11:00"))

    assert report.answers == 0
    thread = store.thread(thread_id)
    assert thread.state is State.PAUSED
    assert [t.text for t in store.tasks("open", thread_id)] == [
        "E-Mail kam nicht an – bitte anrufen oder Adresse prüfen."
    ]
    alerts = mails_to(smtp_sink, dovecot.user)
    assert len(alerts) == 1 and "kam nicht an" in alerts[0]["Subject"]
    engine.tick(local("2026-03-11T10:30"))
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "a paused thread drafts nothing"


def test_colleague_at_the_client_company_stops_the_thread(
    engine: Engine, store: Store, dovecot: MailAccount
) -> None:
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    colleague = mail(
        sender="Paul Wagner <p.wagner@kanzlei-sommer.test>",
        to=dovecot.user,
        subject="Ihr Angebot Logo",
        body="Frau Sommer ist krank, ich übernehme das. Passt alles, legen Sie los.\n",
        date=local("2026-03-05T09:00"),
    )
    dovecot.append("INBOX", colleague)
    report = engine.tick(local("2026-03-05T10:00"))
    assert report.answers == 1
    assert store.thread(thread_id).state is State.ANSWERED


def test_move_spam_replies_moves_the_answer_to_inbox(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, store: Store, monkeypatch
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    text = path.read_text()
    path.write_text(text.replace("[mailbox]\n", "[mailbox]\nmove_spam_replies = true\n", 1))
    config = load_config(path)
    engine = build_engine(config, store, build_texts(config))
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    dovecot.append("Junk", client_answer(dovecot.user, local("2026-03-05T09:00")))

    report = engine.tick(local("2026-03-05T10:00"))

    assert report.answers == 1
    assert store.thread(thread_id).answered_folder == "Junk"
    assert dovecot.messages("Junk") == []
    assert any(b"wir sind dabei" in raw for raw in dovecot.messages("INBOX"))
    engine.tick(local("2026-03-05T11:00"))
    assert len([e for e in store.events(thread_id) if e.kind == "answer"]) == 1


def test_a_late_ok_still_sends_when_the_text_cannot_be_rendered_again(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    add_offer(store, local("2026-03-03T10:15"))
    engine.tick(local("2026-03-11T10:30"))
    draft = mails_to(smtp_sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-16T10:00")))

    def broken(*args, **kwargs):
        raise TemplateError("Vorlage angebot_1.txt, Zeile 3: kaputt")

    monkeypatch.setattr(engine, "render_client_mail", broken)
    report = engine.tick(local("2026-03-16T10:05"))

    assert report.sent == 1, "the approved text goes out as the owner saw it"
    assert "Angebot Logo" in mails_to(smtp_sink, CLIENT)[0]["Subject"]


def test_a_broken_alert_template_never_costs_the_answer(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, store: Store, monkeypatch
) -> None:
    overrides = tmp_path / "vorlagen"
    overrides.mkdir()
    (overrides / "owner_spam_alert.txt").write_text("Betreff: {{ kaputt\n\nText\n")
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    path.write_text('templates_dir = "vorlagen"\n' + path.read_text())
    config = load_config(path)
    engine = build_engine(config, store, build_texts(config))
    thread_id = add_offer(store, local("2026-03-03T10:15"))
    dovecot.append("Junk", client_answer(dovecot.user, local("2026-03-05T09:00")))

    report = engine.tick(local("2026-03-05T10:00"))

    assert report.answers == 1
    assert store.thread(thread_id).state is State.ANSWERED
    assert any(
        "nicht zugestellt" in e.text and "owner_spam_alert" in e.text
        for e in store.events(thread_id)
    )


class MovedAwayBeforeItsBodyIsRead:
    """The owner's mail program moves a new INBOX mail to Junk between the header fetch
    and the body fetch: the body is gone from INBOX."""

    def __init__(self, inner: ImapMailbox) -> None:
        self.inner = inner
        self.moved = False

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        return self.fetch_messages(folder, [uid])[uid]

    def fetch_messages(self, folder: str, uids: list[int]) -> dict[int, bytes | None]:
        """Every body read (one or a batch) goes through here: the first INBOX mail asked
        for is moved away just before."""
        if folder == "INBOX" and not self.moved and uids:
            self.inner.move(folder, uids[0], "Junk")
            self.moved = True
        return self.inner.fetch_messages(folder, uids)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_mail_gone_before_its_body_is_read_is_judged_whole_where_it_went(
    engine: Engine, store: Store, dovecot: MailAccount
) -> None:
    """Judged from its header alone, a bounce from the client's own domain would be
    nothing (or worse, an answer); its copy in Junk is read whole and pauses the thread."""
    client_id = store.upsert_client(
        Client(email="jonas.keller@keller-bau.de"), local("2026-03-02T09:00")
    )
    thread_id = store.add_thread(
        kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot Relaunch Webseite Keller Bau",
        started_at=local("2026-03-02T09:00"), now=local("2026-03-02T09:00"),
        message_id="<angebot-keller@berger-design.de>",
    )  # fmt: skip
    corpus = Path(__file__).parent / "corpus" / "qmail_client_domain_qp_keller.eml"
    dovecot.append("INBOX", corpus.read_bytes())
    real_open = engine.open_mailbox
    wrapped: list[MovedAwayBeforeItsBodyIsRead] = []

    def open_and_move():
        wrapped.append(MovedAwayBeforeItsBodyIsRead(real_open()))
        return wrapped[-1]

    engine.open_mailbox = open_and_move
    engine.tick(local("2026-03-04T10:30"))

    assert wrapped[0].moved
    thread = store.thread(thread_id)
    assert thread.state is State.PAUSED
    assert thread.answered_at is None

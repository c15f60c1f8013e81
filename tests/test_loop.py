"""The whole follow-up loop through a real Dovecot and a real SMTP server, via the CLI."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from loophelpers import (
    cli,
    cli_json,
    local,
    mail,
    mails_to,
    owner_reply,
    track,
    write_config,
)
from servers import MailAccount, SmtpSink

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-2026-03@berger-design.test>"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def track_offer(config: Path, capsys) -> int:
    return track(
        config,
        capsys,
        "--kind", "angebot",
        "--to", CLIENT,
        "--name", "Jonas Keller",
        "--subject", "Angebot Gestaltung Geschäftsräume",
        "--message-id", OFFER_ID,
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip


def draft_due(config: Path, sink: SmtpSink, owner: str):
    """Tick on the due day (offer + 8 days) and return the draft mailed to the owner."""
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    drafts = mails_to(sink, owner)
    assert len(drafts) == 1
    return drafts[0]


def test_offer_followup_is_drafted_approved_and_sent_threaded(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)

    assert cli(config, "tick", "--now", "2026-03-10T16:00") == 0
    assert smtp_sink.messages == [], "nothing may happen before the due day"

    draft = draft_due(config, smtp_sink, dovecot.user)
    assert "[NF-" in draft["Subject"]
    assert "Jonas Keller" in draft["Subject"]
    assert "Guten Tag Jonas Keller" in draft.get_content()
    assert any("[NF-" in raw.decode() for raw in dovecot.messages("INBOX")), "draft in INBOX"

    reply = owner_reply(dovecot, draft, "Ok!", local("2026-03-11T10:45"))
    dovecot.append("INBOX", reply)
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0

    sent = mails_to(smtp_sink, CLIENT)
    assert len(sent) == 1
    client_mail = sent[0]
    assert client_mail["In-Reply-To"] == OFFER_ID
    assert OFFER_ID in client_mail["References"]
    assert client_mail["Message-ID"].endswith(">")
    assert parsedate_to_datetime(client_mail["Date"]) == local("2026-03-11T11:00")
    assert "Geschäftsräume" in client_mail["Subject"]
    assert "Geschäftsräume" in client_mail.get_content()
    assert "Anna Berger" in str(client_mail["From"])
    assert "[NF-" not in client_mail.get_content(), "the token never reaches the client"
    raw = next(m.raw for m in smtp_sink.messages if CLIENT in m.rcpt_tos)
    assert raw.isascii(), "umlauts must be MIME-encoded on the wire"

    copies = dovecot.messages("Sent")
    assert len(copies) == 1
    assert client_mail["Message-ID"].encode() in copies[0]

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "open"
    assert shown["step"] == 1
    assert any("gesendet" in event["text"] for event in shown["events"])

    assert cli(config, "tick", "--now", "2026-03-12T11:00") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "never send the same step twice"


def test_answer_in_junk_before_due_stops_without_draft(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    answer = mail(
        sender=f"Jonas Keller <{CLIENT}>",
        to=dovecot.user,
        subject="AW: Angebot Gestaltung Geschäftsräume",
        body="Hallo Frau Berger,\n\ndas passt, lassen Sie uns telefonieren.\n",
        date=local("2026-03-06T09:12"),
        in_reply_to=OFFER_ID,
    )
    dovecot.append("Junk", answer)

    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    assert not any("[NF-" in str(m.message["Subject"]) for m in smtp_sink.messages)
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "answered"
    assert shown["answered_folder"] == "Junk"
    assert shown["answered_at"].startswith("2026-03-06T08:12")
    assert any("Junk" in event["text"] for event in shown["events"])
    listed = cli_json(config, capsys, "list")
    assert [row["state"] for row in listed] == ["answered"]


def test_old_mail_from_client_is_not_an_answer(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    old = mail(
        sender=CLIENT,
        to=dovecot.user,
        subject="Anfrage Geschäftsräume",
        body="Können Sie uns ein Angebot machen?\n",
        date=local("2026-02-20T09:00"),
    )
    dovecot.append("INBOX", old)

    draft_due(config, smtp_sink, dovecot.user)

    assert cli_json(config, capsys, "show", str(thread_id))["state"] == "open"


def test_answer_between_draft_and_approval_sends_nothing(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    draft = draft_due(config, smtp_sink, dovecot.user)
    answer = mail(
        sender=CLIENT,
        to=dovecot.user,
        subject="Re: Angebot",
        body="Sorry, war im Urlaub. Wir machen das!\n",
        date=local("2026-03-11T12:00"),
    )
    dovecot.append("INBOX", answer)
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T12:05")))

    assert cli(config, "tick", "--now", "2026-03-11T12:10") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "answered"
    assert shown["draft_state"] is None
    assert dovecot.messages("Sent") == []


def test_invoice_waits_for_due_date_then_asks_for_payment(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config,
        capsys,
        "--kind", "rechnung",
        "--to", "buchhaltung@praxis-weiss.test",
        "--name", "Jürgen Weiß",
        "--subject", "Rechnung 2026-014",
        "--sent-at", "2026-03-02T09:00",
        "--invoice-no", "2026-014",
        "--amount", "1190.00",
        "--due", "2026-03-16",
    )  # fmt: skip

    for day in ("2026-03-03", "2026-03-16", "2026-03-18"):
        assert cli(config, "tick", "--now", f"{day}T12:00") == 0
    assert smtp_sink.messages == [], "no payment question before due date + 3 days"

    assert cli(config, "tick", "--now", "2026-03-19T09:05") == 0
    drafts = mails_to(smtp_sink, dovecot.user)
    assert len(drafts) == 1
    body = drafts[0].get_content()
    assert "2026-014" in body
    assert "1.190,00\xa0€" in body or "1.190,00 €" in body
    assert "Montag, 16. März 2026" in body
    assert "bereits bezahlt" in body
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"


def test_forged_ok_from_another_address_sends_nothing(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    draft = draft_due(config, smtp_sink, dovecot.user)
    forged = mail(
        sender="Anna Berger <anna.berger@evil.test>",
        to=dovecot.user,
        subject=f"Re: {draft['Subject']}",
        body="ok\n",
        date=local("2026-03-11T11:00"),
        in_reply_to=str(draft["Message-ID"]),
    )
    dovecot.append("INBOX", forged)

    assert cli(config, "tick", "--now", "2026-03-11T11:30") == 0
    assert cli(config, "tick", "--now", "2026-03-12T11:30") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["draft_state"] == "pending"
    assert shown["state"] == "open"
    assert any("fremden Adresse" in event["text"] for event in shown["events"])
    warnings = [m for m in mails_to(smtp_sink, dovecot.user) if "nicht ausgeführt" in m["Subject"]]
    assert len(warnings) == 1, "the owner is warned once"


def test_owner_reply_with_wrong_token_sends_nothing(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    draft = draft_due(config, smtp_sink, dovecot.user)
    guessed = mail(
        sender=dovecot.user,
        to=dovecot.user,
        subject="Re: [NF-00000000000000000000] Entwurf",
        body="ok\n",
        date=local("2026-03-11T11:00"),
        in_reply_to=str(draft["Message-ID"]),
    )
    dovecot.append("INBOX", guessed)

    assert cli(config, "tick", "--now", "2026-03-11T11:30") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"


def test_stop_closes_and_unclear_answer_gets_a_not_understood_reply(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    draft = draft_due(config, smtp_sink, dovecot.user)

    unclear = owner_reply(
        dovecot, draft, "Hm, lieber erst nächste Woche?", local("2026-03-11T11:00")
    )
    dovecot.append("INBOX", unclear)
    assert cli(config, "tick", "--now", "2026-03-11T11:10") == 0
    owner_mails = mails_to(smtp_sink, dovecot.user)
    assert len(owner_mails) == 2
    assert "nicht verstanden" in owner_mails[1]["Subject"].lower() or "nicht verstanden" in (
        owner_mails[1].get_content().lower()
    )
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"

    dovecot.append("INBOX", owner_reply(dovecot, draft, "STOP", local("2026-03-11T11:20")))
    assert cli(config, "tick", "--now", "2026-03-11T11:30") == 0

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "closed"
    assert mails_to(smtp_sink, CLIENT) == []


def test_approval_on_saturday_is_sent_on_monday(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    track_offer(config, capsys)
    draft = draft_due(config, smtp_sink, dovecot.user)
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ja", local("2026-03-14T10:00")))

    assert cli(config, "tick", "--now", "2026-03-14T10:05") == 0
    assert cli(config, "tick", "--now", "2026-03-16T08:55") == 0
    assert mails_to(smtp_sink, CLIENT) == []

    assert cli(config, "tick", "--now", "2026-03-16T09:00") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1

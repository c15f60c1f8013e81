"""Threads started from the Sent folder and from Bcc copies, through a real Dovecot and
SMTP server (docs/DESIGN.md, "Tracking from the Sent folder").

The owner's mail program is played by the test: it sends through the SMTP sink (which
delivers copies to the owner's plus address into INBOX with ``Delivered-To``, as Postfix
and Dovecot's LMTP do) and APPENDs its copy to Sent, as Thunderbird does.
"""

from __future__ import annotations

import io
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mail, mails_to, owner_reply, write_config
from servers import MailAccount, SmtpSink

INVOICES = Path(__file__).parent / "invoices"
CLIENT = "jonas@keller.example"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    # The first cycle marks the moment tracking begins; older sent mail is history.
    assert cli(path, "tick", "--now", "2026-03-02T08:00") == 0
    return path


def offer(owner: str, *, date: datetime, to: str = f"Jonas Keller <{CLIENT}>") -> bytes:
    return mail(
        sender=f"Anna Berger <{owner}>",
        to=to,
        subject="Website-Relaunch",
        body=(
            "Hallo Jonas,\n\nanbei mein Angebot für den Relaunch eurer Website: "
            "Festpreis 4.800 € netto, Start im April.\n\nViele Grüße\nAnna"
        ),
        date=date,
    )


def einvoice(owner: str) -> bytes:
    """The Factur-X invoice mail of tests/invoices, as sent by the owner."""
    raw = (INVOICES / "mail_facturx_en16931.eml").read_bytes()
    raw = raw.replace(b"From: Jana Texter <jana@texter.example>", f"From: <{owner}>".encode())
    raw = raw.replace(
        b"Date: Mon, 30 Nov 2026 10:15:00 +0100", b"Date: Mon, 02 Mar 2026 11:00:00 +0100"
    )
    return raw.replace(b"<9a0d08df@texter.example>", b"<rechnung-2026-014@anna.example>")


def notices(sink: SmtpSink, owner: str, subject_part: str) -> list[EmailMessage]:
    return [m for m in mails_to(sink, owner) if subject_part in str(m["Subject"])]


def test_sent_mails_become_threads_with_one_confirmation(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    dovecot.append("Sent", offer(owner, date=local("2026-03-02T10:00")))
    dovecot.append("Sent", einvoice(owner))
    dovecot.append(
        "Sent",
        mail(
            sender=owner, to="mama@example.org", subject="Sonntag",
            body="Liebe Mama,\n\nbis Sonntag! Ich bringe Kuchen mit.\n\nAnna",
            date=local("2026-03-02T11:30"),
        ),
    )  # fmt: skip

    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0

    threads = cli_json(config, capsys, "list")
    assert [(t["kind"], t["client_email"], t["source"]) for t in threads] == [
        ("angebot", CLIENT, "sent"),
        ("rechnung", "buchhaltung@adler-immobilien.example", "sent"),
    ]
    invoice = threads[1]
    assert (invoice["invoice_no"], invoice["amount"], invoice["due_date"]) == (
        "2026-014", "1190.00", "2026-12-14",
    )  # fmt: skip
    confirmations = notices(smtp_sink, owner, "Neu aufgenommen: 2 Vorgänge")
    assert len(confirmations) == 1
    body = confirmations[0].get_content()
    assert "1. Angebot an Jonas Keller „Website-Relaunch“ (gesendet 2. März 2026)" in body
    assert "2. Rechnung 2026-014 an " in body and "1.190,00 €, fällig 14.12.2026" in body
    assert "Anrede „Du“" in body  # "Hallo Jonas," says Du
    assert "mama@example.org" not in body

    # The next cycle confirms nothing again.
    assert cli(config, "tick", "--now", "2026-03-02T12:10") == 0
    assert len(notices(smtp_sink, owner, "Neu aufgenommen")) == 1


def test_veto_and_correction_by_reply(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    dovecot.append("Sent", offer(owner, date=local("2026-03-02T10:00")))
    dovecot.append(
        "Sent",
        offer(owner, date=local("2026-03-02T10:30"), to="Petra Lange <petra@lange.example>"),
    )
    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0
    [confirmation] = notices(smtp_sink, owner, "Neu aufgenommen")

    answer = owner_reply(
        dovecot, confirmation, "nein 1\nsie 2\nauftrag 2", local("2026-03-02T13:00")
    )
    dovecot.append("INBOX", answer)
    assert cli(config, "tick", "--now", "2026-03-02T13:05") == 0

    threads = {t["client_email"]: t for t in cli_json(config, capsys, "list")}
    assert threads[CLIENT]["state"] == "closed"
    assert threads["petra@lange.example"]["kind"] == "auftrag"
    assert threads["petra@lange.example"]["du"] is False
    [done] = notices(smtp_sink, owner, "Erledigt")
    text = done.get_content()
    assert "Nummer 1: Vorgang" in text and "verworfen" in text
    assert "Nummer 2: Anrede jetzt „Sie“" in text and "Nummer 2: jetzt Auftrag" in text


def test_not_understood_reply_changes_nothing_and_says_so(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    dovecot.append("Sent", offer(owner, date=local("2026-03-02T10:00")))
    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0
    [confirmation] = notices(smtp_sink, owner, "Neu aufgenommen")

    answer = owner_reply(
        dovecot, confirmation, "nein 7\nvielleicht später", local("2026-03-02T13:00")
    )
    dovecot.append("INBOX", answer)
    assert cli(config, "tick", "--now", "2026-03-02T13:05") == 0

    [thread] = cli_json(config, capsys, "list")
    assert thread["state"] == "open"
    [reply] = notices(smtp_sink, owner, "Erledigt")
    text = reply.get_content()
    assert "Nummer 7 steht nicht in der Liste" in text
    assert "„vielleicht später“ habe ich nicht verstanden" in text


def test_forged_reply_to_the_confirmation_does_nothing(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    dovecot.append("Sent", offer(owner, date=local("2026-03-02T10:00")))
    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0
    [confirmation] = notices(smtp_sink, owner, "Neu aufgenommen")
    forged = owner_reply(dovecot, confirmation, "nein 1", local("2026-03-02T13:00"))
    forged = forged.replace(
        f"From: Anna Berger <{owner}>".encode(), f"From: {owner}, x@evil.example".encode()
    )
    dovecot.append("INBOX", forged)

    assert cli(config, "tick", "--now", "2026-03-02T13:05") == 0

    [thread] = cli_json(config, capsys, "list")
    assert thread["state"] == "open"


def test_first_draft_waits_for_the_veto_day_and_comes_on_schedule(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    # Tagged "+1tag": the first follow-up would be due on Wednesday 10:00, but the owner
    # has one business day to veto a thread tracked on Tuesday 12:00.
    sent = offer(owner, date=local("2026-03-03T10:00"))
    sent = sent.replace(
        b"Subject:", f"Bcc: {owner.replace('@', '+nachfass+1tag@')}\r\nSubject:".encode(), 1
    )
    dovecot.append("Sent", sent)
    assert cli(config, "tick", "--now", "2026-03-03T12:00") == 0
    [thread] = cli_json(config, capsys, "list")
    assert thread["source"] == "bcc"
    assert thread["next_due_at"] == "2026-03-04T11:00:00+00:00"  # Wed 12:00 in Berlin

    assert cli(config, "tick", "--now", "2026-03-04T11:00") == 0
    assert notices(smtp_sink, owner, "Entwurf") == []
    assert cli(config, "tick", "--now", "2026-03-04T12:05") == 0
    [draft] = notices(smtp_sink, owner, "Entwurf")
    assert "Jonas Keller" in str(draft["Subject"])


def send_as_owner(sink: SmtpSink, raw: bytes, sender: str, recipients: list[str]) -> None:
    with smtplib.SMTP(sink.host, sink.port) as smtp:
        smtp.sendmail(sender, recipients, raw)


def test_bcc_copy_in_inbox_starts_a_thread_and_is_never_an_answer(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    tracking = owner.replace("@", "+nachfass+angebot@")
    message = EmailMessage()
    message["From"] = f"Anna Berger <{owner}>"
    message["To"] = f"Jonas Keller <{CLIENT}>"
    message["Subject"] = "Unser Gespräch"
    message["Date"] = format_datetime(local("2026-03-02T10:00"))
    message["Message-ID"] = make_msgid(domain="anna.example")
    message.set_content("Hallo Jonas,\n\nwie besprochen die Eckdaten, melde Dich gern.\n\nAnna")
    raw = message.as_bytes(policy=SMTP)
    send_as_owner(smtp_sink, raw, owner, [CLIENT, tracking])
    dovecot.append("Sent", raw)  # this mail program keeps no Bcc field in its Sent copy

    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0

    [thread] = cli_json(config, capsys, "list")
    assert (thread["kind"], thread["source"], thread["state"]) == ("angebot", "bcc", "open")
    assert len(notices(smtp_sink, owner, "Neu aufgenommen: 1 Vorgang")) == 1


def test_an_answer_behind_the_bcc_copy_in_the_same_sync_stops_the_new_thread(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    """The bot was not running while the owner sent an offer with a Bcc copy and the
    client answered: both reach INBOX before the next cycle, the copy first. The thread
    the copy starts must count the answer synced right after it."""
    owner = dovecot.user
    message = EmailMessage()
    message["From"] = f"Anna Berger <{owner}>"
    message["To"] = f"Jonas Keller <{CLIENT}>"
    message["Subject"] = "Unser Gespräch"
    message["Date"] = format_datetime(local("2026-03-02T10:00"))
    message["Message-ID"] = offer_id = make_msgid(domain="anna.example")
    message.set_content("Hallo Jonas,\n\nwie besprochen die Eckdaten, melde Dich gern.\n\nAnna")
    raw = message.as_bytes(policy=SMTP)
    send_as_owner(smtp_sink, raw, owner, [CLIENT, owner.replace("@", "+nachfass+angebot@")])
    answer = mail(
        sender=f"Jonas Keller <{CLIENT}>", to=owner, subject="Re: Unser Gespräch",
        body="Hallo Anna,\n\npasst, wir machen das so.\n\nJonas",
        date=local("2026-03-02T11:00"), in_reply_to=offer_id,
    )  # fmt: skip
    dovecot.append("INBOX", answer)

    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0

    [thread] = cli_json(config, capsys, "list")
    assert (thread["source"], thread["state"]) == ("bcc", "answered")


def test_mail_sent_before_tracking_began_is_left_to_scan(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    dovecot.append("Sent", offer(dovecot.user, date=local("2026-02-20T10:00")))

    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0

    assert cli_json(config, capsys, "list") == []
    assert notices(smtp_sink, dovecot.user, "Neu aufgenommen") == []


def tracking_config(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, mode: str
) -> Path:
    """A config with ``[tracking] sent = mode``, tracking begun on Monday 08:00."""
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    with path.open("a", encoding="utf-8") as file:
        file.write(f'\n[tracking]\nsent = "{mode}"\n')
    assert cli(path, "tick", "--now", "2026-03-02T08:00") == 0
    return path


def test_tracking_off_reads_no_new_threads(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = tracking_config(tmp_path, dovecot, smtp_sink, monkeypatch, "off")
    dovecot.append("Sent", offer(dovecot.user, date=local("2026-03-02T10:00")))

    assert cli(path, "tick", "--now", "2026-03-02T12:00") == 0

    assert cli_json(path, capsys, "list") == []


def test_ask_mode_tracks_only_after_ok(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = tracking_config(tmp_path, dovecot, smtp_sink, monkeypatch, "ask")
    dovecot.append("Sent", offer(dovecot.user, date=local("2026-03-02T10:00")))
    assert cli(path, "tick", "--now", "2026-03-02T12:00") == 0
    assert cli_json(path, capsys, "list") == []
    [question] = notices(smtp_sink, dovecot.user, "Gefunden: 1 Vorgang")

    dovecot.append("INBOX", owner_reply(dovecot, question, "ok", local("2026-03-02T13:00")))
    assert cli(path, "tick", "--now", "2026-03-02T13:05") == 0

    [thread] = cli_json(path, capsys, "list")
    assert (thread["kind"], thread["source"]) == ("angebot", "sent")


def answer_from_client(owner: str, to_message_id: str, date: datetime) -> bytes:
    return mail(
        sender=f"Jonas Keller <{CLIENT}>", to=owner, subject="Re: Website-Relaunch",
        body="Hallo Anna,\n\ndanke, wir sind dabei!\n\nJonas", date=date,
        in_reply_to=to_message_id,
    )  # fmt: skip


def message_id_of(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"])


def test_scan_shows_then_applies_the_history(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    owner = dovecot.user
    answered_offer = offer(owner, date=local("2026-01-12T10:00"))
    dovecot.append("Sent", answered_offer)
    dovecot.append(
        "INBOX", answer_from_client(owner, message_id_of(answered_offer), local("2026-01-13T09:00"))
    )
    dovecot.append(
        "Sent", offer(owner, date=local("2026-02-16T10:00"), to="Petra Lange <petra@lange.example>")
    )
    dovecot.append("Sent", einvoice(owner))
    dovecot.append("Sent", offer(owner, date=local("2025-10-01T10:00"), to="alt@kunde.example"))

    found = cli_json(path, capsys, "scan", "--since", "2026-01-01", "--now", "2026-03-02T12:00")

    assert [(row["kind"], row["email"], row["thread_id"]) for row in found] == [
        ("angebot", CLIENT, None),
        ("angebot", "petra@lange.example", None),
        ("rechnung", "buchhaltung@adler-immobilien.example", None),
    ]
    assert found[2]["invoice_no"] == "2026-014" and found[2]["amount"] == "1190.00"
    assert cli_json(path, capsys, "list") == []  # a dry run stores no thread

    applied = cli_json(
        path, capsys, "scan", "--since", "2026-01-01", "--apply", "--now", "2026-03-02T12:00"
    )

    assert [row["state"] for row in applied] == ["answered", "open", "open"]
    threads = cli_json(path, capsys, "list")
    assert {t["source"] for t in threads} == {"scan"}
    # Scanned again: nothing new, and the cycle confirms none of the history.
    again = cli_json(
        path, capsys, "scan", "--since", "2026-01-01", "--apply", "--now", "2026-03-02T12:05"
    )
    assert [row["known"] for row in again] == [True, True, True]
    assert cli(path, "tick", "--now", "2026-03-02T12:10") == 0
    assert notices(smtp_sink, owner, "Neu aufgenommen") == []


def test_scan_prints_a_table(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    dovecot.append("Sent", einvoice(dovecot.user))
    capsys.readouterr()

    assert cli(path, "scan", "--since", "2026-01-01", "--now", "2026-03-02T12:00") == 0

    out = capsys.readouterr().out
    assert "Im Ordner Gesendet gefunden (Probelauf)" in out
    assert "2026-014" in out and "1.190,00 €" in out
    assert "1 Vorgang würden aufgenommen" in out or "1 Vorgang würde aufgenommen" in out


def test_track_from_sent_reads_the_facts(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    raw = offer(dovecot.user, date=local("2026-11-20T10:00"))
    dovecot.append("Sent", raw)

    thread = cli_json(path, capsys, "track", "--from-sent", "website-relaunch", "--yes")

    assert (thread["kind"], thread["client_email"], thread["client_name"]) == (
        "angebot", CLIENT, "Jonas Keller",
    )  # fmt: skip
    assert (thread["du"], thread["source"], thread["started_at"]) == (
        True, "cli", "2026-11-20T09:00:00+00:00",
    )  # fmt: skip


def test_track_from_sent_id_with_an_explicit_kind_and_a_question(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    raw = mail(
        sender=dovecot.user, to="Petra Lange <petra@lange.example>", subject="Unser Termin",
        body="Sehr geehrte Frau Lange,\n\ndanke für das Gespräch.\n\nAnna Berger",
        date=local("2026-11-20T10:00"),
    )  # fmt: skip
    dovecot.append("Sent", raw)
    monkeypatch.setattr("sys.stdin", io.StringIO("j\n"))
    capsys.readouterr()

    code = cli(path, "track", "--from-sent-id", message_id_of(raw), "--kind", "auftrag")

    out = capsys.readouterr().out
    assert code == 0
    assert "Kunde: Petra Lange <petra@lange.example>, Sie" in out
    assert "Vorgang 1 angelegt: Auftrag an petra@lange.example." in out


def test_track_from_sent_says_no_when_nothing_or_too_much_matches(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    dovecot.append("Sent", offer(dovecot.user, date=local("2026-11-20T10:00")))
    other = offer(dovecot.user, date=local("2026-11-21T10:00")).replace(
        b"Website-Relaunch", b"Website-Pflege"
    )
    dovecot.append("Sent", other)
    capsys.readouterr()

    assert cli(path, "track", "--from-sent", "Flyer", "--yes") == 1
    assert "keine Mail zu „Flyer“" in capsys.readouterr().err
    assert cli(path, "track", "--from-sent", "Website", "--yes") == 1
    assert "passt zu mehreren Mails" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli(path, "track", "--from-sent", "Pflege") == 130
    assert cli_json(path, capsys, "list") == []


def test_one_sent_mail_that_breaks_the_recognition_stops_nothing_else(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    from nachfass_bot.app.recognise import SentReader

    original = SentReader.read

    def read(self: SentReader, raw: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
        if b"Petra" in raw:
            raise RuntimeError("a bug only this mail triggers")
        return original(self, raw, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SentReader, "read", read)
    owner = dovecot.user
    dovecot.append(
        "Sent", offer(owner, date=local("2026-03-02T10:00"), to="Petra <petra@lange.example>")
    )
    dovecot.append("Sent", offer(owner, date=local("2026-03-02T10:30")))

    assert cli(config, "tick", "--now", "2026-03-02T12:00") == 0

    [thread] = cli_json(config, capsys, "list")
    assert thread["client_email"] == CLIENT
    assert cli(config, "tick", "--now", "2026-03-02T12:10") == 0  # the sync went on
    assert len(cli_json(config, capsys, "list")) == 1

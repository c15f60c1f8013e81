"""Payments from bank statements through the real Dovecot and SMTP sink (issue 14): a
statement dropped into ``[bank] import_dir`` is read by the next cycle, before it
decides; the owner answers a payment question and a draft by reply."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mails_to, owner_reply, track, write_config
from servers import MailAccount, SmtpSink

BANK = Path(__file__).parent / "bank"
WEISS = "juergen@praxis-weiss.de"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    path.write_text(path.read_text() + '\n[bank]\nimport_dir = "Kontoauszüge"\n')
    (tmp_path / "Kontoauszüge").mkdir()
    return path


def drop(config: Path, name: str) -> None:
    shutil.copy(BANK / name, config.parent / "Kontoauszüge" / name)


def track_invoice(
    config: Path, capsys, number: str, amount: str, to: str = WEISS, name: str = "Jürgen Weiß"
) -> int:
    return track(
        config, capsys,
        "--kind", "rechnung", "--to", to, "--name", name, "--subject", f"Rechnung {number}",
        "--sent-at", "2026-03-02T09:00", "--invoice-no", number, "--amount", amount,
        "--due", "2026-03-16",
    )  # fmt: skip


def state(config: Path, capsys, thread_id: int) -> dict:  # type: ignore[type-arg]
    return cli_json(config, capsys, "show", str(thread_id))  # type: ignore[no-any-return]


def test_a_statement_in_the_folder_pays_the_invoice_and_cancels_its_draft(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_invoice(config, capsys, "2026-014", "1.190,00")
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    [draft] = mails_to(smtp_sink, dovecot.user)
    assert "1.190,00 €" in draft.get_content()

    drop(config, "camt053_v02_sparkasse.xml")
    assert cli(config, "tick", "--now", "2026-03-20T10:00") == 0

    shown = state(config, capsys, thread_id)
    assert shown["state"] == "paid" and shown["draft_state"] is None
    assert (
        "Zahlung über 1.190,00 € am 18.03.2026 erkannt, Kontoauszug camt053_v02_sparkasse.xml "
        "→ Rechnung bezahlt"
    ) in [event["text"] for event in shown["events"]]
    assert shown["payments"] == [{"paid_on": "2026-03-18", "amount": "1190.00", "source": "bank"}]
    # The owner approves the old draft anyway: it is cancelled, nothing goes to the client.
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-20T10:30")))
    assert cli(config, "tick", "--now", "2026-03-20T10:35") == 0
    assert mails_to(smtp_sink, WEISS) == []


def test_an_approved_mail_for_an_invoice_paid_meanwhile_is_not_sent(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_invoice(config, capsys, "2026-014", "1190.00")
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    [draft] = mails_to(smtp_sink, dovecot.user)
    # "ok" and the statement arrive together: the approval counts first, then the import.
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-20T09:50")))
    drop(config, "camt053_v02_sparkasse.xml")

    assert cli(config, "tick", "--now", "2026-03-20T10:00") == 0

    assert state(config, capsys, thread_id)["state"] == "paid"
    assert mails_to(smtp_sink, WEISS) == []


def test_a_partial_payment_makes_the_next_mail_name_the_remainder(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    keller = "anna@keller-design.de"
    thread_id = track_invoice(config, capsys, "2026-015", "1200,00", keller, "Anna Keller")
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    [draft] = mails_to(smtp_sink, dovecot.user)
    assert "1.200,00 €" in draft.get_content()

    drop(config, "camt053_v02_sparkasse.xml")  # 400,00 € "Teilzahlung 1 von 3 … 2026015"
    assert cli(config, "tick", "--now", "2026-03-20T09:30") == 0
    shown = state(config, capsys, thread_id)
    assert shown["state"] == "open" and shown["open_amount"] == "800.00"

    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-20T10:00")))
    assert cli(config, "tick", "--now", "2026-03-20T10:05") == 0
    [sent] = mails_to(smtp_sink, keller)
    body = sent.get_content()
    # The invoice's total is named as such; what the client is asked for is the rest.
    assert "sind bisher 400,00 € angekommen" in body and "Offen sind noch 800,00 €" in body
    assert "über 1.200,00 €" in body and "Betrag bis" in body


def test_the_owner_says_bezahlt_500_and_the_draft_comes_again_with_the_rest(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_invoice(config, capsys, "2026-014", "1190.00")
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    [draft] = mails_to(smtp_sink, dovecot.user)

    answer = owner_reply(dovecot, draft, "bezahlt 500,00", local("2026-03-19T10:00"))
    dovecot.append("INBOX", answer)
    assert cli(config, "tick", "--now", "2026-03-19T10:05") == 0

    shown = state(config, capsys, thread_id)
    assert shown["state"] == "open" and shown["open_amount"] == "690.00"
    assert shown["payments"] == [{"paid_on": "2026-03-19", "amount": "500.00", "source": "owner"}]
    new_draft = mails_to(smtp_sink, dovecot.user)[-1]
    assert new_draft["Message-ID"] != draft["Message-ID"]
    assert "690,00 €" in new_draft.get_content()
    assert mails_to(smtp_sink, WEISS) == []


def test_a_payment_question_answered_ja_pays_the_invoice(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    lena = "lena@gmx.de"
    thread_id = track_invoice(config, capsys, "2026-018", "450,00", lena, "Lena Hoffmann")
    drop(config, "camt053_v02_sparkasse.xml")  # 450,00 € "Honorar Lektorat", no number

    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    [question] = [
        m for m in mails_to(smtp_sink, dovecot.user) if "Zahlung von" in str(m["Subject"])
    ]
    assert "Zahlung von Lena Hoffmann über 450,00 € am 19.03.2026" in question.get_content()
    assert "gehört sie zu Rechnung 2026-018? ja / nein" in question.get_content()
    assert state(config, capsys, thread_id)["state"] == "open"

    dovecot.append("INBOX", owner_reply(dovecot, question, "ja", local("2026-03-19T10:00")))
    assert cli(config, "tick", "--now", "2026-03-19T10:05") == 0

    assert state(config, capsys, thread_id)["state"] == "paid"
    assert mails_to(smtp_sink, lena) == []


def test_bank_import_and_forget_from_the_command_line(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    track_invoice(config, capsys, "2026-014", "1190.00")
    other = track_invoice(config, capsys, "2026-020", "1190.00")
    capsys.readouterr()
    assert cli(config, "paid", str(other), "--amount", "500,00") == 0
    assert "500,00 € eingetragen, offen bleiben 690,00 €" in capsys.readouterr().out
    assert cli(config, "show", str(other)) == 0
    shown = capsys.readouterr().out
    assert "Zahlungen" in shown and "500,00 € (von Dir eingetragen)" in shown
    assert "Noch offen" in shown and "690,00 €" in shown
    assert cli(config, "list") == 0
    assert "690,00 € von 1.190,00 €" in capsys.readouterr().out  # what is open, of what
    assert cli(config, "paid", str(other), "--amount", "1,190.00") == 2  # refused at the door

    assert cli(config, "bank", "import", str(BANK / "camt053_v02_sparkasse.xml")) == 0
    assert "6 Buchungen, 6 neu: 1 bezahlt" in capsys.readouterr().out
    assert cli(config, "bank", "import", str(BANK / "camt053_v02_sparkasse.xml")) == 0
    assert "schon eingelesen" in capsys.readouterr().out
    assert cli(config, "bank", "import", str(BANK / "broken_mt940_date.sta")) == 1
    assert "broken_mt940_date.sta, Zeile" in capsys.readouterr().err
    assert cli(config, "bank", "forget", "--before", "20.03.2026") == 0
    assert "6 Buchungen vor dem 20.03.2026 gelöscht" in capsys.readouterr().out

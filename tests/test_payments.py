"""Payment mails through the real servers: one mail for several invoices, interest only
when enabled, auto-send only where enabled."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mails_to, owner_reply, track, write_config
from nachfass_bot.domain.interest import late_interest_rate
from nachfass_bot.texts.render import format_percent
from servers import MailAccount, SmtpSink

CLIENT = "buchhaltung@praxis-weiss.test"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def track_invoice(config: Path, capsys, number: str, amount: str, *extra: str) -> int:
    return track(
        config, capsys,
        "--kind", "rechnung", "--to", CLIENT, "--name", "Jürgen Weiß", "--anrede", "herr",
        "--subject", f"Rechnung {number}", "--sent-at", "2026-03-02T09:00",
        "--invoice-no", number, "--amount", amount, "--due", "2026-03-16", *extra,
    )  # fmt: skip


def test_two_overdue_invoices_of_one_client_go_into_one_mail(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    first = track_invoice(config, capsys, "2026-014", "1190.00")
    second = track_invoice(config, capsys, "2026-015", "238,00")

    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    drafts = mails_to(smtp_sink, dovecot.user)
    assert len(drafts) == 1, "one draft for both invoices"
    body = drafts[0].get_content()
    assert "2026-014" in body and "2026-015" in body
    assert "1.428,00" in body, "the total"
    assert "Guten Tag Herr Weiß" in body

    dovecot.append("INBOX", owner_reply(dovecot, drafts[0], "ok", local("2026-03-19T10:00")))
    assert cli(config, "tick", "--now", "2026-03-19T10:05") == 0
    sent = mails_to(smtp_sink, CLIENT)
    assert len(sent) == 1
    steps = {row["id"]: row["step"] for row in cli_json(config, capsys, "list")}
    assert steps == {first: 1, second: 1}


def test_interest_and_flat_fee_appear_only_when_enabled(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track_invoice(config, capsys, "2026-020", "500.00")
    for due, approve in (
        ("2026-03-19T09:30", "2026-03-19T10:00"),
        ("2026-04-02T10:30", "2026-04-02T11:00"),
    ):
        assert cli(config, "tick", "--now", due) == 0
        draft = mails_to(smtp_sink, dovecot.user)[-1]
        dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local(due)))
        assert cli(config, "tick", "--now", approve) == 0
    reminder = mails_to(smtp_sink, CLIENT)[-1].get_content()
    assert "Zahlungserinnerung / 1. Mahnung" in mails_to(smtp_sink, CLIENT)[-1]["Subject"]
    assert "Verzugszinsen" not in reminder and "Verzugspauschale" not in reminder

    config.write_text(config.read_text() + "\n[payment]\ninterest = true\nflat_fee = true\n")
    capsys.readouterr()
    assert cli(config, "preview", str(thread_id)) == 0
    last = capsys.readouterr().out
    # preview renders at the real now: the rate in force today
    rate = format_percent(late_interest_rate(date.today(), b2b=True))
    assert f"Verzugszinsen von derzeit {rate}" in last
    assert "40,00" in last
    assert "Subject: " in last and "To: " in last


def test_auto_send_step_goes_out_without_asking(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    config.write_text(
        config.read_text() + '\n[schedule.angebot]\nauto_send = [1]\nstep_1 = "10 Tage"\n'
    )
    track(config, capsys, "--kind", "angebot", "--to", "info@adler-it.test", "--subject", "Angebot",
          "--sent-at", "2026-03-02T10:00")  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    assert smtp_sink.messages == [], "10 days configured, not 8"

    assert cli(config, "tick", "--now", "2026-03-12T10:30") == 0
    assert mails_to(smtp_sink, dovecot.user) == [], "no draft to approve"
    assert len(mails_to(smtp_sink, "info@adler-it.test")) == 1


def test_a_payment_draft_approved_days_later_gets_a_fresh_date(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    track_invoice(config, capsys, "2026-030", "300.00")
    # 19 March + 10 days is Sunday 29 March: the date moves to the Monday.
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    draft = mails_to(smtp_sink, dovecot.user)[-1]
    assert "Montag, 30. März 2026" in draft.get_content()

    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-26T08:00")))
    assert cli(config, "tick", "--now", "2026-03-26T09:00") == 0

    sent = mails_to(smtp_sink, CLIENT)[-1].get_content()
    assert "30. März" not in sent, "never a payment date that is about to pass"
    # 26 March + 10 days is Easter Sunday; Easter Monday is a holiday too.
    assert "Dienstag, 7. April 2026" in sent
    assert "Sonntag" not in sent


def test_bezahlt_on_a_mail_for_two_invoices_closes_both(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    first = track_invoice(config, capsys, "2026-040", "100.00")
    second = track_invoice(config, capsys, "2026-041", "200.00")
    assert cli(config, "tick", "--now", "2026-03-19T09:30") == 0
    draft = mails_to(smtp_sink, dovecot.user)[-1]
    dovecot.append("INBOX", owner_reply(dovecot, draft, "bezahlt", local("2026-03-19T10:00")))
    assert cli(config, "tick", "--now", "2026-03-19T10:05") == 0
    for later in ("2026-03-20T10:00", "2026-04-10T10:00"):
        assert cli(config, "tick", "--now", later) == 0

    states = {row["id"]: row["state"] for row in cli_json(config, capsys, "list")}
    assert states == {first: "paid", second: "paid"}
    assert mails_to(smtp_sink, CLIENT) == []
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "no new draft for the second invoice"

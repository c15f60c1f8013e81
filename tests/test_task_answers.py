"""The owner answers a task reminder (issue 13, point 5): "erledigt" and "ok" close the
task, "bezahlt" also closes an invoice, anything else gets a short "nicht verstanden"
mail that lists the words; the reminder names the task and its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mails_to, owner_reply, track, write_config
from servers import MailAccount, SmtpSink


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def test_a_call_task_is_named_answered_wrongly_and_then_closed_with_ok(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config, capsys,
        "--kind", "auftrag", "--to", "info@hoffmann.test", "--name", "Lena Hoffmann",
        "--subject", "Auftrag Flyer", "--sent-at", "2026-06-01T15:00",
    )  # fmt: skip
    assert cli(config, "tick", "--now", "2026-06-02T15:30") == 0
    reminder = mails_to(smtp_sink, dovecot.user)[-1]
    task_id = cli_json(config, capsys, "show", str(thread_id))["tasks"][0]["id"]
    assert reminder["Subject"].endswith("] Aufgabe zu Lena Hoffmann: anrufen")
    body = reminder.get_content()
    assert f"nachfass-bot done {task_id}" in body
    assert "Auftrag „Flyer“" in body and "„bezahlt“" not in body

    dovecot.append("INBOX", owner_reply(dovecot, reminder, "morgen", local("2026-06-02T16:00")))
    assert cli(config, "tick", "--now", "2026-06-02T16:05") == 0
    answer = mails_to(smtp_sink, dovecot.user)[-1]
    assert "nicht verstanden" in answer["Subject"]
    assert "„erledigt“, „ok“" in " ".join(answer.get_content().split())
    assert cli_json(config, capsys, "show", str(thread_id))["tasks"] != []

    dovecot.append("INBOX", owner_reply(dovecot, reminder, "ok", local("2026-06-02T16:10")))
    assert cli(config, "tick", "--now", "2026-06-02T16:15") == 0
    assert cli_json(config, capsys, "show", str(thread_id))["tasks"] == []


def test_bezahlt_on_the_legal_steps_task_closes_the_invoice(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    config.write_text(
        config.read_text()
        + "\n[schedule.rechnung]\nauto_send = [1, 2, 3]\n[payment]\ninterest = true\n"
    )
    thread_id = track(
        config, capsys,
        "--kind", "rechnung", "--to", "buchhaltung@praxis-weiss.test", "--name", "Jürgen Weiß",
        "--subject", "Rechnung 2026-014", "--sent-at", "2026-03-02T09:00",
        "--invoice-no", "2026-014", "--amount", "1190,00", "--due", "2026-03-16",
    )  # fmt: skip
    for day in ("03-19", "04-03", "04-20", "05-05", "05-19"):
        assert cli(config, "tick", "--now", f"2026-{day}T10:00") == 0
    # The reminder, drafted on 3 April, set Monday 13 April; the last reminder keeps the
    # day after it as the start of the default, though it went out later.
    _first, reminder_mail, last = (
        " ".join(sent.get_content().split())
        for sent in mails_to(smtp_sink, "buchhaltung@praxis-weiss.test")
    )
    assert "bis Montag, 13. April 2026" in reminder_mail
    assert "Ab dem 14. April 2026 fallen Verzugszinsen von derzeit 10,27 %" in reminder_mail
    assert "Seit dem 14. April 2026 befinden Sie sich in Zahlungsverzug" in last
    assert "Nachfrage vom 19. März 2026 und meine Zahlungserinnerung vom 20. April 2026" in last
    reminder = mails_to(smtp_sink, dovecot.user)[-1]
    assert "über rechtliche Schritte entscheiden" in reminder["Subject"]
    assert "„bezahlt“" in reminder.get_content()

    dovecot.append("INBOX", owner_reply(dovecot, reminder, "bezahlt", local("2026-05-19T11:00")))
    assert cli(config, "tick", "--now", "2026-05-19T11:05") == 0

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["tasks"] == []
    assert shown["state"] == "paid"

"""Approval that cannot be fooled and sending that never doubles (issue 5), through the
real servers and the installed console script."""

from __future__ import annotations

import os
import signal
import subprocess
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mail, mails_to, owner_reply, track, write_config
from servers import CapturedMail, MailAccount, SmtpSink
from test_cli import SCRIPT

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-exactly-once@berger-design.test>"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def offer_with_draft(config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, sent_at):
    """Track an offer and tick on its due day; returns (thread id, draft mail)."""
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--name", "Jonas Keller",
        "--subject", "Angebot Werkstattfotos", "--message-id", OFFER_ID, "--sent-at", sent_at,
    )  # fmt: skip
    due = cli_json(config, capsys, "show", str(thread_id))["next_due_at"]
    assert cli(config, "tick", "--now", due) == 0
    return thread_id, mails_to(smtp_sink, dovecot.user)[-1]


def run_tick(config: Path, now: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SCRIPT, "--config", str(config), "tick", "--now", now],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("provider_keeps_sent_copy", [False, True])
def test_killed_between_smtp_accept_and_commit_never_sends_twice(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, provider_keeps_sent_copy
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40")))
    env = {"NACHFASS_TEST_PASSWORT": dovecot.password}
    running: dict[str, subprocess.Popen[str]] = {}

    def kill_the_bot(accepted: CapturedMail) -> None:
        if CLIENT in accepted.rcpt_tos:
            if provider_keeps_sent_copy:  # like Gmail: the server files a copy itself
                dovecot.append("Sent", accepted.raw)
            os.kill(running["tick"].pid, signal.SIGKILL)

    smtp_sink.on_accept = kill_the_bot
    running["tick"] = run_tick(config, "2026-03-11T10:50", env)
    running["tick"].communicate(timeout=60)
    assert running["tick"].returncode == -signal.SIGKILL
    smtp_sink.on_accept = None
    assert len(mails_to(smtp_sink, CLIENT)) == 1
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "sending"

    restarted = run_tick(config, "2026-03-11T11:00", env)
    _out, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err
    for later in ("2026-03-11T12:00", "2026-03-12T10:00"):
        assert cli(config, "tick", "--now", later) == 0

    assert len(mails_to(smtp_sink, CLIENT)) == 1, "the client got the step exactly once"
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["step"] == 1
    alerts = [m for m in mails_to(smtp_sink, dovecot.user) if "unklar" in m["Subject"]]
    assert len(alerts) == (0 if provider_keeps_sent_copy else 1)


def test_replayed_approval_counts_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    approval = owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40"))
    dovecot.append("INBOX", approval)
    dovecot.append("Junk", approval)  # the same mail seen in a second folder
    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ja", local("2026-03-11T11:00")))
    assert cli(config, "tick", "--now", "2026-03-11T11:05") == 0
    assert cli(config, "tick", "--now", "2026-03-12T11:05") == 0

    assert len(mails_to(smtp_sink, CLIENT)) == 1
    events = cli_json(config, capsys, "show", str(thread_id))["events"]
    assert sum("bereits erledigt" in e["text"] for e in events) == 1


def test_failed_dmarc_for_the_owners_domain_sends_nothing_and_warns_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    domain = dovecot.user.rpartition("@")[2]
    for minute in ("10:40", "10:50"):
        forged = owner_reply(dovecot, draft, "ok", local(f"2026-03-11T{minute}"))
        stamp = f"Authentication-Results: mx.{domain}; dmarc=fail header.from={domain}\r\n"
        dovecot.append("INBOX", stamp.encode() + forged)
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0
    assert cli(config, "tick", "--now", "2026-03-12T11:00") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["draft_state"] == "pending"
    warnings = [m for m in mails_to(smtp_sink, dovecot.user) if "nicht ausgeführt" in m["Subject"]]
    assert len(warnings) == 1


def test_edited_text_replaces_the_body_and_keeps_subject_and_threading(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    _thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    edited = (
        "Hallo Jonas,\n\nkurze Frage zum Angebot: Passt Dir Donnerstag für ein Telefonat?\n\n"
        "Viele Grüße\nAnna"
    )
    dovecot.append("INBOX", owner_reply(dovecot, draft, edited, local("2026-03-11T10:40")))
    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0

    sent = mails_to(smtp_sink, CLIENT)
    assert len(sent) == 1
    body = sent[0].get_content().replace("\r\n", "\n")
    assert body.startswith("Hallo Jonas,\n\nkurze Frage zum Angebot")
    assert "schrieb" not in body and "[NF-" not in body
    draft_subject = draft.get_content().split("Betreff: ", 1)[1].splitlines()[0]
    assert sent[0]["Subject"] == draft_subject
    assert sent[0]["In-Reply-To"] == OFFER_ID


def test_vacation_freezes_client_mail_and_status_answers(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    request = mail(
        sender=dovecot.user, to=dovecot.user, subject="urlaub bis 20.03.", body="",
        date=local("2026-03-09T08:00"),
    )  # fmt: skip
    dovecot.append("INBOX", request)
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    assert "Urlaub eingetragen" in mails_to(smtp_sink, dovecot.user)[0]["Subject"]
    assert draft["Subject"].startswith("nachfass-bot: Urlaub"), "no draft during the vacation"

    status = mail(sender=dovecot.user, to=dovecot.user, subject="Status", body="",
                  date=local("2026-03-12T08:00"))  # fmt: skip
    dovecot.append("INBOX", status)
    assert cli(config, "tick", "--now", "2026-03-12T09:00") == 0
    reply = mails_to(smtp_sink, dovecot.user)[-1]
    assert "Stand der offenen Vorgänge" in reply["Subject"]
    assert f"Vorgang {thread_id}" in reply.get_content()
    assert "20. März 2026" in reply.get_content()

    assert cli(config, "tick", "--now", "2026-03-20T10:00") == 0
    assert not any("[NF-" in m["Subject"] for m in mails_to(smtp_sink, dovecot.user))
    assert cli(config, "tick", "--now", "2026-03-23T09:00") == 0
    assert any("[NF-" in m["Subject"] for m in mails_to(smtp_sink, dovecot.user)), "after it"


def test_approval_on_3_october_waits_for_the_next_business_day(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    _thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2028-09-22T09:30")
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2028-10-03T10:00")))
    assert cli(config, "tick", "--now", "2028-10-03T10:05") == 0  # Tuesday, Tag der Einheit
    assert mails_to(smtp_sink, CLIENT) == []
    assert cli(config, "tick", "--now", "2028-10-04T09:00") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1


def test_christmas_freeze_holds_approved_mail_until_january(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    _thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-12-15T10:00")
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-12-24T09:30")))
    for day in ("2026-12-24T10:00", "2026-12-29T10:00", "2027-01-01T10:00"):
        assert cli(config, "tick", "--now", day) == 0
    assert mails_to(smtp_sink, CLIENT) == [], "frozen from 24.12., then New Year and a weekend"
    assert cli(config, "tick", "--now", "2027-01-04T09:00") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1


def test_hourly_cap_spreads_client_mail(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    config.write_text(
        config.read_text().replace("[store]", "[sending]\nmax_per_hour = 2\n\n[store]")
    )
    for number in range(3):
        track(config, capsys, "--kind", "angebot", "--to", f"kunde{number}@firma{number}.test",
              "--subject", f"Angebot {number}", "--sent-at", "2026-03-03T10:00")  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-11T10:00") == 0
    for draft in mails_to(smtp_sink, dovecot.user):
        dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T10:10")))

    assert cli(config, "tick", "--now", "2026-03-11T10:15") == 0
    assert sum(len(mails_to(smtp_sink, f"kunde{n}@firma{n}.test")) for n in range(3)) == 2
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0
    assert sum(len(mails_to(smtp_sink, f"kunde{n}@firma{n}.test")) for n in range(3)) == 2
    assert cli(config, "tick", "--now", "2026-03-11T11:16") == 0
    assert sum(len(mails_to(smtp_sink, f"kunde{n}@firma{n}.test")) for n in range(3)) == 3


def test_html_only_reply_from_outlook_approves(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    _thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys, "2026-03-03T10:15")
    html = (
        "<html><body><div>OK</div><div><br></div>"
        "<hr><b>Von:</b> Anna Berger<br><b>Gesendet:</b> Mittwoch, 11. März 2026 10:30<br>"
        f"<b>Betreff:</b> {draft['Subject']}<br><br>"
        f"<blockquote>{draft.get_content()[:200]}</blockquote></body></html>"
    )
    reply = EmailMessage()
    reply["From"] = f"Anna Berger <{dovecot.user}>"
    reply["To"] = dovecot.user
    reply["Subject"] = f"AW: {draft['Subject']}"
    reply["Date"] = format_datetime(local("2026-03-11T10:40"))
    reply["Message-ID"] = "<outlook-html-ok@berger-design.test>"
    reply["In-Reply-To"] = str(draft["Message-ID"])
    reply.set_content(html, subtype="html")
    dovecot.append("INBOX", reply.as_bytes())

    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1


def draft_mails(sink: SmtpSink, owner: str) -> list[EmailMessage]:
    return [m for m in mails_to(sink, owner) if "[NF-" in str(m["Subject"])]


def test_killed_while_mailing_the_draft_to_the_owner_mails_it_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    """The owner's server has the draft mail, the bot dies before it could note that:
    the restarted bot must not mail the draft again, and the one mail still works."""
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--name", "Jonas Keller",
        "--subject", "Angebot Werkstattfotos", "--message-id", OFFER_ID,
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip
    env = {"NACHFASS_TEST_PASSWORT": dovecot.password}
    running: dict[str, subprocess.Popen[str]] = {}

    def kill_the_bot(accepted: CapturedMail) -> None:
        if "[NF-" in str(accepted.message["Subject"]):
            os.kill(running["tick"].pid, signal.SIGKILL)

    smtp_sink.on_accept = kill_the_bot
    running["tick"] = run_tick(config, "2026-03-11T10:30", env)
    running["tick"].communicate(timeout=60)
    assert running["tick"].returncode == -signal.SIGKILL
    smtp_sink.on_accept = None
    assert len(draft_mails(smtp_sink, dovecot.user)) == 1

    restarted = run_tick(config, "2026-03-11T10:35", env)
    _out, err = restarted.communicate(timeout=60)
    assert restarted.returncode == 0, err
    assert cli(config, "tick", "--now", "2026-03-11T11:30") == 0

    (draft,) = draft_mails(smtp_sink, dovecot.user)
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-11T11:40")))
    assert cli(config, "tick", "--now", "2026-03-11T11:45") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "the one draft mail is the one to answer"
    assert len(draft_mails(smtp_sink, dovecot.user)) == 1, "the owner got the draft once"


def test_a_refused_draft_mail_is_retried_with_backoff_and_then_given_up(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject", "Angebot",
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip
    smtp_sink.fail_next(451, "4.3.0 Try again later", times=5)
    # Refused at 10:30, 10:35, 10:45, 11:05 and 11:45 (5, 10, 20, 40 minutes apart); a
    # cycle in between tries nothing, so a sixth try (which the sink would accept) never
    # comes.
    for now in ("10:30", "10:31", "10:35", "10:45", "11:00", "11:05", "11:45", "13:00"):
        assert cli(config, "tick", "--now", f"2026-03-11T{now}") == 0
    assert cli(config, "tick", "--now", "2026-03-12T10:00") == 0

    assert draft_mails(smtp_sink, dovecot.user) == []
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["draft_state"] == "pending", "no new draft for the same step either"
    assert any("nicht zugestellt" in event["text"] for event in shown["events"])

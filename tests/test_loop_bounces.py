"""Bounces from old mail servers through the real Dovecot and SMTP sink, via the CLI.

A notice from the client's own company domain (MAILER-DAEMON@ or MDaemon@ that domain)
must pause the thread with a task and an alert to the owner — it once counted as a
colleague's answer and ended the follow-ups silently. The mails are the corpus fixtures
(``tests/corpus/make_old_bounces.py``), appended to INBOX unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mails_to, owner_reply, track, write_config
from servers import MailAccount, SmtpSink

CORPUS = Path(__file__).parent / "corpus"
CLIENT = "jonas.keller@keller-bau.de"
OFFER_ID = "<angebot-keller@berger-design.de>"
BOUNCE_TASK = "E-Mail kam nicht an – bitte anrufen oder Adresse prüfen."


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


@pytest.mark.parametrize(
    "fixture",
    [
        "qmail_client_domain_qp_keller.eml",  # MAILER-DAEMON@keller-bau.de, QP body
        "mdaemon_user_unknown_warning_keller.eml",  # MDaemon@keller-bau.de, "Warning: …"
    ],
)
def test_bounce_from_the_client_company_domain_pauses_instead_of_answering(
    fixture: str, config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config,
        capsys,
        "--kind", "angebot",
        "--to", CLIENT,
        "--name", "Jonas Keller",
        "--subject", "Angebot Relaunch Webseite Keller Bau",
        "--message-id", OFFER_ID,
        "--sent-at", "2026-03-02T09:00",
    )  # fmt: skip
    dovecot.append("INBOX", (CORPUS / fixture).read_bytes())

    # The first follow-up is due on 10.03. at 09:00: the poll comes first and pauses.
    assert cli(config, "tick", "--now", "2026-03-10T10:30") == 0

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "paused", shown["events"]
    assert shown["answered_at"] is None
    assert [task["text"] for task in shown["tasks"]] == [BOUNCE_TASK]
    assert any(
        "Die Mail an jonas.keller@keller-bau.de kam nicht an" in e["text"] for e in shown["events"]
    )
    to_owner = mails_to(smtp_sink, dovecot.user)
    assert len(to_owner) == 1, [str(m["Subject"]) for m in to_owner]
    assert "kam nicht an" in str(to_owner[0]["Subject"])
    assert "Entwurf" not in str(to_owner[0]["Subject"]), "a paused thread gets no draft"
    assert mails_to(smtp_sink, CLIENT) == []

    assert cli(config, "tick", "--now", "2026-03-17T10:30") == 0
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "still paused a week later"


def test_weiter_with_a_new_address_carries_on_there(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--name", "Jonas Keller",
        "--subject", "Angebot Relaunch Webseite Keller Bau", "--message-id", OFFER_ID,
        "--sent-at", "2026-03-02T09:00",
    )  # fmt: skip
    dovecot.append("INBOX", (CORPUS / "qmail_client_domain_qp_keller.eml").read_bytes())
    assert cli(config, "tick", "--now", "2026-03-10T10:30") == 0
    [alert] = mails_to(smtp_sink, dovecot.user)

    answer = owner_reply(dovecot, alert, "weiter j.keller@keller-bau.de", local("2026-03-10T11:00"))
    dovecot.append("INBOX", answer)
    assert cli(config, "tick", "--now", "2026-03-10T11:05") == 0

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert (shown["state"], shown["client_email"]) == ("open", "j.keller@keller-bau.de")
    assert shown["tasks"] == []  # the bounce task is done
    assert "Vorgang 1 geht weiter" in str(mails_to(smtp_sink, dovecot.user)[-1]["Subject"])
    # The next step comes after its wait from the resumption, to the new address.
    assert shown["next_due_at"] == "2026-03-18T10:05:00+00:00"
    assert cli(config, "tick", "--now", "2026-03-18T11:10") == 0
    [draft] = [m for m in mails_to(smtp_sink, dovecot.user) if "Entwurf" in str(m["Subject"])]
    assert "j.keller@keller-bau.de" in draft.get_content()


def test_weiter_with_a_broken_address_changes_nothing(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject", "Angebot",
        "--message-id", OFFER_ID, "--sent-at", "2026-03-02T09:00",
    )  # fmt: skip
    dovecot.append("INBOX", (CORPUS / "qmail_client_domain_qp_keller.eml").read_bytes())
    assert cli(config, "tick", "--now", "2026-03-10T10:30") == 0
    [alert] = mails_to(smtp_sink, dovecot.user)

    answer = owner_reply(dovecot, alert, "weiter j.keller@", local("2026-03-10T11:00"))
    dovecot.append("INBOX", answer)
    assert cli(config, "tick", "--now", "2026-03-10T11:05") == 0

    shown = cli_json(config, capsys, "show", str(thread_id))
    assert (shown["state"], shown["client_email"]) == ("paused", CLIENT)
    assert "Adresse nicht verstanden" in str(mails_to(smtp_sink, dovecot.user)[-1]["Subject"])

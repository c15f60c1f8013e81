"""One mail, many folders (issue 10): "seen" never hides a role the mail still has.

The same Message-ID shows up in Sent, INBOX and junk, in any order; each of its roles —
the owner's command, the owner's own mail to a client, a client's answer — is acted on
exactly once. And an answer that arrived before its thread was tracked is found when
the thread is created. Through the real Dovecot and SMTP sink, via the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mail, mails_to, owner_reply, write_config
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.commands import OwnerCommands
from nachfass_bot.app.outbox import Outbox
from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import CycleReport, SeenRole, VerdictKind
from nachfass_bot.texts.render import Texts
from servers import MailAccount, SmtpSink

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-seen@berger-design.test>"
SENT_AT = "2026-03-03T10:15"  # the offer; its first step is due on 2026-03-11


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def track_offer(config: Path, capsys, *, message_id: str | None = OFFER_ID) -> dict:
    """Track the offer sent on 2026-03-03; returns the thread as ``track --json`` shows it."""
    options = ["--message-id", message_id] if message_id else []
    return cli_json(
        config, capsys, "track", "--kind", "angebot", "--to", CLIENT, "--name", "Jonas Keller",
        "--subject", "Angebot Werkstattfotos", "--sent-at", SENT_AT, *options,
    )  # fmt: skip


def offer_with_draft(config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys):
    """Track the offer and tick on its due day; returns (thread id, draft mail)."""
    thread_id = track_offer(config, capsys)["id"]
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    return thread_id, mails_to(smtp_sink, dovecot.user)[-1]


def client_answer(owner: str, when: datetime, **changes: object) -> bytes:
    fields: dict = {
        "sender": f"Jonas Keller <{CLIENT}>",
        "to": owner,
        "subject": "AW: Angebot Werkstattfotos",
        "body": "Hallo Frau Berger,\n\ndas klingt gut, rufen Sie mich an?\n",
        "date": when,
        "in_reply_to": OFFER_ID,
    }
    return mail(**{**fields, **changes})


def shown(config: Path, capsys, thread_id: int) -> dict:
    return cli_json(config, capsys, "show", str(thread_id))


# -- (a) the owner's command ----------------------------------------------------------------


@pytest.mark.parametrize(
    "first, later",
    [("Sent", "INBOX"), ("INBOX", "Sent"), ("Junk", "Sent")],
    ids=["sent-first", "inbox-first", "junk-first"],
)
def test_an_approval_counts_once_whichever_folder_shows_it_first(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, first: str, later: str
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys)
    approval = owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40"))
    dovecot.append(first, approval)  # the mail program filed it; the delivery comes later
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1, "the first copy approves"

    dovecot.append(later, approval)
    for now in ("2026-03-11T11:30", "2026-03-12T11:00"):
        assert cli(config, "tick", "--now", now) == 0

    assert len(mails_to(smtp_sink, CLIENT)) == 1, "the draft went out exactly once"
    detail = shown(config, capsys, thread_id)
    assert detail["step"] == 1
    events = [event["text"] for event in detail["events"]]
    assert sum("freigegeben" in text for text in events) == 1
    assert not any("bereits erledigt" in text for text in events), "the copy is no second answer"
    owner_mails = [str(m["Subject"]) for m in mails_to(smtp_sink, dovecot.user)]
    assert not any("nicht" in subject for subject in owner_mails), "no warning, no 'not understood'"


def test_an_approval_in_sent_and_inbox_in_the_same_cycle_counts_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys)
    approval = owner_reply(dovecot, draft, "ok", local("2026-03-11T10:40"))
    for folder in ("Sent", "INBOX", "Junk"):
        dovecot.append(folder, approval)
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0
    assert cli(config, "tick", "--now", "2026-03-12T11:00") == 0

    assert len(mails_to(smtp_sink, CLIENT)) == 1
    events = [event["text"] for event in shown(config, capsys, thread_id)["events"]]
    assert not any("bereits erledigt" in text for text in events)


# -- (b) the owner's own mail to the client ---------------------------------------------------


@pytest.mark.parametrize("first, later", [("INBOX", "Sent"), ("Sent", "INBOX")])
def test_the_owners_mail_to_the_client_restarts_the_count_in_any_order(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, first: str, later: str
) -> None:
    thread_id = track_offer(config, capsys)["id"]
    due_before = shown(config, capsys, thread_id)["next_due_at"]
    # Written with a Bcc to herself: the copy lands in INBOX, the original in Sent.
    by_hand = mail(
        sender=f"Anna Berger <{dovecot.user}>",
        to=CLIENT,
        subject="Re: Angebot Werkstattfotos",
        body="Hallo Herr Keller,\n\nich habe noch zwei Termine frei.\n",
        date=local("2026-03-06T09:00"),
        in_reply_to=OFFER_ID,
    )
    dovecot.append(first, by_hand)
    assert cli(config, "tick", "--now", "2026-03-06T10:00") == 0
    dovecot.append(later, by_hand)
    assert cli(config, "tick", "--now", "2026-03-06T10:30") == 0

    detail = shown(config, capsys, thread_id)
    assert detail["state"] == "open", "the owner's own mail is no answer"
    assert detail["next_due_at"] > due_before, "the count starts again from her mail"
    restarts = [e for e in detail["events"] if "selbst geschrieben" in e["text"]]
    assert len(restarts) == 1
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    assert mails_to(smtp_sink, dovecot.user) == [], "no draft on the old due day"


# -- (c) the client's answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "folders, spam_alerts",
    [(("INBOX", "Junk"), 0), (("Junk", "INBOX"), 1)],
    ids=["inbox-first", "junk-first"],
)
@pytest.mark.parametrize("same_cycle", [False, True])
def test_the_same_answer_in_inbox_and_junk_is_one_answer(
    config: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    capsys,
    folders: tuple[str, str],
    spam_alerts: int,
    same_cycle: bool,
) -> None:
    thread_id = track_offer(config, capsys)["id"]
    answer = client_answer(dovecot.user, local("2026-03-05T09:12"))
    dovecot.append(folders[0], answer)
    if not same_cycle:
        assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0
    dovecot.append(folders[1], answer)
    for now in ("2026-03-05T10:30", "2026-03-11T10:30"):
        assert cli(config, "tick", "--now", now) == 0

    detail = shown(config, capsys, thread_id)
    assert detail["state"] == "answered"
    # In one cycle INBOX is read before junk, so INBOX shows the answer first.
    assert detail["answered_folder"] == (folders[0] if not same_cycle else "INBOX")
    assert sum(event["kind"] == "answer" for event in detail["events"]) == 1
    alerts = [m for m in mails_to(smtp_sink, dovecot.user) if "Spam" in str(m["Subject"])]
    assert len(alerts) == (spam_alerts if not same_cycle else 0)
    assert not any("[NF-" in str(m["Subject"]) for m in mails_to(smtp_sink, dovecot.user))


# -- an answer that came before the thread was tracked ---------------------------------------


def test_tracking_after_the_answer_was_synced_is_answered_at_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    unthreaded = client_answer(
        dovecot.user, local("2026-03-05T09:12"), in_reply_to=None, subject="Fotos"
    )
    dovecot.append("Junk", unthreaded)
    assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0  # no thread yet: unrelated

    tracked = track_offer(config, capsys)
    assert tracked["state"] == "answered"
    assert tracked["answered_folder"] == "Junk"
    assert tracked["answered_at"].startswith("2026-03-05T08:12")
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    assert cli(config, "tick", "--now", "2026-03-20T10:30") == 0
    assert smtp_sink.messages == [], "no draft, ever"
    events = [event["text"] for event in shown(config, capsys, tracked["id"])["events"]]
    assert any("bevor der Vorgang angelegt wurde" in text for text in events)


def test_tracking_without_json_says_the_answer_is_there(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    dovecot.append("INBOX", client_answer(dovecot.user, local("2026-03-05T09:12")))
    assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0
    capsys.readouterr()
    assert cli(
        config, "track", "--kind", "angebot", "--to", CLIENT, "--subject", "Angebot",
        "--message-id", OFFER_ID, "--sent-at", SENT_AT,
    ) == 0  # fmt: skip
    assert "Die Antwort ist schon da (Ordner INBOX)" in capsys.readouterr().out


@pytest.mark.parametrize("tracked", ["before", "after"])
def test_a_reply_dated_1900_that_names_our_mail_is_an_answer(
    config: Path, dovecot: MailAccount, capsys, tracked: str
) -> None:
    if tracked == "before":
        thread_id = track_offer(config, capsys)["id"]
    arrived = local("2026-03-05T09:12")
    answer = client_answer(dovecot.user, datetime(1900, 1, 1, tzinfo=UTC))
    dovecot.append("INBOX", answer, msg_time=arrived)
    assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0
    if tracked == "after":
        thread_id = track_offer(config, capsys)["id"]

    detail = shown(config, capsys, thread_id)
    assert detail["state"] == "answered"
    assert detail["answered_at"].startswith("2026-03-05T08:12"), "the arrival, not 1900"


@pytest.mark.parametrize("tracked", ["before", "after"])
@pytest.mark.parametrize(
    "arrived, state",
    [("2026-03-05T09:12", "answered"), ("2026-03-02T09:12", "open")],
    ids=["arrived-after-our-mail", "arrived-before-our-mail"],
)
def test_internaldate_decides_for_an_unthreaded_mail_not_its_date(
    config: Path, dovecot: MailAccount, capsys, tracked: str, arrived: str, state: str
) -> None:
    if tracked == "before":
        thread_id = track_offer(config, capsys, message_id=None)["id"]
    written_before_our_mail = local("2026-03-01T08:00")
    unthreaded = client_answer(
        dovecot.user, written_before_our_mail, in_reply_to=None, subject="Frage"
    )
    dovecot.append("INBOX", unthreaded, msg_time=local(arrived))
    assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0
    if tracked == "after":
        thread_id = track_offer(config, capsys, message_id=None)["id"]

    assert shown(config, capsys, thread_id)["state"] == state


# -- a queued command whose copy vanished ------------------------------------------------------


class EmptyMailbox:
    """A mailbox whose mails are gone (deleted or moved by the owner's mail program)."""

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        return None


def test_a_queued_command_whose_copy_vanished_lets_the_next_copy_count(memory_store: Store) -> None:
    store = memory_store
    outbox = Outbox(
        owner=OwnerConfig(name="Anna Berger", email="anna@berger-design.test", signature="A"),
        store=store,
        transport=CaptureTransport(),
        texts=Texts(),
    )
    commands = OwnerCommands(store=store, outbox=outbox, window=SendingWindow())
    now = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)
    store.mark_seen("<ok@berger>", SeenRole.COMMAND, "Sent", 4, VerdictKind.COMMAND_PENDING, now)

    commands.apply(EmptyMailbox(), now, CycleReport())  # type: ignore[arg-type]

    assert not store.is_seen("<ok@berger>", SeenRole.COMMAND), "the INBOX copy may queue it"
    assert store.seen_with_verdict(VerdictKind.COMMAND_PENDING) == []

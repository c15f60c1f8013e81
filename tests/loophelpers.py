"""Helpers for end-to-end tests: a config for the test servers, the CLI, mails."""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.adapters.store import Store
from nachfass_bot.cli.main import main
from nachfass_bot.domain.models import DraftState
from servers import MailAccount, SmtpSink

BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD_ENV = "NACHFASS_TEST_PASSWORT"


def write_config(
    directory: Path,
    account: MailAccount,
    sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    more: str = "",
    *,
    imap_auth: str | None = None,
    smtp_auth: str | None = None,
) -> Path:
    """A config file that points the bot at the test Dovecot and SMTP sink; ``more`` is
    TOML appended as it is (e.g. a ``[mailbox]`` section). Without a ``[mailbox]`` of its
    own the config says ``sent_copy = "bot"``: the test server never files a sent mail
    itself, so the bot need not wait for such a copy (tests/test_sent_copy.py and the
    layouts test that wait). ``imap_auth``/``smtp_auth`` replace a section's
    ``password_env`` line (e.g. ``auth = "oauth2"`` with a ``token_command``)."""
    if "[mailbox]" not in more:
        more = '\n[mailbox]\nsent_copy = "bot"\n' + more
    monkeypatch.setenv(PASSWORD_ENV, account.password)
    password = f'password_env = "{PASSWORD_ENV}"'
    path = directory / "config.toml"
    path.write_text(
        f"""
[owner]
name = "Anna Berger"
email = "{account.user}"
signature = "Viele Grüße\\nAnna Berger"

[imap]
host = "{account.host}"
port = {account.port}
security = "none"
username = "{account.user}"
{imap_auth or password}

[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
username = "{account.user}"
{smtp_auth or password}

[store]
path = "nachfass.db"
"""
        + more,
        encoding="utf-8",
    )
    return path


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def cli_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli(config, *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def track(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> int:
    """Run ``track`` and return the new thread's id."""
    return int(cli_json(config, capsys, "track", *args)["id"])


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def mail(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    date: datetime,
    in_reply_to: str | None = None,
    message_id: str | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A mail as a client's or the owner's mail program would write it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes(policy=SMTP)


def owner_reply(account: MailAccount, draft: EmailMessage, answer: str, date: datetime) -> bytes:
    """The owner answering a draft from Thunderbird: the answer above the quote."""
    quoted = "\n".join(f"> {line}" for line in draft.get_content().splitlines())
    stamp = date.strftime("%d.%m.%Y um %H:%M")
    return mail(
        sender=f"Anna Berger <{account.user}>",
        to=account.user,
        subject=f"Re: {draft['Subject']}",
        body=f"{answer}\n\nAm {stamp} schrieb Anna Berger:\n{quoted}\n",
        date=date,
        in_reply_to=str(draft["Message-ID"]),
    )


def mails_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [m.message for m in sink.messages if address in m.rcpt_tos]


# The states a seeded draft passes through on its way to the one a test wants: the store
# refuses any change the draft state machine does not allow.
_DRAFT_ROUTE: dict[DraftState, tuple[DraftState, ...]] = {
    DraftState.NEW: (),
    DraftState.PENDING: (DraftState.PENDING,),
    DraftState.APPROVED: (DraftState.PENDING, DraftState.APPROVED),
    DraftState.SENDING: (DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING),
    DraftState.CANCELLED: (DraftState.PENDING, DraftState.CANCELLED),
    **{
        final: (DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING, final)
        for final in (DraftState.SENT, DraftState.UNCLEAR, DraftState.FAILED)
    },
}


def advance_draft(store: Store, draft_id: int, state: str, at: datetime, **fields: Any) -> None:
    """Walk a ``new`` draft to ``state`` by allowed steps; ``fields`` are set on the last."""
    route = _DRAFT_ROUTE[DraftState(state)]
    for index, step in enumerate(route):
        store.set_draft_state(draft_id, step, at, **(fields if index == len(route) - 1 else {}))

"""Approval by reply through the real servers (issue 10): edited drafts from each mail
program, and forged "ok"s of every kind.

Each test tracks an offer, lets the bot mail the draft to the owner's Dovecot INBOX, puts
the owner's (or a forger's) reply next to it and runs a cycle. What reached a client is
read from the aiosmtpd sink: never a token, and an edited text only exactly as the owner
wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mails_to, owner_reply, track, write_config
from servers import MailAccount, SmtpSink

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-approval-mail@berger-design.test>"
HINT = "nicht verstanden – bitte nur den neuen Text schicken"
NEW_TEXT = (
    "Guten Tag Herr Keller,\n\n"
    "vor gut einer Woche kam mein Angebot bei Ihnen an. Passt Ihnen ein kurzes Telefonat\n"
    "am Donnerstag um 10 Uhr? Dann gehen wir die offenen Punkte gemeinsam durch.\n\n"
    "Viele Grüße\nAnna Berger"
)


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def offer_with_draft(
    config: Path, dovecot: MailAccount, sink: SmtpSink, capsys
) -> tuple[int, EmailMessage]:
    """Track an offer and tick on its due day; returns (thread id, draft mail)."""
    thread_id = track(
        config, capsys, "--kind", "angebot", "--to", CLIENT, "--name", "Jonas Keller",
        "--subject", "Angebot Relaunch Webseite", "--message-id", OFFER_ID,
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-11T10:20") == 0
    drafts = mails_to(sink, dovecot.user)
    assert len(drafts) == 1
    return thread_id, drafts[0]


def raw_mail(
    from_fields: tuple[str, ...],
    to: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None,
    extra: tuple[str, ...] = (),
) -> bytes:
    """A mail as bytes, header fields exactly as given (a forger is not bound by RFC 5322)."""
    head = [*extra, *(f"From: {value}" for value in from_fields), f"To: {to}"]
    head += [f"Subject: {subject}", f"Date: {format_datetime(local('2026-03-11T10:40'))}"]
    head += [f"Message-ID: {make_msgid(domain='mail.test')}", "MIME-Version: 1.0"]
    if in_reply_to:
        head += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def client_mails_carry_no_token(sink: SmtpSink, owner: str) -> None:
    for captured in sink.messages:
        if set(captured.rcpt_tos) <= {owner}:
            continue
        wire = captured.raw.decode("utf-8", "replace")
        text = captured.message.get_content()
        assert "[NF-" not in wire and "[NF-" not in text
        assert "[NF-" not in str(captured.message["Subject"])


def sent_to_client(sink: SmtpSink) -> list[str]:
    return [m.get_content().replace("\r\n", "\n").strip("\n") for m in mails_to(sink, CLIENT)]


# --- edited drafts, one mail program each ----------------------------------------------


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


Style = Callable[[str, EmailMessage], tuple[str, str]]  # (new text, draft) → subject, body


def thunderbird(new: str, draft: EmailMessage) -> tuple[str, str]:
    notice = draft.get_content()
    return (
        f"Re: {draft['Subject']}",
        f"{new}\n\nAm 11.03.26 um 10:20 schrieb nachfass-bot:\n{quoted(notice)}\n",
    )


def outlook(new: str, draft: EmailMessage) -> tuple[str, str]:
    head = (
        f"Von: Anna Berger <{draft['To']}>\nGesendet: Mittwoch, 11. März 2026 10:20\n"
        f"An: {draft['To']}\nBetreff: {draft['Subject']}"
    )
    return f"AW: {draft['Subject']}", f"{new}\n\n{head}\n\n{draft.get_content()}"


def apple_mail(new: str, draft: EmailMessage) -> tuple[str, str]:
    attribution = f"> Am 11.03.2026 um 10:20 schrieb Anna Berger <{draft['To']}>:\n>"
    return f"Re: {draft['Subject']}", f"{new}\n\n{attribution}\n{quoted(draft.get_content())}\n"


def gmail_english(new: str, draft: EmailMessage) -> tuple[str, str]:
    attribution = f"On Wed, Mar 11, 2026 at 10:20 AM Anna Berger <{draft['To']}>\nwrote:"
    return f"Re: {draft['Subject']}", f"{new}\n\n{attribution}\n\n{quoted(draft.get_content())}\n"


def french(new: str, draft: EmailMessage) -> tuple[str, str]:
    attribution = f"Le mer. 11 mars 2026 à 10:20, Anna Berger <{draft['To']}> a écrit :"
    return f"RE: {draft['Subject']}", f"{new}\n\n{attribution}\n\n{quoted(draft.get_content())}\n"


def top_post_without_marks(new: str, draft: EmailMessage) -> tuple[str, str]:
    return f"Re: {draft['Subject']}", f"{new}\n\n{draft.get_content()}"


STYLES: dict[str, Style] = {
    "thunderbird": thunderbird,
    "outlook": outlook,
    "apple-mail": apple_mail,
    "gmail-english": gmail_english,
    "french": french,
    "no-quote-marks": top_post_without_marks,
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_an_edited_draft_sends_exactly_the_new_text(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, style: str
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys)
    subject, body = STYLES[style](NEW_TEXT, draft)
    dovecot.append(
        "INBOX",
        raw_mail(
            (f"Anna Berger <{dovecot.user}>",), dovecot.user, subject, body,
            in_reply_to=str(draft["Message-ID"]),
        ),
    )  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0

    assert sent_to_client(smtp_sink) == [NEW_TEXT]
    client_mails_carry_no_token(smtp_sink, dovecot.user)
    assert len(mails_to(smtp_sink, dovecot.user)) == 1, "no notice to the owner"
    events = cli_json(config, capsys, "show", str(thread_id))["events"]
    assert any("durch Deinen Text ersetzt" in event["text"] for event in events)


def written_into_the_quote(new: str, draft: EmailMessage) -> tuple[str, str]:
    lines = quoted(draft.get_content()).splitlines()
    middle = len(lines) // 2
    into = [*lines[:middle], "Hier bitte noch den Termin nennen.", *lines[middle:]]
    attribution = "Am 11.03.26 um 10:20 schrieb nachfass-bot:"
    return f"Re: {draft['Subject']}", f"{new}\n\n{attribution}\n" + "\n".join(into)


def glued_to_the_notice(new: str, draft: EmailMessage) -> tuple[str, str]:
    notice = draft.get_content().split("\n", 2)[2]  # without "Hallo," and the blank line
    return f"Re: {draft['Subject']}", f"{new}\n{notice}"


def below_the_quote(new: str, draft: EmailMessage) -> tuple[str, str]:
    attribution = "Am 11.03.26 um 10:20 schrieb nachfass-bot:"
    return f"Re: {draft['Subject']}", f"{attribution}\n{quoted(draft.get_content())}\n\n{new}"


@pytest.mark.parametrize(
    "style",
    [
        pytest.param(written_into_the_quote, id="written-into-the-quote"),
        pytest.param(glued_to_the_notice, id="no-blank-line-before-the-notice"),
        pytest.param(below_the_quote, id="written-below-the-quote"),
    ],
)
def test_an_edit_that_cannot_be_cut_cleanly_sends_nothing_and_asks_again(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, style: Style
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys)
    subject, body = style(NEW_TEXT, draft)
    dovecot.append(
        "INBOX",
        raw_mail(
            (f"Anna Berger <{dovecot.user}>",), dovecot.user, subject, body,
            in_reply_to=str(draft["Message-ID"]),
        ),
    )  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0
    assert cli(config, "tick", "--now", "2026-03-12T10:45") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    answers = mails_to(smtp_sink, dovecot.user)[1:]
    assert len(answers) == 1
    assert "nicht verstanden" in str(answers[0]["Subject"])
    assert HINT in answers[0].get_content()
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"

    # The owner follows the hint: only the new text above the quote.
    dovecot.append("INBOX", owner_reply(dovecot, draft, NEW_TEXT, local("2026-03-12T11:00")))
    assert cli(config, "tick", "--now", "2026-03-12T11:05") == 0
    assert sent_to_client(smtp_sink) == [NEW_TEXT]
    client_mails_carry_no_token(smtp_sink, dovecot.user)


# --- forged "ok": nothing to the client, at most one warning ---------------------------


def forged_from(from_fields: Callable[[str], tuple[str, ...]]) -> Callable[..., bytes]:
    def build(owner: str, draft: EmailMessage) -> bytes:
        return raw_mail(
            from_fields(owner), owner, f"Re: {draft['Subject']}", "ok",
            in_reply_to=str(draft["Message-ID"]),
        )  # fmt: skip

    return build


def token_only_in_the_body(owner: str, draft: EmailMessage, *, in_reply_to: bool) -> bytes:
    tag = str(draft["Subject"]).split("]", 1)[0] + "]"
    subject = str(draft["Subject"]).replace(tag, "").strip()
    return raw_mail(
        (owner,), owner, f"Re: {subject}", f"ok\n\n{tag}",
        in_reply_to=str(draft["Message-ID"]) if in_reply_to else None,
    )  # fmt: skip


def second_token(owner: str, draft: EmailMessage, *, where: str) -> bytes:
    other = "[NF-0123456789abcdef0123]"
    subject, body = f"Re: {draft['Subject']}", "ok"
    if where == "subject":
        subject += f" {other}"
    else:
        body += f"\n\nwie {other}"
    return raw_mail((owner,), owner, subject, body, in_reply_to=str(draft["Message-ID"]))


def failed_dmarc_above_a_forged_pass(owner: str, draft: EmailMessage) -> bytes:
    domain = owner.rpartition("@")[2]
    stamps = (
        f"Authentication-Results: mx.{domain};\r\n\tdmarc=fail (p=reject; dis=none)\r\n"
        f"\theader.from={domain.upper()}",
        f"Authentication-Results: mx.{domain}; dmarc=pass header.from={domain}",
    )
    return raw_mail(
        (owner,), owner, f"Re: {draft['Subject']}", "ok",
        in_reply_to=str(draft["Message-ID"]), extra=stamps,
    )  # fmt: skip


FORGERIES: dict[str, Callable[[str, EmailMessage], bytes]] = {
    "owner-and-another-address": forged_from(lambda o: (f"Anna <{o}>, mallory@evil.test",)),
    "another-address-and-owner": forged_from(lambda o: (f"mallory@evil.test, {o}",)),
    "owner-as-display-name": forged_from(lambda o: (f'"{o}" <mallory@evil.test>',)),
    "foreign-display-name": forged_from(lambda o: (f'"mallory@evil.test" <{o}>',)),
    "unparsable-from": forged_from(lambda o: (f"<{o}",)),
    "two-from-fields": forged_from(lambda o: (f"Anna <{o}>", "mallory@evil.test")),
    "token-only-in-the-body": lambda o, d: token_only_in_the_body(o, d, in_reply_to=True),
    "token-only-in-the-body-no-reference": lambda o, d: token_only_in_the_body(
        o, d, in_reply_to=False
    ),
    "second-token-in-the-subject": lambda o, d: second_token(o, d, where="subject"),
    "second-token-in-the-body": lambda o, d: second_token(o, d, where="body"),
    "failed-dmarc-above-a-forged-pass": failed_dmarc_above_a_forged_pass,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_ok_sends_nothing_and_warns_at_most_once(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, forgery: str
) -> None:
    thread_id, draft = offer_with_draft(config, dovecot, smtp_sink, capsys)
    forged = FORGERIES[forgery](dovecot.user, draft)
    dovecot.append("INBOX", forged)
    dovecot.append("INBOX", forged.replace(b"Message-ID: <", b"Message-ID: <again."))
    assert cli(config, "tick", "--now", "2026-03-11T10:45") == 0
    assert cli(config, "tick", "--now", "2026-03-12T10:45") == 0

    assert mails_to(smtp_sink, CLIENT) == []
    assert cli_json(config, capsys, "show", str(thread_id))["draft_state"] == "pending"
    to_owner = mails_to(smtp_sink, dovecot.user)[1:]
    # One warning, however often the forgery comes; none for a mail that names no draft at
    # all (to the bot it is a note the owner wrote to herself).
    silent = forgery == "token-only-in-the-body-no-reference"
    assert len(to_owner) == (0 if silent else 1), [str(m["Subject"]) for m in to_owner]
    assert all("nicht ausgeführt" in str(m["Subject"]) for m in to_owner)

    # The draft is untouched: the owner's own "ok" still sends it, once.
    dovecot.append("INBOX", owner_reply(dovecot, draft, "ok", local("2026-03-12T11:00")))
    assert cli(config, "tick", "--now", "2026-03-12T11:05") == 0
    assert len(mails_to(smtp_sink, CLIENT)) == 1
    client_mails_carry_no_token(smtp_sink, dovecot.user)

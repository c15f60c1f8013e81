"""One mail's header block → :class:`~nachfass_bot.domain.models.Inbound`.

Sits above :mod:`headers` (decoding) and :mod:`classify` (auto-reply, bounce, list mail),
so neither of those needs the other the wrong way round. Never raises on bad input.
"""

from __future__ import annotations

from datetime import datetime
from email.message import Message

from nachfass_bot.domain.models import Inbound
from nachfass_bot.mail.classify import is_auto_reply_headers, is_bounce_headers, is_list_mail
from nachfass_bot.mail.headers import (
    address,
    addresses,
    all_raw_headers,
    clean_line,
    decode_words,
    message_ids,
    normalize_message_id,
    parse_date,
    parse_header_block,
    raw_header,
)

# The fields the IMAP adapter fetches with BODY.PEEK[HEADER.FIELDS (...)]. Everything
# parse_inbound and classify look at, nothing more. X-Auto-Response-Suppress is left out
# on purpose: it is a request not to auto-reply, not a sign of an auto-reply.
HEADER_FIELDS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "X-AutoReply-From",
    "X-Mail-Autoreply",
    "X-Apple-Action",
    "Precedence",
    "Content-Type",
    "Return-Path",
    "X-Failed-Recipients",
    "List-Id",
    "List-Unsubscribe",
    # Envelope recipients a delivering server records: a Bcc copy to the tracking
    # address shows it only here (app/tracking.py).
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
)


def _is_machine_mail(msg: Message) -> bool:
    """Auto-reply or bounce: either way not a human answer (RFC 3834, RFC 3464)."""
    try:
        return is_auto_reply_headers(msg) or is_bounce_headers(msg)
    except Exception:  # a classification bug must not lose the mail
        return False


def _is_list_mail(msg: Message) -> bool:
    try:
        return is_list_mail(msg)
    except Exception:  # a classification bug must not lose the mail
        return False


def parse_inbound(
    raw_headers: bytes,
    *,
    folder: str,
    uid: int,
    is_junk_folder: bool = False,
    received: datetime | None = None,
) -> Inbound:
    """The header facts of one mail (RFC 5322), from a header-only or a full fetch;
    ``received`` is the server's INTERNALDATE, passed through.

    Never raises: unparseable parts become None / "" / (). ``to_addrs`` holds To and Cc.
    ``is_auto_reply`` is True for auto-replies (RFC 3834) **and** for bounces (RFC 3464):
    :class:`~nachfass_bot.domain.models.Inbound` has one flag for "machine mail, not an answer";
    call :func:`classify.is_bounce_headers` to tell the two apart.
    """
    msg = parse_header_block(raw_headers)
    if msg is None:
        return Inbound(
            folder, uid, None, None, (), "", None, is_junk_folder=is_junk_folder, received=received
        )
    auto_submitted = raw_header(msg, "Auto-Submitted")
    recipients = addresses(", ".join(all_raw_headers(msg, "To") + all_raw_headers(msg, "Cc")))
    return Inbound(
        folder=folder,
        uid=uid,
        message_id=normalize_message_id(raw_header(msg, "Message-ID")),
        from_addr=address(raw_header(msg, "From")),
        to_addrs=recipients,
        subject=clean_line(decode_words(raw_header(msg, "Subject") or "")),
        date=parse_date(raw_header(msg, "Date")),
        in_reply_to=message_ids(raw_header(msg, "In-Reply-To")),
        references=message_ids(" ".join(all_raw_headers(msg, "References"))),
        auto_submitted=clean_line(auto_submitted) if auto_submitted is not None else None,
        is_auto_reply=_is_machine_mail(msg),
        is_junk_folder=is_junk_folder,
        is_list_mail=_is_list_mail(msg),
        received=received,
    )

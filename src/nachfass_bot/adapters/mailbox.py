"""What the engine needs from a mailbox, and how the watched folders are chosen.

Two adapters implement :class:`Mailbox`: ``imap.ImapMailbox`` (a real server) and
``maildir.MaildirMailbox`` (the demo). Folder choice is pure and tested without a server.

Servers name the same folder differently: Dovecot lists ``Sent``, Cyrus and Courier
``INBOX.Gesendet`` (personal namespace ``INBOX.`` with ``.`` as delimiter, RFC 2342),
Gmail ``[Gmail]/Gesendet``, Exchange ``Gesendete Elemente`` without SPECIAL-USE. A name
is therefore compared by its *key* (:func:`folder_key`): the personal prefix taken off,
the hierarchy delimiter made ``/``, modified UTF-7 (RFC 3501 §5.1.3) decoded and the case
folded. The known names below are written without prefix and with ``/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, Protocol

from imapclient import imap_utf7

from nachfass_bot.errors import ConfigError

# Junk folder names, tried after SPECIAL-USE \Junk (RFC 6154), in this order.
JUNK_NAMES: tuple[str, ...] = (
    "Junk",  # Dovecot's and iCloud's default; mailbox.org (observed LIST)
    "Spam",  # Posteo, IONOS, Strato, T-Online (observed LIST, MAILFACTS.md)
    "Spamverdacht",  # GMX and Web.de (hilfe.gmx.net / hilfe.web.de IMAP folder list)
    "Junk-E-Mail",  # Outlook.com / Microsoft 365 in German (MAILFACTS.md)
    "Junk E-Mail",  # older Outlook / Exchange in German (observed LIST)
    "Junk Email",  # Outlook.com / Microsoft 365 in English (MAILFACTS.md)
    "Junk-Mail",  # Thunderbird's German local name, created by clients (observed)
    "Unerwünscht",  # German name seen in the wild (MAILFACTS.md)
    "[Gmail]/Spam",  # Gmail (support.google.com/mail/answer/7126229, observed LIST)
    "[Google Mail]/Spam",  # Gmail accounts from Germany and the UK (MAILFACTS.md)
    "Bulk Mail",  # Yahoo (observed LIST)
)

# Sent folder names, tried after SPECIAL-USE \Sent, in this order.
SENT_NAMES: tuple[str, ...] = (
    "Sent",  # Dovecot's default; Posteo, mailbox.org, Strato (observed LIST)
    "Gesendet",  # GMX, Web.de, T-Online; Cyrus/Courier in German (MAILFACTS.md)
    "Gesendete Elemente",  # Outlook.com / Microsoft 365 in German (MAILFACTS.md)
    "Gesendete Objekte",  # IONOS (1&1) and older Outlook in German (observed LIST)
    "Sent Items",  # Outlook.com / Microsoft 365 in English (MAILFACTS.md)
    "Sent Messages",  # iCloud (observed LIST)
    "[Gmail]/Gesendet",  # Gmail in German (MAILFACTS.md)
    "[Google Mail]/Gesendet",  # Gmail in German, older accounts (MAILFACTS.md)
    "[Gmail]/Sent Mail",  # Gmail in English (support.google.com/mail/answer/7126229)
    "[Google Mail]/Sent Mail",  # Gmail in English, older accounts (observed LIST)
)

# Gmail's All Mail (SPECIAL-USE \All): every mail again, under another UID.
ALL_NAMES: tuple[str, ...] = (
    "[Gmail]/Alle Nachrichten",  # Gmail in German (MAILFACTS.md)
    "[Google Mail]/Alle Nachrichten",  # Gmail in German, older accounts (MAILFACTS.md)
    "[Gmail]/All Mail",  # Gmail in English (support.google.com/mail/answer/7126229)
    "[Google Mail]/All Mail",  # Gmail in English, older accounts (observed LIST)
)

# Personal prefixes some servers use even where NAMESPACE is not asked (RFC 2342 §5).
_USUAL_PREFIXES = ("INBOX.", "INBOX/")


@dataclass(frozen=True)
class FolderInfo:
    """One line of the server's folder list."""

    name: str
    flags: frozenset[str]  # e.g. {"\\Junk", "\\HasNoChildren"}
    delimiter: str | None = None  # the hierarchy delimiter LIST gave ("." or "/")


@dataclass(frozen=True)
class Namespace:
    """The personal namespace (RFC 2342): ``INBOX.`` and ``.`` at Cyrus and Courier,
    ``""`` and ``/`` at Dovecot, Gmail and Exchange."""

    prefix: str = ""
    delimiter: str = "/"


PLAIN_NAMESPACE = Namespace()  # no prefix, "/": Dovecot's default, Gmail, Exchange


@dataclass(frozen=True)
class FolderSet:
    """The folders the bot watches (inbound) and writes to (sent); server names."""

    inbox: str
    junk: str | None
    sent: str | None
    extra: tuple[str, ...] = ()

    @property
    def inbound(self) -> tuple[str, ...]:
        """Folders whose mail may be an answer: INBOX, junk, then extra ones."""
        names = [self.inbox, *([self.junk] if self.junk else []), *self.extra]
        return tuple(dict.fromkeys(names))


def decode_folder_name(name: str) -> str:
    """A name still in modified UTF-7 (``Unerw&APw-nscht``) decoded; others unchanged."""
    if "&" not in name or not name.isascii():
        return name
    try:
        return str(imap_utf7.decode(name.encode("ascii")))
    except (UnicodeError, ValueError):
        return name  # a plain "&" that is no UTF-7 shift


def folder_key(name: str, namespace: Namespace = PLAIN_NAMESPACE) -> str:
    """What two spellings of one folder have in common: without the personal prefix
    (``INBOX.Gesendet`` → ``gesendet``), ``/`` as delimiter, decoded, case-folded."""
    text = decode_folder_name(name)
    prefixes = [namespace.prefix] if namespace.prefix else []
    for prefix in [*prefixes, *_USUAL_PREFIXES]:
        if len(text) > len(prefix) and text[: len(prefix)].upper() == prefix.upper():
            text = text[len(prefix) :]
            break
    if namespace.delimiter and namespace.delimiter != "/":
        text = text.replace(namespace.delimiter, "/")
    return text.casefold()


def choose_folders(
    listing: Sequence[FolderInfo],
    *,
    junk_override: str | None = None,
    sent_override: str | None = None,
    extra: Sequence[str] = (),
    namespace: Namespace = PLAIN_NAMESPACE,
) -> FolderSet:
    """Pick junk and sent folders: config first, then SPECIAL-USE (RFC 6154), then names.

    A configured name is accepted as the server lists it, with or without the personal
    prefix, in any case and in modified UTF-7 (:func:`resolve_folder`)."""
    junk = resolve_folder(listing, "junk_folder", junk_override, namespace)
    sent = resolve_folder(listing, "sent_folder", sent_override, namespace)
    watched = tuple(
        dict.fromkeys(
            str(resolve_folder(listing, "extra_folders", name, namespace)) for name in extra
        )
    )
    junk = junk or _special_or_named(listing, "\\Junk", JUNK_NAMES, namespace)
    sent = sent or _special_or_named(listing, "\\Sent", SENT_NAMES, namespace)
    return FolderSet(inbox="INBOX", junk=junk, sent=sent, extra=watched)


def find_all_mail(
    listing: Sequence[FolderInfo], namespace: Namespace = PLAIN_NAMESPACE
) -> str | None:
    """Gmail's All Mail (SPECIAL-USE ``\\All``, else a known name), or None."""
    return _special_or_named(listing, "\\All", ALL_NAMES, namespace)


def resolve_folder(
    listing: Sequence[FolderInfo], key: str, wanted: str | None, namespace: Namespace
) -> str | None:
    """The server's name for a configured folder; ConfigError naming ``[mailbox] key``
    with the folders there are when none matches (or several match by key alone)."""
    if not wanted:
        return None
    names = [info.name for info in listing]
    if wanted in names:
        return wanted
    matches = [
        name for name in names if folder_key(name, namespace) == folder_key(wanted, namespace)
    ]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(names))
    raise ConfigError(
        f"[mailbox] {key}: den Ordner „{wanted}“ gibt es im Postfach nicht (vorhanden: {known})."
    )


def matches_known(
    name: str, known_names: Sequence[str], namespace: Namespace = PLAIN_NAMESPACE
) -> bool:
    """True when ``name`` is one of ``known_names`` by :func:`folder_key`."""
    key = folder_key(name, namespace)
    return any(folder_key(candidate) == key for candidate in known_names)


def _special_or_named(
    listing: Sequence[FolderInfo], flag: str, known_names: Sequence[str], namespace: Namespace
) -> str | None:
    for info in listing:
        if flag.lower() in {f.lower() for f in info.flags}:
            return info.name
    by_key: dict[str, str] = {}
    for info in listing:
        if "\\noselect" not in {f.lower() for f in info.flags}:
            by_key.setdefault(folder_key(info.name, namespace), info.name)
    for candidate in known_names:
        found = by_key.get(folder_key(candidate))
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int


class FetchedHeader(NamedTuple):
    """One mail of a header fetch."""

    uid: int
    header: bytes  # the requested header fields (an adapter may return more)
    # When the server got the mail (INTERNALDATE, RFC 3501 §2.3.3), aware; None if unknown.
    received: datetime | None = None


class Mailbox(Protocol):
    """A mailbox session; every failure is raised as :class:`MailboxError`."""

    def list_folders(self) -> list[FolderInfo]: ...

    def namespace(self) -> Namespace:
        """The personal namespace: prefix and hierarchy delimiter (RFC 2342)."""
        ...

    def folder_status(self, folder: str) -> FolderStatus: ...

    def fetch_headers(
        self,
        folder: str,
        first_uid: int,
        fields: Sequence[str],
        batch_size: int = 500,
        *,
        uids: Sequence[int] | None = None,
    ) -> Iterator[list[FetchedHeader]]:
        """Batches of ``(uid, header bytes, INTERNALDATE)`` for every UID >= first_uid (of
        ``uids`` only, when given: ascending, gone ones left out), in UID order; at least
        the header ``fields`` named (an adapter may return more)."""
        ...

    def first_uid_since(self, folder: str, day: date) -> int | None:
        """The lowest UID of a mail that reached the server on or after ``day``
        (INTERNALDATE, RFC 3501 §6.4.4 ``SEARCH SINCE``, evaluated by the server); None
        when there is none. Every mail with a lower UID arrived before ``day``."""
        ...

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        """The whole message, or None when it is gone."""
        ...

    def fetch_messages(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """The whole messages of ``uids``, each UID a key: None for one that is gone. In
        as few round trips as the adapter can (a sync reads a batch's bodies at once),
        and in pieces small enough that a batch of big attachments stays bounded."""
        ...

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        """Store ``raw`` in ``folder`` (RFC 3501 §6.3.11); never into the mailbox selected
        read-only (Courier refuses that), so an adapter leaves it first."""
        ...

    def move(self, folder: str, uid: int, target: str) -> None: ...

    def search_uids(
        self, folder: str, program: str, first_uid: int, last_uid: int
    ) -> list[int] | None:
        """The UIDs from ``first_uid`` to ``last_uid`` that the search ``program`` (RFC
        3501 §6.4.4 criteria, :func:`nachfass_bot.mail.prefilter.search_programs`) finds,
        ascending; None where the mailbox cannot search (the caller then takes every
        mail of the range)."""
        ...

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a mail with this Message-ID is in ``folder`` (RFC 3501 SEARCH HEADER)."""
        ...

    def close(self) -> None: ...

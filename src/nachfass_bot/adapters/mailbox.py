"""What the engine needs from a mailbox, and how the watched folders are chosen.

Two adapters implement :class:`Mailbox`: ``imap.ImapMailbox`` (a real server) and
``maildir.MaildirMailbox`` (the demo). Folder choice is pure and tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from nachfass_bot.errors import ConfigError

# Junk folder names seen at German and international providers, after SPECIAL-USE \Junk.
JUNK_NAMES: tuple[str, ...] = (
    "Junk",
    "Spam",
    "Junk-E-Mail",
    "Junk E-Mail",
    "Junk Email",
    "Junk-Mail",
    "Unerwünscht",
    "[Gmail]/Spam",
    "[Google Mail]/Spam",
    "INBOX.Spam",
    "INBOX.Junk",
    "INBOX/Spam",
    "INBOX/Junk",
    "Bulk Mail",
)

SENT_NAMES: tuple[str, ...] = (
    "Sent",
    "Gesendet",
    "Gesendete Elemente",
    "Gesendete Objekte",
    "Sent Items",
    "Sent Messages",
    "[Gmail]/Gesendet",
    "[Google Mail]/Gesendet",
    "[Gmail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
)


@dataclass(frozen=True)
class FolderInfo:
    """One line of the server's folder list."""

    name: str
    flags: frozenset[str]  # e.g. {"\\Junk", "\\HasNoChildren"}


@dataclass(frozen=True)
class FolderSet:
    """The folders the bot watches (inbound) and writes to (sent)."""

    inbox: str
    junk: str | None
    sent: str | None
    extra: tuple[str, ...] = ()

    @property
    def inbound(self) -> tuple[str, ...]:
        """Folders whose mail may be an answer: INBOX, junk, then extra ones."""
        names = [self.inbox, *([self.junk] if self.junk else []), *self.extra]
        return tuple(dict.fromkeys(names))


def choose_folders(
    listing: Sequence[FolderInfo],
    *,
    junk_override: str | None = None,
    sent_override: str | None = None,
    extra: Sequence[str] = (),
) -> FolderSet:
    """Pick junk and sent folders: config first, then SPECIAL-USE (RFC 6154), then names."""
    names = {info.name for info in listing}
    configured = [("junk_folder", junk_override), ("sent_folder", sent_override)]
    configured += [("extra_folders", name) for name in extra]
    for key, wanted in configured:
        if wanted and wanted not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(
                f"[mailbox] {key}: den Ordner „{wanted}“ gibt es im Postfach nicht "
                f"(vorhanden: {known})."
            )
    junk = junk_override or _special_or_named(listing, "\\Junk", JUNK_NAMES)
    sent = sent_override or _special_or_named(listing, "\\Sent", SENT_NAMES)
    return FolderSet(inbox="INBOX", junk=junk, sent=sent, extra=tuple(extra))


def _special_or_named(
    listing: Sequence[FolderInfo], flag: str, known_names: Sequence[str]
) -> str | None:
    for info in listing:
        if flag.lower() in {f.lower() for f in info.flags}:
            return info.name
    by_lower = {info.name.lower(): info.name for info in listing}
    for candidate in known_names:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
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

    def folder_status(self, folder: str) -> FolderStatus: ...

    def fetch_headers(
        self, folder: str, first_uid: int, fields: Sequence[str], batch_size: int = 500
    ) -> Iterator[list[FetchedHeader]]:
        """Batches of ``(uid, header bytes, INTERNALDATE)`` for every UID >= first_uid, in
        UID order; at least the header ``fields`` named (an adapter may return more)."""
        ...

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        """The whole message, or None when it is gone."""
        ...

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None: ...

    def move(self, folder: str, uid: int, target: str) -> None: ...

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a mail with this Message-ID is in ``folder`` (RFC 3501 SEARCH HEADER)."""
        ...

    def close(self) -> None: ...

"""IMAP adapter (imapclient): the only module that talks IMAP.

Library and socket errors are translated into :class:`MailboxError` here (a refused
login into its subclass :class:`LoginFailed`); the engine never sees ``imaplib`` or
``ssl`` exceptions. Reads use ``BODY.PEEK`` so the owner's unread mails stay unread
(RFC 3501 §6.4.5). IDLE (RFC 2177) is offered for :mod:`nachfass_bot.adapters.idle`.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import selectors
import socket
import ssl
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.util import to_unicode

from nachfass_bot.adapters.mailbox import FetchedHeader, FolderInfo, FolderStatus, Namespace
from nachfass_bot.config import ServerConfig
from nachfass_bot.errors import LoginFailed, MailboxError

log = logging.getLogger(__name__)

_IMAPLIB_LOG = "imapclient.imaplib"  # where imapclient sends imaplib's debug lines
_NETWORK_ERRORS = (IMAPClientError, imaplib.IMAP4.error, OSError, ssl.SSLError, EOFError)
# Untagged responses that announce new mail in the selected folder (RFC 3501 §7.3).
_NEW_MAIL_RESPONSES = (b"EXISTS", b"RECENT")
# A body fetch (fetch_messages) asks for the sizes of this many mails per command, then
# for the bodies of at most _BODY_CHUNK_MAILS mails or _BODY_CHUNK_BYTES (by RFC822.SIZE)
# per command: one round trip per mail made a mixed inbox's first sync mostly waiting, and
# one command for a batch of big attachments would hold them all in imaplib's answer.
_SIZE_CHUNK_MAILS = 500
_BODY_CHUNK_MAILS = 100
_BODY_CHUNK_BYTES = 8 * 1024 * 1024


class ImapMailbox:
    """A logged-in IMAP session; use as a context manager or call :meth:`close`."""

    def __init__(self, client: IMAPClient) -> None:
        self._client = client
        imap = getattr(client, "_imap", None)
        if imap is not None and not logging.getLogger(_IMAPLIB_LOG).isEnabledFor(logging.DEBUG):
            # imapclient sets imaplib's debug level to 5, which formats every line read
            # (the repr of each header block's line) for a logger that drops it: on a
            # first sync of tens of thousands of mails that is a tenth of the time.
            imap.debug = 0
        # INTERNALDATE as an aware datetime with the server's offset, not naive local time.
        self._client.normalise_times = False
        self._selected: str | None = None

    @classmethod
    def connect(cls, server: ServerConfig, password: str, timeout: float = 60) -> ImapMailbox:
        """Connect with the configured security and log in.

        ``password`` is the password, or with ``auth = "oauth2"`` the access token: then
        the login is OAUTHBEARER (RFC 7628) where the server offers it, else XOAUTH2
        (Microsoft offers only that). A refused login raises :class:`LoginFailed`,
        anything else :class:`MailboxError`; either way the socket is closed again.
        """
        context = ssl.create_default_context()
        client: IMAPClient | None = None
        try:
            client = IMAPClient(
                server.host,
                port=server.port,
                ssl=server.security == "ssl",
                ssl_context=context,
                timeout=timeout,
            )
            if server.security == "starttls":
                client.starttls(context)
            _login(client, server, password)
        except (*_NETWORK_ERRORS, socket.gaierror) as exc:
            if client is not None:
                with contextlib.suppress(*_NETWORK_ERRORS):
                    client.shutdown()
            raise _connect_error(server, exc) from exc
        return cls(client)

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._client.logout()
        except _NETWORK_ERRORS:
            log.debug("IMAP logout failed; connection already gone")
            with contextlib.suppress(*_NETWORK_ERRORS):
                self._client.shutdown()

    def list_folders(self) -> list[FolderInfo]:
        """LIST "" "*"; imapclient decodes modified UTF-7 names (RFC 3501 §5.1.3)."""
        rows = self._call(self._client.list_folders)
        return [
            FolderInfo(
                name=to_unicode(name),
                flags=frozenset(to_unicode(f) for f in flags),
                delimiter=to_unicode(delimiter) if delimiter else None,
            )
            for flags, delimiter, name in rows
        ]

    def namespace(self) -> Namespace:
        """The first personal namespace (RFC 2342); without NAMESPACE, no prefix and the
        delimiter LIST gives for INBOX."""
        if self._call(self._client.has_capability, "NAMESPACE"):
            personal = self._call(self._client.namespace).personal or ()
            if personal:
                prefix, delimiter = personal[0]
                return Namespace(to_unicode(prefix or ""), to_unicode(delimiter or "/"))
        rows = self._call(self._client.list_folders, "", "INBOX")
        delimiter = next((to_unicode(d) for _flags, d, _name in rows if d), "/")
        return Namespace("", delimiter)

    def folder_status(self, folder: str) -> FolderStatus:
        """SELECT (again) and read UIDVALIDITY/UIDNEXT: re-selecting makes the server show
        mail that arrived since this session last looked (RFC 3501 §6.3.1)."""
        info = self._call(self._client.select_folder, folder, readonly=True)
        self._selected = folder
        if b"UIDNEXT" not in info or b"UIDVALIDITY" not in info:
            info = self._call(self._client.folder_status, folder, ["UIDVALIDITY", "UIDNEXT"])
        return FolderStatus(uidvalidity=int(info[b"UIDVALIDITY"]), uidnext=int(info[b"UIDNEXT"]))

    def fetch_headers(
        self,
        folder: str,
        first_uid: int,
        fields: Sequence[str],
        batch_size: int = 500,
        *,
        uids: Sequence[int] | None = None,
    ) -> Iterator[list[FetchedHeader]]:
        """The header fields and INTERNALDATE, in one FETCH per batch.

        Where the server offers Gmail's ``X-GM-EXT-1``, ``X-GM-MSGID`` is fetched too and
        put in front of the header block as an ``X-GM-MSGID`` field: the copies of one
        mail in INBOX, Sent and All Mail share it, two mails never do — so a mail without
        Message-ID is still seen once per role (its key is a hash of the header block)."""
        self._select(folder)
        request = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(fields).upper())
        items = [request, "INTERNALDATE"]
        if self._client.has_capability("X-GM-EXT-1"):
            items.append("X-GM-MSGID")
        if uids is None:
            uids = self._uids_from(first_uid)
        else:
            uids = [uid for uid in uids if uid >= first_uid]
        for start in range(0, len(uids), batch_size):
            chunk = list(uids[start : start + batch_size])
            fast = None if len(items) > 2 else self._fetch_literals(chunk, request)
            if fast is not None:
                yield fast
                continue
            response = self._call(self._client.fetch, chunk, items)
            yield [_fetched(uid, response.get(uid, {})) for uid in chunk]

    def _uids_from(self, first_uid: int) -> Sequence[int]:
        """The folder's UIDs from ``first_uid`` on, ascending. Read from imaplib's answer
        into an array where it can: imapclient's parse of a SEARCH answer for 100,000
        mails builds a list of tokens and one of ints, the peak memory of a first sync."""
        imap = getattr(self._client, "_imap", None)
        criteria = f"UID {first_uid}:*"
        if isinstance(imap, imaplib.IMAP4):
            typ, data = self._call(imap.uid, "SEARCH", criteria)
            if typ != "OK":
                raise MailboxError(f"IMAP-Fehler: SEARCH abgelehnt ({typ})")
            line = b" ".join(part for part in data if isinstance(part, bytes))
            found = array("L", (int(number[0]) for number in _NUMBER.finditer(line)))
        else:
            found = array("L", self._call(self._client.search, ["UID", f"{first_uid}:*"]))
        if any(later < earlier for earlier, later in pairwise(found)):
            found = array("L", sorted(found))
        # "n:*" always yields the highest UID, even below n
        return found[bisect_left(found, first_uid) :]

    def search_uids(
        self, folder: str, program: str, first_uid: int, last_uid: int
    ) -> list[int] | None:
        """``UID SEARCH UID first:last <program>`` (RFC 3501 §6.4.4) in ``folder``
        selected read-only, ascending: the mails of that range the server finds
        (:mod:`nachfass_bot.mail.prefilter` writes the programs). None where the server's
        search cannot be trusted with them (:meth:`_searches_substrings`) or refuses the
        program (NO, BAD: a key it lacks, a line longer than it takes; RFC 7162 §4 asks
        only for 8,192 octets): the caller then reads every mail of the range."""
        if not self._searches_substrings():
            return None
        if last_uid < first_uid:
            return []
        self._select(folder)
        criteria = f"UID {first_uid}:{last_uid} {program}"
        imap = getattr(self._client, "_imap", None)
        if isinstance(imap, imaplib.IMAP4):
            try:
                typ, data = imap.uid("SEARCH", criteria)
            except imaplib.IMAP4.abort as exc:  # the connection, not the search
                self._selected = None
                raise MailboxError(f"IMAP-Fehler: {exc}") from exc
            except imaplib.IMAP4.error as exc:  # BAD: a key or a line the server refuses
                log.warning("the server refuses a search in %s, reading all: %s", folder, exc)
                return None
            except (OSError, EOFError) as exc:
                self._selected = None
                raise MailboxError(f"IMAP-Fehler: {exc}") from exc
            if typ != "OK":
                log.warning("the server refuses a search in %s (%s), reading all", folder, typ)
                return None
            line = b" ".join(part for part in data if isinstance(part, bytes))
            found = [int(number[0]) for number in _NUMBER.finditer(line)]
        else:
            found = list(self._call(self._client.search, criteria))
        return sorted(uid for uid in found if first_uid <= uid <= last_uid)

    def _searches_substrings(self) -> bool:
        """Whether SEARCH matches substrings as RFC 3501 §6.4.4 asks. Gmail (``X-GM-EXT-1``)
        and Microsoft Exchange (its greeting) search their word index instead, where a
        part of a word or an empty HEADER value finds nothing: there a sync reads every
        header rather than trust a search that may miss a candidate."""
        if self._client.has_capability("X-GM-EXT-1"):
            return False
        welcome = getattr(self._client, "welcome", None) or b""
        return b"microsoft exchange" not in bytes(welcome).lower()

    def _fetch_literals(self, uids: list[int], request: str) -> list[FetchedHeader] | None:
        """The header blocks and INTERNALDATEs of ``uids`` read straight from imaplib's
        answer (literal blocks and the line around them) instead of imapclient's lexer,
        which costs more than the rest of a first sync's fetch. None when the answer has
        a shape this reader does not know: the caller then asks imapclient."""
        imap = getattr(self._client, "_imap", None)
        if not isinstance(imap, imaplib.IMAP4):
            return None  # not imapclient over imaplib (a test double): its own fetch
        numbers = ",".join(str(uid) for uid in uids)
        typ, data = self._call(imap.uid, "FETCH", numbers, f"({request} INTERNALDATE)")
        if typ != "OK":
            raise MailboxError(f"IMAP-Fehler: FETCH abgelehnt ({typ})")
        found = _literal_headers(data)
        if found is None:
            return None
        return [found.get(uid) or FetchedHeader(uid, b"", None) for uid in uids]

    def first_uid_since(self, folder: str, day: date) -> int | None:
        """``UID SEARCH SINCE day`` (RFC 3501 §6.4.4: INTERNALDATE, on the server)."""
        self._select(folder)
        found = self._call(self._client.search, ["SINCE", day])
        return min(found, default=None)

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        self._select(folder)
        response = self._call(self._client.fetch, [uid], ["BODY.PEEK[]"])
        data = response.get(uid, {})
        raw = data.get(b"BODY[]")
        return bytes(raw) if raw is not None else None

    def fetch_messages(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """``UID FETCH (BODY.PEEK[])`` of ``uids`` in pieces: first their sizes
        (``RFC822.SIZE``, one small command per :data:`_SIZE_CHUNK_MAILS`), then at most
        :data:`_BODY_CHUNK_MAILS` mails or :data:`_BODY_CHUNK_BYTES` per command (a bigger
        mail alone), so a batch of big attachments is never one answer in memory. A mail
        gone before either step (its UID missing from the answer) comes back as None; a
        refused FETCH raises, as it did for :meth:`fetch_message`: taking it for "gone"
        would skip mail the folder's sync never reads again."""
        wanted = sorted(set(uids))
        found: dict[int, bytes | None] = dict.fromkeys(uids)
        if not wanted:
            return found
        self._select(folder)
        sizes = self._sizes(wanted) if len(wanted) > 1 else {wanted[0]: 0}
        for chunk in _body_chunks(wanted, sizes):
            found.update(self._bodies(chunk))
        return found

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of the mails of ``uids`` still there."""
        imap = getattr(self._client, "_imap", None)
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), _SIZE_CHUNK_MAILS):
            chunk = uids[start : start + _SIZE_CHUNK_MAILS]
            if not isinstance(imap, imaplib.IMAP4):  # a test double: its own fetch
                response = self._call(self._client.fetch, chunk, ["RFC822.SIZE"])
                sizes.update(
                    (uid, int(data.get(b"RFC822.SIZE") or 0)) for uid, data in response.items()
                )
                continue
            numbers = ",".join(str(uid) for uid in chunk)
            typ, data = self._call(imap.uid, "FETCH", numbers, "(RFC822.SIZE)")
            if typ != "OK":
                raise MailboxError(f"IMAP-Fehler: FETCH abgelehnt ({typ})")
            for line in data:
                if not isinstance(line, bytes):
                    continue
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid is not None:
                    sizes[int(uid[1])] = int(size[1]) if size is not None else 0
        return sizes

    def _bodies(self, uids: list[int]) -> dict[int, bytes]:
        """The whole mails of ``uids`` still there, in one ``UID FETCH``: read straight
        from imaplib's literal blocks where the answer has the usual shape (imapclient's
        lexer costs more than the transfer), else through imapclient."""
        imap = getattr(self._client, "_imap", None)
        if isinstance(imap, imaplib.IMAP4):
            numbers = ",".join(str(uid) for uid in uids)
            typ, data = self._call(imap.uid, "FETCH", numbers, "(BODY.PEEK[])")
            if typ != "OK":
                raise MailboxError(f"IMAP-Fehler: FETCH abgelehnt ({typ})")
            blocks = _literal_blocks(data)
            if blocks is not None:
                return {uid: literal for uid, (_meta, literal) in blocks.items()}
        response = self._call(self._client.fetch, uids, ["BODY.PEEK[]"])
        return {
            uid: bytes(raw)
            for uid, data in response.items()
            if (raw := data.get(b"BODY[]")) is not None
        }

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        """APPEND, after leaving a read-only selected mailbox: Courier refuses APPEND to
        the mailbox selected with EXAMINE ("Current box is selected READ-ONLY")."""
        self._leave_selected()
        flags = [b"\\Seen"] if seen else []
        self._call(self._client.append, folder, raw, flags, when)

    def _leave_selected(self) -> None:
        """UNSELECT where offered (RFC 3691), else CLOSE: a mailbox selected read-only
        is never expunged by CLOSE (RFC 3501 §6.4.2)."""
        if self._selected is None:
            return
        if self._client.has_capability("UNSELECT"):
            self._call(self._client.unselect_folder)
        else:
            self._call(self._client.close_folder)
        self._selected = None

    # -- IDLE (RFC 2177) ---------------------------------------------------------------

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        self._select(folder)
        found = self._call(self._client.search, ["HEADER", "Message-ID", message_id])
        return bool(found)

    def move(self, folder: str, uid: int, target: str) -> None:
        """Move one mail (RFC 6851 MOVE; else COPY, \\Deleted and UID EXPUNGE)."""
        self._call(self._client.select_folder, folder, readonly=False)
        self._selected = None  # the next read re-selects read-only
        if self._client.has_capability("MOVE"):
            self._call(self._client.move, [uid], target)
            return
        self._call(self._client.copy, [uid], target)
        self._call(self._client.add_flags, [uid], [b"\\Deleted"])
        if self._client.has_capability("UIDPLUS"):
            self._call(self._client.uid_expunge, [uid])
        else:
            self._call(self._client.expunge)

    def supports_idle(self) -> bool:
        """True when the server offers IDLE (RFC 2177) in its CAPABILITY list."""
        return bool(self._call(self._client.has_capability, "IDLE"))

    def start_idle(self, folder: str) -> None:
        """Select ``folder`` read-only and enter IDLE; only the IDLE methods may follow."""
        self._select(folder)
        self._call(self._client.idle)

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in IDLE; True when the server announced new mail.

        imapclient's ``idle_check`` returns an empty list both for "nothing yet" and for
        a closed connection. Here it is called only once the socket is readable, so a
        readable socket without a single response means the server has gone: that
        raises :class:`MailboxError`, and the caller reconnects.
        """
        if not self._readable(timeout):
            return False
        responses = self._call(self._client.idle_check, 0)
        if not responses:
            self._selected = None
            raise MailboxError("IMAP-Verbindung während IDLE beendet")
        return _announces_new_mail(responses)

    def end_idle(self) -> bool:
        """Leave IDLE (``DONE``); True when the last responses announced new mail."""
        _text, responses = self._call(self._client.idle_done)
        return _announces_new_mail(responses)

    def _readable(self, timeout: float) -> bool:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._client.socket(), selectors.EVENT_READ)
                return bool(selector.select(timeout))
        except (OSError, ValueError) as exc:  # ValueError: the socket is already closed
            self._selected = None
            raise MailboxError(f"IMAP-Fehler: {exc}") from exc

    def _select(self, folder: str) -> None:
        if self._selected != folder:
            self._call(self._client.select_folder, folder, readonly=True)
            self._selected = folder

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _NETWORK_ERRORS as exc:
            self._selected = None
            raise MailboxError(f"IMAP-Fehler: {exc}") from exc


def _login(client: IMAPClient, server: ServerConfig, secret: str) -> None:
    """LOGIN with the password, or AUTHENTICATE with the access token (RFC 7628)."""
    if server.auth != "oauth2":
        client.login(server.username, secret)
    elif client.has_capability("AUTH=OAUTHBEARER"):
        client.oauthbearer_login(server.username, secret)
    else:
        client.oauth2_login(server.username, secret)


def _connect_error(server: ServerConfig, exc: BaseException) -> MailboxError:
    """The German message for a failed connect or login (never with the password)."""
    if isinstance(exc, LoginError) and server.auth == "oauth2":
        return LoginFailed(
            f"Anmeldung am IMAP-Server {server.host} abgelehnt: das Zugangstoken (OAuth2) für "
            f"{server.username} gilt nicht — abgelaufen, für ein anderes Konto oder ohne "
            "IMAP-Berechtigung."
        )
    if isinstance(exc, LoginError):
        return LoginFailed(
            f"Anmeldung am IMAP-Server {server.host} abgelehnt: Benutzername oder Passwort falsch."
        )
    if isinstance(exc, ssl.SSLError):
        return MailboxError(
            f"TLS-Verbindung zu {server.host}:{server.port} gescheitert: {exc.reason}"
        )
    return MailboxError(f"IMAP-Server {server.host}:{server.port} nicht erreichbar: {exc}")


def _announces_new_mail(responses: list[Any]) -> bool:
    """True when an untagged response is ``n EXISTS`` or ``n RECENT``."""
    return any(
        isinstance(response, tuple) and len(response) >= 2 and response[1] in _NEW_MAIL_RESPONSES
        for response in responses
    )


def _fetched(uid: int, data: dict[bytes, Any]) -> FetchedHeader:
    received = data.get(b"INTERNALDATE")
    if isinstance(received, datetime):
        received = received.astimezone(UTC) if received.tzinfo else received.replace(tzinfo=UTC)
    else:
        received = None
    header = _header_bytes(data)
    gmail_id = data.get(b"X-GM-MSGID")
    if gmail_id is not None:
        header = b"X-GM-MSGID: " + str(int(gmail_id)).encode("ascii") + b"\r\n" + header
    return FetchedHeader(uid, header, received)


_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_NUMBER = re.compile(rb"\d+")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_MONTHS = {
    name: number
    for number, name in enumerate(
        (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
         b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"), start=1
    )
}  # fmt: skip


def _literal_headers(data: list[Any]) -> dict[int, FetchedHeader] | None:
    """``UID FETCH (BODY.PEEK[HEADER.FIELDS (…)] INTERNALDATE)`` as imaplib returns it
    (:func:`_literal_blocks`), or None."""
    blocks = _literal_blocks(data)
    if blocks is None:
        return None
    return {
        uid: FetchedHeader(uid, literal, _internaldate(meta))
        for uid, (meta, literal) in blocks.items()
    }


def _literal_blocks(data: list[Any]) -> dict[int, tuple[bytes, bytes]] | None:
    """A ``UID FETCH`` of one ``BODY[…]`` section as imaplib returns it: per mail a ``(line
    up to the literal, literal)`` pair, then the rest of the line; by UID, the line around
    the literal and the literal. None for any other shape (a section sent as a quoted
    string or NIL, no UID)."""
    found: dict[int, tuple[bytes, bytes]] = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        rest = data[index + 1] if index + 1 < len(data) else b""
        meta = bytes(item[0]) + (rest if isinstance(rest, bytes) else b"")
        uid = _UID.search(meta)
        if uid is None or b"BODY[" not in meta:
            return None
        found[int(uid[1])] = (meta, bytes(item[1]))
    expected = sum(1 for item in data if isinstance(item, bytes) and b"BODY[" in item)
    return None if expected else found


def _body_chunks(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """``uids`` that are still there (in ``sizes``) in pieces of at most
    :data:`_BODY_CHUNK_MAILS` mails and :data:`_BODY_CHUNK_BYTES`, a bigger mail alone."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        if uid not in sizes:
            continue  # gone already: None
        size = sizes[uid]
        if chunk and (len(chunk) >= _BODY_CHUNK_MAILS or total + size > _BODY_CHUNK_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += size
    if chunk:
        yield chunk


def _internaldate(meta: bytes) -> datetime | None:
    """INTERNALDATE (RFC 3501 date-time, ``" 2-Jan-2026 03:04:05 +0100"``) in UTC."""
    match = _INTERNALDATE.search(meta)
    if match is None:
        return None
    try:
        day, clock, zone = match[1].strip().split(b" ")
        mday, month, year = day.split(b"-")
        hour, minute, second = (int(part) for part in clock.split(b":"))
        offset = int(zone[1:3]) * 60 + int(zone[3:5])
        sign = -1 if zone[:1] == b"-" else 1
        moment = datetime(int(year), _MONTHS[month], int(mday), hour, minute, second,
                          tzinfo=timezone(timedelta(minutes=sign * offset)))  # fmt: skip
    except (ValueError, KeyError):
        return None
    return moment.astimezone(UTC)


def _header_bytes(data: dict[bytes, Any]) -> bytes:
    """The header block of a FETCH answer; the key comes back without ``.PEEK``."""
    for key, value in data.items():
        if key.upper().startswith(b"BODY[HEADER.FIELDS") and value is not None:
            return bytes(value)
    return b""

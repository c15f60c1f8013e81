"""IMAP adapter (imapclient): the only module that talks IMAP.

Library and socket errors are translated into :class:`MailboxError` here; the engine
never sees ``imaplib`` or ``ssl`` exceptions. Reads use ``BODY.PEEK`` so the owner's
unread mails stay unread (RFC 3501 §6.4.5).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.util import to_unicode

from .config import ServerConfig
from .errors import MailboxError
from .headers import HEADER_FIELDS
from .mailbox import FolderInfo, FolderStatus

log = logging.getLogger(__name__)

_HEADER_FETCH = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(HEADER_FIELDS).upper())
_NETWORK_ERRORS = (IMAPClientError, imaplib.IMAP4.error, OSError, ssl.SSLError, EOFError)


class ImapMailbox:
    """A logged-in IMAP session; use as a context manager or call :meth:`close`."""

    def __init__(self, client: IMAPClient) -> None:
        self._client = client
        self._selected: str | None = None

    @classmethod
    def connect(cls, server: ServerConfig, password: str, timeout: float = 60) -> ImapMailbox:
        """Connect with the configured security and log in."""
        context = ssl.create_default_context()
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
            client.login(server.username, password)
        except LoginError as exc:
            raise MailboxError(
                f"Anmeldung am IMAP-Server {server.host} abgelehnt: "
                "Benutzername oder Passwort falsch."
            ) from exc
        except ssl.SSLError as exc:
            raise MailboxError(
                f"TLS-Verbindung zu {server.host}:{server.port} gescheitert: {exc.reason}"
            ) from exc
        except (*_NETWORK_ERRORS, socket.gaierror) as exc:
            raise MailboxError(
                f"IMAP-Server {server.host}:{server.port} nicht erreichbar: {exc}"
            ) from exc
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
        rows = self._call(self._client.list_folders)
        return [
            FolderInfo(name=to_unicode(name), flags=frozenset(to_unicode(f) for f in flags))
            for flags, _delimiter, name in rows
        ]

    def folder_status(self, folder: str) -> FolderStatus:
        """SELECT (again) and read UIDVALIDITY/UIDNEXT: re-selecting makes the server show
        mail that arrived since this session last looked (RFC 3501 §6.3.1)."""
        info = self._call(self._client.select_folder, folder, readonly=True)
        self._selected = folder
        if b"UIDNEXT" not in info or b"UIDVALIDITY" not in info:
            info = self._call(self._client.folder_status, folder, ["UIDVALIDITY", "UIDNEXT"])
        return FolderStatus(uidvalidity=int(info[b"UIDVALIDITY"]), uidnext=int(info[b"UIDNEXT"]))

    def fetch_headers(
        self, folder: str, first_uid: int, batch_size: int = 500
    ) -> Iterator[list[tuple[int, bytes]]]:
        self._select(folder)
        uids = sorted(u for u in self._call(self._client.search, ["UID", f"{first_uid}:*"]))
        uids = [u for u in uids if u >= first_uid]  # "n:*" always yields the highest UID
        for start in range(0, len(uids), batch_size):
            chunk = uids[start : start + batch_size]
            response = self._call(self._client.fetch, chunk, [_HEADER_FETCH])
            yield [(uid, _header_bytes(response.get(uid, {}))) for uid in chunk]

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        self._select(folder)
        response = self._call(self._client.fetch, [uid], ["BODY.PEEK[]"])
        data = response.get(uid, {})
        raw = data.get(b"BODY[]")
        return bytes(raw) if raw is not None else None

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        flags = [b"\\Seen"] if seen else []
        self._call(self._client.append, folder, raw, flags, when)

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


def _header_bytes(data: dict[bytes, Any]) -> bytes:
    """The header block of a FETCH answer; the key comes back without ``.PEEK``."""
    for key, value in data.items():
        if key.upper().startswith(b"BODY[HEADER.FIELDS") and value is not None:
            return bytes(value)
    return b""

"""A local Maildir++ mailbox behind the :class:`~nachfass_bot.adapters.mailbox.Mailbox` protocol.

The demo runs the real engine against it. Maildir has no UIDs, so — like Dovecot's
``dovecot-uidlist`` — each folder keeps a small list that gives every file name a stable
UID in delivery order.
"""

from __future__ import annotations

import json
import mailbox
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from nachfass_bot.adapters.mailbox import FetchedHeader, FolderInfo, FolderStatus, Namespace
from nachfass_bot.errors import MailboxError

_UIDLIST = "nachfass-uidlist.json"
_KEY_RE = re.compile(r"^(\d+)\.M(\d+)P\d+Q(\d+)\.")
_SPECIAL = {"Junk": "\\Junk", "Sent": "\\Sent"}


class MaildirMailbox:
    """INBOX is the Maildir root; other folders are ``.Name`` subfolders (Maildir++)."""

    def __init__(self, root: Path, folders: tuple[str, ...] = ("Junk", "Sent")) -> None:
        self.root = root
        self._box = mailbox.Maildir(root, create=True)
        for name in folders:
            if name not in self._box.list_folders():
                self._box.add_folder(name)

    def close(self) -> None:
        self._box.close()

    def list_folders(self) -> list[FolderInfo]:
        names = ["INBOX", *self._box.list_folders()]
        return [FolderInfo(name, frozenset({_SPECIAL.get(name, "")} - {""}), ".") for name in names]

    def namespace(self) -> Namespace:
        return Namespace(prefix="", delimiter=".")

    def folder_status(self, folder: str) -> FolderStatus:
        uids = self._uids(folder)
        return FolderStatus(uidvalidity=1, uidnext=max(uids.values(), default=0) + 1)

    def fetch_headers(
        self,
        folder: str,
        first_uid: int,
        fields: Sequence[str],
        batch_size: int = 500,
        *,
        uids: Sequence[int] | None = None,
    ) -> Iterator[list[FetchedHeader]]:
        """Header blocks; the delivery time (the file's mtime, as Dovecot's Maildir has
        it) stands for INTERNALDATE."""
        box = self._folder(folder)
        chosen = None if uids is None else set(uids)
        wanted = sorted(
            (uid, key)
            for key, uid in self._uids(folder).items()
            if uid >= first_uid and (chosen is None or uid in chosen)
        )
        for start in range(0, len(wanted), batch_size):
            batch = []
            for uid, key in wanted[start : start + batch_size]:
                raw = box.get_bytes(key)
                header = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
                batch.append(FetchedHeader(uid, header, _delivered_at(box, key)))
            yield batch

    def first_uid_since(self, folder: str, day: date) -> int | None:
        """The lowest UID of a file delivered on or after ``day`` (its mtime, in UTC)."""
        box = self._folder(folder)
        found = [
            uid
            for key, uid in self._uids(folder).items()
            if (delivered := _delivered_at(box, key)) is None or delivered.date() >= day
        ]
        return min(found, default=None)

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        for key, known in self._uids(folder).items():
            if known == uid:
                return self._folder(folder).get_bytes(key)
        return None

    def fetch_messages(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        """The files of ``uids``, the folder's UID list read once; None where a file is
        gone (removed since, or never there)."""
        box = self._folder(folder)
        keys = {uid: key for key, uid in self._uids(folder).items()}
        found: dict[int, bytes | None] = {}
        for uid in uids:
            key = keys.get(uid)
            try:
                found[uid] = box.get_bytes(key) if key is not None else None
            except (KeyError, FileNotFoundError):
                found[uid] = None
        return found

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        box = self._folder(folder)
        message = mailbox.MaildirMessage(raw)
        message.set_date(when.timestamp())
        if seen:
            message.set_subdir("cur")
            message.add_flag("S")
        box.add(message)
        self._uids(folder)

    def search_uids(self, folder: str, program: str, first_uid: int, last_uid: int) -> None:
        """No IMAP search here: None, so the caller takes every mail of the range."""
        return None

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        box = self._folder(folder)
        return any(message.get("Message-ID") == message_id for message in box)

    def move(self, folder: str, uid: int, target: str) -> None:
        """Move one mail to ``target`` (it gets the next UID there)."""
        for key, known in self._uids(folder).items():
            if known == uid:
                source = self._folder(folder)
                message = source.get_message(key)
                self._folder(target).add(message)
                source.remove(key)
                self._uids(target)
                return

    def _folder(self, folder: str) -> mailbox.Maildir:
        if folder == "INBOX":
            return self._box
        try:
            return self._box.get_folder(folder)
        except mailbox.NoSuchMailboxError as exc:
            raise MailboxError(f"Ordner {folder!r} gibt es im Postfach nicht.") from exc

    def _uids(self, folder: str) -> dict[str, int]:
        """Known keys with their UIDs; new files get the next UIDs, oldest first."""
        box = self._folder(folder)
        path = Path(box._path) / _UIDLIST
        uids: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
        present = set(box.keys())
        new_keys = sorted(present - uids.keys(), key=_delivery_order)
        if new_keys:
            next_uid = max(uids.values(), default=0) + 1
            for offset, key in enumerate(new_keys):
                uids[key] = next_uid + offset
            path.write_text(json.dumps(uids))
        return {key: uid for key, uid in uids.items() if key in present}


def _delivered_at(box: mailbox.Maildir, key: str) -> datetime | None:
    """When the file was delivered: its mtime, which ``MaildirMessage.set_date`` sets."""
    try:
        return datetime.fromtimestamp(box.get_message(key).get_date(), UTC)
    except (OSError, KeyError, ValueError):
        return None


def _delivery_order(key: str) -> tuple[int, int, int, str]:
    """Python's Maildir keys start with ``seconds.Mmicros P pid Q counter``."""
    match = _KEY_RE.match(key)
    if not match:
        return (0, 0, 0, key)
    return (int(match[1]), int(match[2]), int(match[3]), key)

"""Incremental folder sync by UID (RFC 3501 §2.3.1): new mail only, crash-safe.

The stored ``(uidvalidity, last_uid)`` of a folder moves forward in the same transaction
as the handling of each batch, so a crash or a dropped connection resumes after the last
handled batch. A new UIDVALIDITY voids the stored UIDs: the folder is read again from the
start, and the caller recognises mail it saw before by its Message-ID and the role it
played (:class:`~nachfass_bot.domain.models.SeenRole`).

No network call happens while the transaction is open: ``read_bodies`` downloads the
whole messages a batch needs first, then the batch is handled and committed. A connection
that drops during a download leaves the store as it was after the last batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from nachfass_bot.adapters.mailbox import FetchedHeader, Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.domain.models import EventKind
from nachfass_bot.mail.inbound import HEADER_FIELDS

Batch = list[FetchedHeader]  # (uid, header bytes, INTERNALDATE)
# uid → whole message, for the mails of a batch that need one; None: the mail was gone when
# its body was asked for (moved or deleted by the owner's mail program meanwhile).
Bodies = Mapping[int, bytes | None]
BodyReader = Callable[[Batch], Bodies]
BatchHandler = Callable[[Batch, Bodies], None]
Progress = Callable[[str, int, int], None]  # folder, mails read, mails to read
PROGRESS_FROM = 2000  # only a sync this long reports its progress


def sync_folder(
    mailbox: Mailbox,
    store: Store,
    folder: str,
    now: datetime,
    handle_batch: BatchHandler,
    progress: Progress | None = None,
    read_bodies: BodyReader | None = None,
) -> None:
    """Hand every batch of ``(uid, header bytes, INTERNALDATE)`` above the stored UID,
    with the bodies ``read_bodies`` downloaded for it beforehand, to ``handle_batch``
    inside one transaction; ``handle_batch`` must not touch the network. A long sync
    calls ``progress`` after each batch."""
    status = mailbox.folder_status(folder)
    stored = store.folder_state(folder)
    last_uid = 0
    if stored and stored[0] == status.uidvalidity:
        last_uid = stored[1]
    elif stored:
        store.add_event(
            now,
            f"Im Ordner {folder} hat sich die UIDVALIDITY geändert; ich lese ihn neu.",
            kind=EventKind.SYNC,
        )
    if last_uid + 1 < status.uidnext:
        expected = status.uidnext - 1 - last_uid  # at most; expunged UIDs make it less
        done = 0
        for batch in mailbox.fetch_headers(folder, last_uid + 1, HEADER_FIELDS):
            if not batch:
                continue
            bodies = read_bodies(batch) if read_bodies is not None else {}
            with store.atomic():
                handle_batch(batch, bodies)
                last_uid = batch[-1][0]
                store.save_folder_state(folder, status.uidvalidity, last_uid, now)
            done += len(batch)
            if progress is not None and expected >= PROGRESS_FROM:
                progress(folder, done, max(done, expected))
    if stored is None or stored[0] != status.uidvalidity:
        store.save_folder_state(folder, status.uidvalidity, last_uid, now)

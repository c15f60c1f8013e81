"""Real mail servers for the test suite: a throwaway Dovecot (IMAP) and an aiosmtpd sink (SMTP).

Plain helper classes, no pytest needed; the fixtures live in ``conftest.py``.

``DovecotServer`` runs the installed Dovecot daemon with a generated config in a temporary
directory under ``/tmp`` (the dovecot user cannot enter pytest's 0700 tmp dir). It writes
Dovecot 2.3 syntax (Debian 12) or 2.4 syntax (Debian 13) depending on ``dovecot --version``.
It must run as root: the master drops privileges to ``dovecot``/``dovenull``.

``MailAccount`` is one IMAP login on such a server. ``DovecotServer`` is itself the account of
its first user; ``DovecotServer.add_account()`` creates more (one per test keeps tests apart
while the daemon runs for the whole session).

``SmtpSink`` records every mail it receives and hands mail for the mailbox owner on to that
owner's Dovecot INBOX, the way a real MTA would.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import email
import email.policy
import email.utils
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient

LOOPBACK = "127.0.0.1"
DEFAULT_OWNER = "owner@example.test"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
STALL_LIMIT = 30.0  # a stalled SMTP command answers after this at the latest
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Dovecot's login/internal users on Debian; the mail files belong to the internal one.
LOGIN_USER = "dovenull"
INTERNAL_USER = "dovecot"


class ServerError(RuntimeError):
    """A test server could not be started, stopped or used."""


@dataclass(frozen=True)
class Layout:
    """How a server presents the owner's folders: namespace, names and SPECIAL-USE.

    ``folders`` are written without the namespace prefix and with ``separator``; each
    names its role (``junk``, ``sent``, ``drafts``, ``trash``, ``all``, ``extra``) and
    whether Dovecot advertises it with a SPECIAL-USE flag. ``all_mail``: INBOX and Sent
    copies land there too (Gmail's ``\\All``). ``files_sent``: the SMTP sink files mail
    the owner submits in Sent itself, as Gmail and Microsoft 365 do.
    """

    name: str
    separator: str
    prefix: str
    folders: tuple[tuple[str, str, bool], ...]  # (name, role, advertised as special-use)
    files_sent: bool = False

    def folder(self, role: str) -> str:
        """The full IMAP name (with prefix) of the folder with ``role``; INBOX is INBOX."""
        if role == "inbox":
            return "INBOX"
        for name, folder_role, _special in self.folders:
            if folder_role == role:
                return self.prefix + name
        raise KeyError(f"layout {self.name} has no {role} folder")

    def has(self, role: str) -> bool:
        return any(folder_role == role for _name, folder_role, _special in self.folders)


_SPECIAL_USE = {"junk": "Junk", "sent": "Sent", "drafts": "Drafts", "trash": "Trash", "all": "All"}

# The layouts the core loop tests run against (tests/test_layouts.py).
LAYOUTS: dict[str, Layout] = {
    # Dovecot's defaults, with SPECIAL-USE: what the rest of the suite uses.
    "dovecot": Layout(
        "dovecot",
        "/",
        "",
        (
            ("Junk", "junk", True),
            ("Sent", "sent", True),
            ("Drafts", "drafts", True),
            ("Trash", "trash", True),
        ),
    ),
    # Cyrus and Courier: personal namespace "INBOX." with "." as delimiter, German names,
    # no SPECIAL-USE (MAILFACTS.md, "Servers and providers seen in the wild").
    "cyrus": Layout(
        "cyrus",
        ".",
        "INBOX.",
        (
            ("Spam", "junk", False),
            ("Gesendet", "sent", False),
            ("Entwürfe", "drafts", False),
            ("Papierkorb", "trash", False),
        ),
    ),
    # Gmail in German: "[Gmail]/…" with SPECIAL-USE, All Mail (\All) shows every mail
    # of INBOX and Sent again, and mail submitted over SMTP is filed in Sent by the server.
    "gmail": Layout(
        "gmail",
        "/",
        "",
        (
            ("[Gmail]/Spam", "junk", True),
            ("[Gmail]/Gesendet", "sent", True),
            ("[Gmail]/Entwürfe", "drafts", True),
            ("[Gmail]/Papierkorb", "trash", True),
            ("[Gmail]/Alle Nachrichten", "all", True),
        ),
        files_sent=True,
    ),
    # Outlook.com / Microsoft 365 in German: no SPECIAL-USE (MAILFACTS.md), names with
    # umlauts travel in modified UTF-7, the server files SMTP mail in Sent itself.
    "outlook": Layout(
        "outlook",
        "/",
        "",
        (
            ("Junk-E-Mail", "junk", False),
            ("Gesendete Elemente", "sent", False),
            ("Entwürfe", "drafts", False),
            ("Gelöschte Elemente", "trash", False),
            ("Aufträge", "extra", False),
        ),
        files_sent=True,
    ),
}
DEFAULT_LAYOUT = LAYOUTS["dovecot"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def find_program(name: str) -> str | None:
    """Locate ``name`` on PATH or in the sbin directories (often missing from PATH)."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=search_path)


def find_dovecot_imap(dovecot: str) -> str | None:
    """Dovecot's ``imap`` executable (package dovecot-imapd), None when it is missing.

    The master starts its services from the libexec directory beside its own sbin:
    PREFIX/lib/dovecot on Debian and Ubuntu, PREFIX/libexec/dovecot on Fedora and in
    source builds. Without it (dovecot-core alone) every start fails with
    "service(imap) access(…/imap) failed". ``.ci/setup`` looks in the same places.
    """
    prefix = Path(dovecot).resolve().parent.parent
    for libexec in (prefix / "lib" / "dovecot", prefix / "libexec" / "dovecot"):
        if all(os.access(libexec / name, os.X_OK) for name in ("imap", "imap-login")):
            return str(libexec / "imap")
    return None


def dovecot_version(dovecot: str) -> tuple[int, int]:
    """Major and minor version of the Dovecot binary, from ``dovecot --version``."""
    output = subprocess.run(
        [dovecot, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.match(r"\s*(\d+)\.(\d+)", output)
    if match is None:
        raise ServerError(f"cannot read the Dovecot version from {output!r}")
    return int(match.group(1)), int(match.group(2))


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (nobody may reap it in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pids(parent: int) -> list[int]:
    """Living direct children of ``parent``, read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Poll until none of ``pids`` is alive; False if some survive the timeout."""
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending:
        pending = [pid for pid in pending if pid_alive(pid)]
        if pending and time.monotonic() > deadline:
            return False
        if pending:
            time.sleep(0.02)
    return True


class MailAccount:
    """One IMAP login on a test server, with helpers to seed and inspect its mailboxes."""

    def __init__(
        self, host: str, port: int, user: str, password: str, layout: Layout = DEFAULT_LAYOUT
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.layout = layout

    def folder(self, role: str) -> str:
        """The IMAP name of this account's folder with ``role`` (``inbox``, ``junk``,
        ``sent``, …) in its server's layout."""
        return self.layout.folder(role)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user!r} at {self.host}:{self.port})"

    def client(self) -> IMAPClient:
        """A logged-in IMAPClient without TLS; the caller logs out (``with`` works too)."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            imap.login(self.user, self.password)
        except Exception:
            imap.shutdown()
            raise
        return imap

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[bytes | str] = (),
        msg_time: datetime | None = None,
    ) -> None:
        """Store one RFC 5322 message in ``folder`` (IMAP APPEND, RFC 3501 §6.3.11).

        Its INTERNALDATE is ``msg_time``, by default the mail's Date header — as when a
        server delivers a mail at the moment it was written (the suite's clock is not the
        wall clock); a mail without a readable Date gets the server's now.
        """
        when = msg_time if msg_time is not None else _header_date(raw)
        targets = [folder]
        if self.layout.has("all") and folder in (self.folder("inbox"), self.folder("sent")):
            targets.append(self.folder("all"))  # Gmail shows it again in All Mail
        with self.client() as imap:
            for target in targets:
                imap.append(target, raw, flags=flags, msg_time=when)

    def messages(self, folder: str) -> list[bytes]:
        """Full RFC 822 text of all messages in ``folder``, in UID order; \\Seen is not set."""
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search("ALL"))
            if not uids:
                return []
            fetched = imap.fetch(uids, ["BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in uids]

    def delete_all(self, folder: str) -> None:
        """Expunge every message in ``folder``."""
        with self.client() as imap:
            imap.select_folder(folder)
            uids = imap.search("ALL")
            if uids:
                imap.delete_messages(uids)
                imap.expunge()


def _header_date(raw: bytes) -> datetime | None:
    """The Date header of ``raw``, aware, or None."""
    header = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    try:
        moment = email.utils.parsedate_to_datetime(str(header["Date"]))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


class DovecotServer(MailAccount):
    """A private Dovecot IMAP daemon on 127.0.0.1, plus the account of its first user.

    Maildir storage, passwd-file auth with PLAIN passwords, no TLS, cleartext login allowed,
    mailboxes INBOX, Junk (\\Junk), Sent (\\Sent), Drafts (\\Drafts), Trash (\\Trash), all
    auto-created and subscribed. Failed logins are answered without Dovecot's delay and
    penalty. All state lives in ``workdir``; without one, a directory under /tmp is created
    and removed again by ``stop()``. Mail files belong to the ``dovecot`` user.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        user: str = DEFAULT_OWNER,
        password: str | None = None,
        layout: Layout = DEFAULT_LAYOUT,
        introspection_url: str | None = None,
    ) -> None:
        super().__init__(LOOPBACK, free_port(), user, password or secrets.token_urlsafe(12), layout)
        self.introspection_url = introspection_url
        self.workdir = workdir
        self._own_workdir = workdir is None
        self._dovecot = find_program("dovecot")
        self._doveadm = find_program("doveadm")
        self._master_pid: int | None = None
        self._account_count = 0

    @property
    def config_path(self) -> Path:
        return self._dir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self._dir / "dovecot.log"

    @property
    def master_pid(self) -> int | None:
        """Pid of the running Dovecot master process, None when stopped."""
        return self._master_pid

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ServerError("the Dovecot server has not been started")
        return self.workdir

    def start(self) -> None:
        """Write the config, start Dovecot (it daemonizes) and wait for its IMAP greeting."""
        if self._dovecot is None or self._doveadm is None:
            raise ServerError("dovecot/doveadm not found: install dovecot-imapd")
        if self._master_pid is not None:
            raise ServerError("the Dovecot server is already running")
        try:
            self._prepare_workdir()
            version = dovecot_version(self._dovecot)
            self.config_path.write_text(
                render_config(version, self._dir, self.port, self.layout, self.introspection_url)
            )
            self._write_account(self.user, self.password)
            self._launch(self._dovecot)
            self._master_pid = self._wait_ready()
        except BaseException:
            self._abandon_start()
            raise

    def stop(self) -> None:
        """Stop Dovecot with ``doveadm stop``, kill by pid if that fails, remove our workdir."""
        if self._master_pid is not None:
            self._stop_processes(self.process_ids())
            self._master_pid = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _stop_processes(self, pids: list[int]) -> None:
        command = [str(self._doveadm), "-c", str(self.config_path), "stop"]
        with contextlib.suppress(subprocess.TimeoutExpired):  # the kill below takes over
            subprocess.run(command, capture_output=True, timeout=30, check=False)
        if wait_gone(pids, STOP_TIMEOUT):
            return
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if not wait_gone(pids, STOP_TIMEOUT):
            raise ServerError(f"Dovecot processes {pids} survived SIGKILL")

    def process_ids(self) -> list[int]:
        """The master pid followed by its living children (auth, log, imap-login, imap, …)."""
        if self._master_pid is None:
            return []
        return [self._master_pid, *child_pids(self._master_pid)]

    def add_account(self, user: str | None = None, password: str | None = None) -> MailAccount:
        """Create another user with empty mailboxes (default: ``owner-N@`` the first user's domain).

        Works while Dovecot runs: every user has a passwd-file of its own, read on first
        login (a changed shared file would be noticed only in the next second).
        """
        if user is None:
            self._account_count += 1
            local, _, domain = self.user.partition("@")
            user = f"{local}-{self._account_count}@{domain}"
        password = password or secrets.token_urlsafe(12)
        self._write_account(user, password)
        return MailAccount(self.host, self.port, user, password, self.layout)

    def fill_inbox(self, account: MailAccount, mails: Iterable[bytes]) -> int:
        """Write ``mails`` straight into the account's Maildir INBOX (``cur``, read), as
        files of the dovecot user: thousands in a second, where IMAP APPEND takes
        minutes. Dovecot gives them UIDs at the next SELECT. Returns how many."""
        internal = pwd.getpwnam(INTERNAL_USER)
        home = self._dir / "mail" / account.user
        maildir = home / "Maildir"
        count = 0
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for count, raw in enumerate(mails, start=1):
            # Sizes in the name as Dovecot's own delivery writes them (S= on disk, W= with
            # CRLF line ends): without them Dovecot reads each file for RFC822.SIZE and
            # stores the size in its uidlist, a rewrite and a rescan no real Maildir costs.
            crlf = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
            name = f"{1_700_000_000 + count}.M{count}P{os.getpid()}.fill,S={len(raw)},W={crlf}:2,S"
            path = maildir / "cur" / name
            path.write_bytes(raw)
            os.chown(path, internal.pw_uid, internal.pw_gid)
        for directory in (home, maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))):
            os.chown(directory, internal.pw_uid, internal.pw_gid)
        return count

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of Dovecot's log file, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (FileNotFoundError, ServerError):
            return "(no log written)"

    def _prepare_workdir(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="nachfass-dovecot-", dir="/tmp"))
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o711)  # the dovecot user must pass through, not list
        for directory in (self.workdir, *self.workdir.parents):
            if not directory.stat().st_mode & 0o001:
                raise ServerError(f"{directory} is not traversable by the dovecot user")
        internal = pwd.getpwnam(INTERNAL_USER)
        mail_root = self.workdir / "mail"
        mail_root.mkdir(mode=0o700, exist_ok=True)
        os.chown(mail_root, internal.pw_uid, internal.pw_gid)
        passwd_dir = self.workdir / "passwd"
        passwd_dir.mkdir(mode=0o750, exist_ok=True)
        os.chown(passwd_dir, 0, internal.pw_gid)

    def _write_account(self, user: str, password: str) -> None:
        if ":" in user or ":" in password or "\n" in user + password:
            raise ValueError("user and password must not contain ':' or line breaks")
        if "/" in user or user.startswith(".") or user != user.lower():
            raise ValueError(f"unusable user name {user!r} (Dovecot lower-cases logins)")
        internal = pwd.getpwnam(INTERNAL_USER)
        home = self._dir / "mail" / user
        passwd_file = self._dir / "passwd" / user
        passwd_file.write_text(
            f"{user}:{{PLAIN}}{password}:{internal.pw_uid}:{internal.pw_gid}::{home}::\n"
        )
        passwd_file.chmod(0o640)
        os.chown(passwd_file, 0, internal.pw_gid)

    def _launch(self, dovecot: str) -> None:
        # The daemon inherits stdout/stderr: pipes would never reach EOF, so use a file.
        errors = self._dir / "startup.err"
        with errors.open("w+") as stderr:
            result = subprocess.run(
                [dovecot, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                timeout=30,
            )
        if result.returncode != 0:
            raise ServerError(
                f"dovecot exited with {result.returncode}: {errors.read_text().strip()}"
                f"\n--- {self.log_path} ---\n{self.log_tail()}"
            )

    def _wait_ready(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            pid = self._read_master_pid()
            if pid is not None and self._greets():
                return pid
            if time.monotonic() > deadline:
                raise ServerError(
                    f"Dovecot did not answer on {self.host}:{self.port} within "
                    f"{START_TIMEOUT:.0f} s\n--- {self.log_path} ---\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _read_master_pid(self) -> int | None:
        try:
            return int((self._dir / "run" / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def _abandon_start(self) -> None:
        """After a failed start: stop a master that did come up, then clean up."""
        if self.workdir is not None and self._master_pid is None:
            self._master_pid = self._read_master_pid()
        self.stop()


def render_config(
    version: tuple[int, int],
    workdir: Path,
    port: int,
    layout: Layout = DEFAULT_LAYOUT,
    introspection_url: str | None = None,
) -> str:
    """A complete dovecot.conf for ``version``; only auth and storage syntax differ.

    With ``introspection_url`` the server also takes OAuth2 bearer tokens (XOAUTH2 and
    OAUTHBEARER, RFC 7628) and asks that endpoint whether a token is valid and whose it
    is (RFC 7662 style: ``active`` and ``username``); passwords keep working."""
    if version >= (2, 4):
        header = _config_header_24(workdir) + _oauth2_24(introspection_url)
    else:
        header = _config_header_23(workdir, introspection_url)
    mechanisms = "plain login" + (" xoauth2 oauthbearer" if introspection_url else "")
    return header + _config_common(workdir, port, layout, mechanisms)


def _oauth2_settings(introspection_url: str) -> str:
    """The oauth2 database's settings, the same names in 2.3's args file and in 2.4's
    ``oauth2 { }`` filter: POST the token to the endpoint, the user is its ``username``,
    a token counts only while ``active`` is true."""
    return f"""\
introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


def _oauth2_24(introspection_url: str | None) -> str:
    """Dovecot 2.4: the mechanisms check tokens through the ``oauth2`` filter; no passdb
    (doc.dovecot.org, "Open Authentication v2.0 Database", changed in 2.4.0)."""
    if introspection_url is None:
        return ""
    settings = "".join(f"  {line}\n" for line in _oauth2_settings(introspection_url).splitlines())
    return f"oauth2 {{\n{settings}}}\n"


def _config_header_23(workdir: Path, introspection_url: str | None = None) -> str:
    """Dovecot 2.3 (Debian 12): one-letter variables, unnamed auth blocks, mail_location.

    OAuth2 is a passdb there (driver oauth2, its settings in an args file), used only by
    the token mechanisms; the passwd-file passdb then serves only PLAIN and LOGIN."""
    users = workdir / "passwd" / "%u"
    oauth_passdb, password_mechanisms = "", ""
    if introspection_url is not None:
        args_file = workdir / "dovecot-oauth2.conf.ext"
        args_file.write_text(_oauth2_settings(introspection_url))
        args_file.chmod(0o644)
        oauth_passdb = f"""\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args_file}
}}
"""
        password_mechanisms = "  mechanisms = plain login\n"
    return f"""\
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
{password_mechanisms}}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
"""


def _config_header_24(workdir: Path) -> str:
    """Dovecot 2.4 (Debian 13): version settings first, named auth blocks, mail_driver/path."""
    users = workdir / "passwd" / "%{user}"
    return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = %{{home}}/Maildir
passdb users {{
  driver = passwd-file
  passwd_file_path = {users}
}}
userdb users {{
  driver = passwd-file
  passwd_file_path = {users}
}}
"""


def _config_common(
    workdir: Path, port: int, layout: Layout = DEFAULT_LAYOUT, mechanisms: str = "plain login"
) -> str:
    """Settings whose syntax is the same in Dovecot 2.3 and 2.4.

    SPECIAL-USE is advertised by Dovecot itself once a mailbox has ``special_use`` set.
    The imaps listener gets port 0 (off) so no instance binds 993; pop3/lmtp are not in
    ``protocols`` and doveadm has no TCP listener by default. The namespace's
    ``separator``, ``prefix`` and ``mailbox`` blocks (names without the prefix, quoted)
    are the layout's; both generations take these short names inside the block.
    """
    mailboxes = "".join(
        _mailbox_block(name, role, special) for name, role, special in layout.folders
    )
    prefix = f"  prefix = {layout.prefix}\n" if layout.prefix else ""
    return f"""\
protocols = imap
listen = {LOOPBACK}
base_dir = {workdir / "run"}
state_dir = {workdir / "state"}
log_path = {workdir / "dovecot.log"}
ssl = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
default_login_user = {LOGIN_USER}
default_internal_user = {INTERNAL_USER}
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  separator = {layout.separator}
{prefix}{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _mailbox_block(name: str, role: str, special: bool) -> str:
    """One auto-created, subscribed mailbox; SPECIAL-USE only where the layout has it."""
    use = f"    special_use = \\{_SPECIAL_USE[role]}\n" if special else ""
    return f'  mailbox "{name}" {{\n{use}    auto = subscribe\n  }}\n'


@dataclass(frozen=True)
class CapturedMail:
    """One mail as the SMTP sink received it: envelope plus DATA bytes and their parse."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        object.__setattr__(self, "message", parsed)


SmtpStage = Literal["MAIL", "RCPT", "DATA"]


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that records mail and can answer scripted errors.

    Mail whose RCPT includes ``deliver_to.user`` is also appended to that account's INBOX
    before the sink answers 250; where the account's layout ``files_sent`` (Gmail,
    Microsoft 365), mail from that user is filed in its Sent folder as well. Without
    ``require_auth`` any AUTH PLAIN/LOGIN succeeds and none is needed; with
    ``require_auth=(user, password)`` only those credentials succeed and MAIL FROM
    before AUTH gets 530. No TLS: AUTH works over plain loopback.
    """

    def __init__(
        self,
        deliver_to: MailAccount | None = None,
        require_auth: tuple[str, str] | None = None,
        bearer: OAuthServer | None = None,
        bearer_mechanisms: Sequence[str] = ("XOAUTH2", "OAUTHBEARER"),
    ) -> None:
        self.deliver_to = deliver_to
        self.require_auth = require_auth
        # With ``bearer``, AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) check the token with
        # that server, as a provider's SMTP server does; only ``bearer_mechanisms`` are
        # offered. Without it neither is offered.
        self.bearer = bearer
        self.bearer_mechanisms = tuple(bearer_mechanisms) if bearer else ()
        self.auth_mechanisms: list[str] = []
        self.host = LOOPBACK
        self.port = free_port()
        self.messages: list[CapturedMail] = []
        self.auth_logins: list[str] = []
        # Called with each accepted mail before the "250" goes out (e.g. to kill the client
        # at the worst moment: the server has the mail, the client does not know it yet).
        self.on_accept: Callable[[CapturedMail], None] | None = None
        self._failures: dict[str, collections.deque[str]] = collections.defaultdict(
            collections.deque
        )
        self._stalls: dict[str, collections.deque[str | None]] = collections.defaultdict(
            collections.deque
        )
        self._released = threading.Event()
        self.stalled = threading.Event()  # set when a stalled command began to wait
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Start listening (aiosmtpd runs its event loop in a thread)."""
        self._controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp-sink.example.test",
            auth_require_tls=False,
            authenticator=self._authenticate,
            auth_exclude_mechanism=[
                m for m in ("XOAUTH2", "OAUTHBEARER") if m not in self.bearer_mechanisms
            ],
        )
        self._controller.start()

    def stop(self) -> None:
        self._released.set()  # a stalled handler answers, so the server can stop
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def fail_next(self, code: int, message: str, times: int = 1, stage: SmtpStage = "DATA") -> None:
        """Answer the next ``times`` commands of ``stage`` with ``code message``.

        At DATA (default) the mail is refused whole, e.g. ``fail_next(451, "4.3.0 busy")``
        then success; at RCPT one recipient is refused; at MAIL the sender.
        """
        with self._lock:
            self._failures[stage].extend([f"{code} {message}"] * times)

    def stall_next(self, stage: SmtpStage, recipient: str | None = None) -> None:
        """Keep the next command of ``stage`` (for mail to ``recipient``, if given)
        waiting for its answer until :meth:`release` or :meth:`stop` (at most
        ``STALL_LIMIT`` seconds), as a server does that hangs. At DATA the whole mail has
        arrived and is recorded (and delivered) before the stall: the server has it, the
        client hears nothing."""
        with self._lock:
            self._stalls[stage].append(recipient)

    def release(self) -> None:
        """Let every stalled command answer now (and later ones not stall)."""
        self._released.set()

    async def stall_if_asked(self, stage: SmtpStage, recipients: Sequence[str]) -> None:
        """Wait here if :meth:`stall_next` asked for it (see there)."""
        with self._lock:
            pending = self._stalls[stage]
            if not pending or pending[0] not in (None, *recipients):
                return
            pending.popleft()
        self.stalled.set()
        await asyncio.to_thread(self._released.wait, STALL_LIMIT)

    def take_failure(self, stage: SmtpStage) -> str | None:
        """The scripted reply for this ``stage`` command, if one is pending."""
        with self._lock:
            pending = self._failures[stage]
            return pending.popleft() if pending else None

    def record(self, mail: CapturedMail) -> None:
        with self._lock:
            self.messages.append(mail)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        if self.require_auth is None:
            ok = True
        else:
            user, password = self.require_auth
            ok = hmac.compare_digest(auth_data.login, user.encode()) and hmac.compare_digest(
                auth_data.password, password.encode()
            )
        if ok:
            with self._lock:
                self.auth_logins.append(login)
                self.auth_mechanisms.append(mechanism)
        return AuthResult(success=ok, handled=False)

    async def bearer_auth(self, server: Any, args: list[str]) -> AuthResult:
        """AUTH XOAUTH2 / OAUTHBEARER: the initial response names the user and carries
        the token; a refused token gets a 334 with a JSON error first (RFC 7628 §3.2.2),
        and the client's answer to it ends the exchange with 535."""
        mechanism = args[0].upper()
        if len(args) > 1:
            try:
                initial: Any = base64.b64decode(args[1], validate=True)
            except ValueError:
                return AuthResult(success=False, handled=False)
        else:
            initial = await server.challenge_auth("")
        user, token = _bearer_fields(initial if isinstance(initial, bytes) else b"")
        assert self.bearer is not None
        owner = self.bearer.owner_of(token)
        if owner is not None and owner == user.lower():
            with self._lock:
                self.auth_logins.append(user)
                self.auth_mechanisms.append(mechanism)
            return AuthResult(success=True, handled=False)
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(success=False, handled=False)


def _bearer_fields(initial: bytes) -> tuple[str, str]:
    """User and token from an XOAUTH2 or OAUTHBEARER initial response."""
    user = token = ""
    for part in initial.decode("utf-8", "replace").split("\x01"):
        if part.startswith("user="):
            user = part[5:]
        elif part.startswith("n,a="):
            user = part[4:].split(",", 1)[0].replace("=2C", ",").replace("=3D", "=")
        elif part.startswith("auth=Bearer "):
            token = part[len("auth=Bearer ") :]
    return user, token


def _delivered_copy(owner: MailAccount, mail: CapturedMail) -> bytes | None:
    """The copy the owner's INBOX gets, or None. Mail to a plus address of the owner
    (``anna+nachfass@…``, RFC 5233 subaddressing) is delivered too, with the envelope
    recipient in a ``Delivered-To`` field as Postfix and Dovecot's LMTP write it."""
    user = owner.user.lower()
    local, _, domain = user.rpartition("@")
    recipients = [r.lower() for r in mail.rcpt_tos]
    if user in recipients:
        return mail.raw
    for rcpt in recipients:
        rcpt_local, _, rcpt_domain = rcpt.rpartition("@")
        if rcpt_domain == domain and rcpt_local.startswith(local + "+"):
            return b"Delivered-To: " + rcpt.encode("ascii") + b"\r\n" + mail.raw
    return None


def _files_in_sent(owner: MailAccount, mail: CapturedMail) -> bool:
    """Whether the server files this submitted mail in the owner's Sent folder itself:
    Gmail and Microsoft 365 do so for every mail the account sends over SMTP."""
    return owner.layout.files_sent and mail.mail_from.lower() == owner.user.lower()


class _SinkHandler:
    """aiosmtpd hooks: scripted failures, auth enforcement, capture and INBOX delivery."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        return await self.sink.bearer_auth(server, args)

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        return await self.sink.bearer_auth(server, args)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self.sink.require_auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        failure = self.sink.take_failure("MAIL")
        if failure is not None:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        await self.sink.stall_if_asked("RCPT", [address])
        failure = self.sink.take_failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure = self.sink.take_failure("DATA")
        if failure is not None:
            return failure
        raw = envelope.original_content or envelope.content
        mail = CapturedMail(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(raw))
        owner = self.sink.deliver_to
        delivered = _delivered_copy(owner, mail) if owner is not None else None
        if owner is not None and delivered is not None:
            try:
                await asyncio.to_thread(owner.append, "INBOX", delivered)
            except Exception as exc:
                return f"451 4.3.0 delivery to the test IMAP server failed: {exc}"
        if owner is not None and _files_in_sent(owner, mail):
            try:
                await asyncio.to_thread(owner.append, owner.folder("sent"), mail.raw, [b"\\Seen"])
            except Exception as exc:
                return f"451 4.3.0 filing in Sent on the test IMAP server failed: {exc}"
        self.sink.record(mail)
        if self.sink.on_accept is not None:
            await asyncio.to_thread(self.sink.on_accept, mail)
        await self.sink.stall_if_asked("DATA", mail.rcpt_tos)
        return "250 OK"


@dataclass
class ProxiedConnection:
    """What a :class:`CuttingProxy` saw on one connection."""

    number: int
    from_client: bytearray = field(default_factory=bytearray)
    server_bytes: int = 0
    was_cut: bool = False


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that drops connections in the middle of a server answer.

    Forwards both ways between each client and ``target_host:target_port``. On the first
    ``cut_connections`` connections, once ``cut_after_bytes`` bytes went from the server to
    the client, both sockets are closed (the client sees the connection end mid-answer);
    later connections pass through. ``cut_after_bytes=None`` never cuts; :meth:`cut`
    drops every open connection on demand. ``connections`` records, per connection, what
    the client sent and how many bytes the server sent, for assertions.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        cut_after_bytes: int | None,
        cut_connections: int = 1,
    ) -> None:
        self.target = (target_host, target_port)
        self.cut_after_bytes = cut_after_bytes
        self.cut_connections = cut_connections
        self.host = LOOPBACK
        self.port = 0
        self.connections: list[ProxiedConnection] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> CuttingProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        """Close the listener and every connection, then wait for the threads."""
        if self._listener is not None:
            _close_quietly(self._listener)
            self._listener = None
        self.cut()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)

    def cut(self) -> None:
        """Drop every open connection now (both sides see the connection end)."""
        with self._lock:
            pairs, self._open = self._open, []
        for client, server in pairs:
            _close_quietly(client)
            _close_quietly(server)

    def client_data(self, number: int) -> bytes:
        """Everything the client sent on connection ``number`` (counted from 1)."""
        with self._lock:
            return bytes(self.connections[number - 1].from_client)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                client, _addr = listener.accept()
            except OSError:
                return  # listener closed by stop()
            try:
                server = socket.create_connection(self.target, timeout=START_TIMEOUT)
                server.settimeout(None)
            except OSError:
                _close_quietly(client)
                continue
            with self._lock:
                record = ProxiedConnection(number=len(self.connections) + 1)
                self.connections.append(record)
                self._open.append((client, server))
            limit = self.cut_after_bytes if record.number <= self.cut_connections else None
            self._spawn(self._pump_to_server, client, server, record)
            self._spawn(self._pump_to_client, server, client, record, limit)

    def _pump_to_server(
        self, client: socket.socket, server: socket.socket, record: ProxiedConnection
    ) -> None:
        while chunk := _receive(client):
            with self._lock:
                record.from_client.extend(chunk)
            if not _send(server, chunk):
                break
        _close_quietly(server)

    def _pump_to_client(
        self,
        server: socket.socket,
        client: socket.socket,
        record: ProxiedConnection,
        limit: int | None,
    ) -> None:
        while chunk := _receive(server):
            if limit is not None and record.server_bytes + len(chunk) >= limit:
                chunk = chunk[: limit - record.server_bytes]
                with self._lock:
                    record.server_bytes += len(chunk)
                    record.was_cut = True
                _send(client, chunk)
                break
            with self._lock:
                record.server_bytes += len(chunk)
            if not _send(client, chunk):
                break
        _close_quietly(client)
        _close_quietly(server)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class OAuthServer:
    """A tiny OAuth2 provider on 127.0.0.1 for the tests (http.server in a thread).

    ``/introspect`` answers Dovecot's introspection (RFC 7662 style, POST ``token=…``):
    ``{"active": true, "username": …}`` for a token it issued and did not revoke.
    ``/token`` serves the refresh grant (RFC 6749 §6) and the authorization code grant
    with PKCE (RFC 7636): a refused refresh token gets 400 ``invalid_grant``.
    ``/authorize`` redirects at once to ``redirect_uri`` with a code, as if the owner had
    signed in. ``requests`` records every form posted to ``/token``."""

    def __init__(self) -> None:
        self.host = LOOPBACK
        self._lock = threading.Lock()
        self._access: dict[str, str] = {}  # token -> user
        self._refresh: dict[str, str] = {}  # refresh token -> user
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (user, challenge)
        self.requests: list[dict[str, str]] = []
        self.introspections = 0
        self.expires_in = 3600
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> None:
        owner = self

        class Handler(_OAuthHandler):
            server_ref = owner

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def issue(self, user: str) -> str:
        """A new access token for ``user``."""
        token = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[token] = user.lower()
        return token

    def issue_refresh(self, user: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = user.lower()
        return token

    def revoke(self, token: str) -> None:
        """An access or refresh token no longer counts (the owner removed the app)."""
        with self._lock:
            self._access.pop(token, None)
            self._refresh.pop(token, None)

    def owner_of(self, token: str) -> str | None:
        with self._lock:
            return self._access.get(token)

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            self.introspections += 1
        user = self.owner_of(token)
        return {"active": True, "username": user} if user else {"active": False}

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(dict(form))
        kind = form.get("grant_type")
        if kind == "refresh_token":
            with self._lock:
                user = self._refresh.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "revoked"}
            return 200, self._tokens(user, refresh=False)
        if kind == "authorization_code":
            with self._lock:
                user, challenge = self._codes.pop(form.get("code", ""), ("", ""))
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if not user or digest.decode() != challenge:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(user, refresh=True)
        return 400, {"error": "unsupported_grant_type"}

    def authorize(self, query: dict[str, str]) -> str:
        code = "code-" + secrets.token_urlsafe(12)
        with self._lock:
            self._codes[code] = (query.get("login_hint", "").lower(), query["code_challenge"])
        params = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        return f"{query['redirect_uri']}?{params}"

    def _tokens(self, user: str, *, refresh: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "access_token": self.issue(user),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if refresh:
            answer["refresh_token"] = self.issue_refresh(user)
        return answer


class _OAuthHandler(BaseHTTPRequestHandler):
    server_ref: OAuthServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/introspect":
            self._json(200, self.server_ref.introspect(form.get("token", "")))
        elif path == "/token":
            self._json(*self.server_ref.grant(form))
        else:
            self._json(404, {"error": "not_found"})

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        if parts.path != "/authorize":
            self._json(404, {"error": "not_found"})
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.send_response(302)
        self.send_header("Location", self.server_ref.authorize(query))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

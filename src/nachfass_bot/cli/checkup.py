"""``nachfass-bot check``: log into IMAP and SMTP once and say in German what is wrong.

Each check yields :class:`Finding` lines: what was tried, what happened, and for a
problem how to fix it. The cause is told by the type of the underlying exception (wrong
password, TLS, unknown host, refused or silent port), never by its message text. Nothing
is sent: the SMTP check logs in and says QUIT. Passwords never appear in a finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum

import aiosmtplib
from imapclient.exceptions import CapabilityError

from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.mailbox import (
    PLAIN_NAMESPACE,
    FolderInfo,
    FolderSet,
    Mailbox,
    Namespace,
    choose_folders,
    find_all_mail,
)
from nachfass_bot.adapters.oauth import login_secret, token_cache_path
from nachfass_bot.adapters.smtp import oauth_login
from nachfass_bot.cli.service import toml_value
from nachfass_bot.config import Config, MailboxConfig, ServerConfig
from nachfass_bot.domain.interest import (
    BASE_RATE_SOURCE,
    BASE_RATES,
    base_rate_table_stale_since,
)
from nachfass_bot.domain.preferences import PaymentConfig
from nachfass_bot.errors import ConfigError, LoginFailed, MailboxError

CHECK_TIMEOUT = 20.0
_TLS_PORTS = {"imap": {"ssl": 993, "starttls": 143}, "smtp": {"ssl": 465, "starttls": 587}}


class _NoStartTls(Exception):
    """The SMTP server does not offer STARTTLS (RFC 3207) though the config asks for it."""


class Level(Enum):
    OK = "ok"
    WARNING = "warnung"
    ERROR = "fehler"


@dataclass(frozen=True)
class Finding:
    """One line of the check: ``title`` is what was checked, ``detail`` the outcome."""

    level: Level
    title: str
    detail: str
    fix: str | None = None


def run_checkup(
    config: Config,
    *,
    connect_imap: Callable[[ServerConfig, str], Mailbox] | None = None,
    timeout: float = CHECK_TIMEOUT,
    today: date | None = None,
) -> list[Finding]:
    """Check the IMAP login and folders, then the SMTP login, then whether the base-rate
    table is current (``today``: the day to judge it on, else the clock's); returns every
    finding."""
    connect = connect_imap or (lambda server, pw: ImapMailbox.connect(server, pw, timeout))
    cache = token_cache_path(config.store.path)

    def secret(server: ServerConfig) -> str:
        return login_secret(server, cache)

    findings = check_imap(config.imap, config.mailbox, connect, secret)
    findings.append(check_smtp(config.smtp, timeout, secret))
    stale = check_base_rate(config.preferences.payment, today or date.today())
    if stale is not None:
        findings.append(stale)
    return findings


def check_base_rate(payment: PaymentConfig, today: date) -> Finding | None:
    """A warning when the reminders state interest from a base-rate table that misses a
    published rate; None when interest is off, the config sets the rate, or all is well."""
    if not payment.interest or payment.base_rate is not None:
        return None
    since = base_rate_table_stale_since(today)
    if since is None:
        return None
    last = BASE_RATES[-1][0]
    return Finding(
        Level.WARNING,
        "Basiszinssatz",
        f"Die eingebaute Tabelle endet mit dem Satz vom {last:%d.%m.%Y}; seitdem ist ein "
        "neuer Satz erschienen. Die Zahlungserinnerungen nennen Verzugszinsen nach dem "
        "alten Satz.",
        f"den aktuellen Satz nachsehen ({BASE_RATE_SOURCE}) und in der Konfiguration unter "
        "[payment] als base_rate eintragen (z. B. base_rate = 1.27), oder nachfass-bot "
        "aktualisieren.",
    )


def check_imap(
    server: ServerConfig,
    box: MailboxConfig,
    connect: Callable[[ServerConfig, str], Mailbox],
    secret: Callable[[ServerConfig], str] = ServerConfig.password,
) -> list[Finding]:
    """Log in, list the folders and pick the watched ones as ``run`` will; ``secret``
    reads the password or OAuth2 token."""
    title = f"IMAP {server.host}:{server.port} ({server.security})"
    try:
        password = secret(server)
    except (ConfigError, MailboxError) as exc:
        return [Finding(Level.ERROR, title, str(exc), _password_fix(server))]
    try:
        mailbox = connect(server, password)
    except MailboxError as exc:
        return [_connect_problem(title, server, exc)]
    with contextlib.closing(mailbox):
        findings = [Finding(Level.OK, title, f"angemeldet als {server.username}")]
        try:
            listing = mailbox.list_folders()
            namespace = mailbox.namespace()
            folders = choose_folders(
                listing,
                junk_override=box.junk_folder,
                sent_override=box.sent_folder,
                extra=box.extra_folders,
                namespace=namespace,
            )
        except ConfigError as exc:
            fix = "Trage in [mailbox] einen der vorhandenen Ordnernamen ein (genau so geschrieben)."
            return [*findings, Finding(Level.ERROR, "Ordner", str(exc), fix)]
        except MailboxError as exc:
            return [*findings, Finding(Level.ERROR, "Ordner", str(exc))]
    return [*findings, *folder_findings(folders, listing, namespace)]


def folder_findings(
    folders: FolderSet, listing: Sequence[FolderInfo] = (), namespace: Namespace = PLAIN_NAMESPACE
) -> list[Finding]:
    """The watched folders in German, with a warning where one could not be found. The
    advice names folders of ``listing`` exactly as the server lists them, so that the
    value it suggests is one the bot accepts."""
    findings = [Finding(Level.OK, "Posteingang", f"„{folders.inbox}“ wird beobachtet")]
    if folders.junk:
        findings.append(
            Finding(Level.OK, "Spam-Ordner", f"„{folders.junk}“ wird auf Antworten geprüft")
        )
    else:
        findings.append(
            Finding(
                Level.WARNING,
                "Spam-Ordner",
                "nicht gefunden: eine Antwort im Spam würde übersehen",
                _folder_advice("junk_folder", folders, listing),
            )
        )
    if folders.sent:
        findings.append(
            Finding(
                Level.OK,
                "Gesendet",
                f"„{folders.sent}“: Deine eigenen Mails an Kunden starten die Frist neu",
            )
        )
    else:
        findings.append(
            Finding(
                Level.WARNING,
                "Gesendet",
                "nicht gefunden: Mails, die Du selbst schreibst, bemerkt der Bot nicht",
                _folder_advice("sent_folder", folders, listing),
            )
        )
    for name in folders.extra:
        findings.append(Finding(Level.OK, "Weiterer Ordner", f"„{name}“ wird beobachtet"))
    all_mail = find_all_mail(listing, namespace)
    if all_mail and all_mail not in folders.extra:
        findings.append(
            Finding(
                Level.OK,
                "Alle Nachrichten",
                f"„{all_mail}“ wird nicht beobachtet: eine Antwort, die Du archivierst, "
                "bevor der Bot sie liest, bemerkt er nicht",
                f"Wenn Du das willst: extra_folders = [{toml_value(all_mail)}] in [mailbox].",
            )
        )
    return findings


# Parts of a folder name that make it the likely junk or Sent folder, put first in advice.
_ADVICE_HINTS = {
    "junk_folder": ("spam", "junk", "unerw", "bulk"),
    "sent_folder": ("sent", "gesendet"),
}


def _folder_advice(key: str, folders: FolderSet, listing: Sequence[FolderInfo]) -> str:
    """Which ``[mailbox] key`` values would work: the server's own folder names (never
    one the bot would reject as missing)."""
    taken = {folders.inbox, folders.junk, folders.sent, *folders.extra}
    hints = _ADVICE_HINTS[key]
    candidates = sorted(
        (
            info.name
            for info in listing
            if info.name not in taken and "\\noselect" not in {f.lower() for f in info.flags}
        ),
        key=lambda name: not any(hint in name.casefold() for hint in hints),
    )
    if not candidates:
        return f"Lege den Ordner in Deinem Mailprogramm an und trage ihn in [mailbox] {key} ein."
    shown = ", ".join(toml_value(name) for name in candidates[:8])
    example = f"{key} = {toml_value(candidates[0])}"
    return (
        f"Trage ihn in [mailbox] ein, genau so geschrieben, z. B. {example} (vorhanden: {shown})."
    )


def check_smtp(
    server: ServerConfig,
    timeout: float = CHECK_TIMEOUT,
    secret: Callable[[ServerConfig], str] = ServerConfig.password,
) -> Finding:
    """Connect, log in (when a user name is set) and quit, without sending anything."""
    title = f"SMTP {server.host}:{server.port} ({server.security})"
    try:
        password = secret(server) if server.username else None
    except (ConfigError, MailboxError) as exc:
        return Finding(Level.ERROR, title, str(exc), _password_fix(server))
    try:
        asyncio.run(asyncio.wait_for(_smtp_login(server, password, timeout), timeout * 2))
    except aiosmtplib.SMTPAuthenticationError:
        return Finding(
            Level.ERROR,
            title,
            _refused_text(server),
            _login_fix(server),
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError, _NoStartTls) as exc:
        return _network_problem(title, server, exc, "SMTP")
    login = f"angemeldet als {server.username}" if password else "verbunden (ohne Anmeldung)"
    return Finding(Level.OK, title, f"{login}, nichts gesendet")


async def _smtp_login(server: ServerConfig, password: str | None, timeout: float) -> None:
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.security == "ssl",
        start_tls=False,  # below, so that a missing STARTTLS is told apart
        tls_context=ssl.create_default_context() if server.security != "none" else None,
        timeout=timeout,
    )
    await client.connect()
    try:
        if server.security == "starttls":
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise _NoStartTls
            await client.starttls()
        if password and server.auth == "oauth2":
            await oauth_login(client, server.username, password)
        elif password:
            await client.login(server.username, password)
    finally:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()


def _refused_text(server: ServerConfig) -> str:
    if server.auth == "oauth2":
        return "Anmeldung abgelehnt: das Zugangstoken (OAuth2) gilt nicht für dieses Konto."
    return "Anmeldung abgelehnt: Benutzername oder Passwort falsch."


def _connect_problem(title: str, server: ServerConfig, exc: MailboxError) -> Finding:
    if isinstance(exc, LoginFailed):
        return Finding(
            Level.ERROR,
            title,
            _refused_text(server),
            _login_fix(server),
        )
    return _network_problem(title, server, exc.__cause__ or exc, "IMAP")


def _network_problem(
    title: str, server: ServerConfig, exc: BaseException, protocol: str
) -> Finding:
    """Tell TLS, name, refused and silent-port problems apart by exception type."""
    cause = _root_cause(exc)
    section = protocol.lower()
    if isinstance(cause, _NoStartTls | CapabilityError) and server.security == "starttls":
        return Finding(
            Level.ERROR,
            title,
            f"{server.host}:{server.port} bietet kein STARTTLS an.",
            _tls_fix(server, section),
        )
    if isinstance(cause, ssl.SSLCertVerificationError):
        return Finding(
            Level.ERROR,
            title,
            f"Das TLS-Zertifikat passt nicht: {cause.verify_message}.",
            f"Nimm in [{section}] host den Servernamen aus der Anleitung Deines Anbieters "
            "(der Name muss im Zertifikat stehen).",
        )
    if isinstance(cause, ssl.SSLError):
        return Finding(
            Level.ERROR,
            title,
            f"Die TLS-Verbindung kam nicht zustande ({cause.reason or cause}).",
            _tls_fix(server, section),
        )
    if isinstance(cause, socket.gaierror):
        return Finding(
            Level.ERROR,
            title,
            f"Den Server „{server.host}“ gibt es nicht (Name nicht auflösbar).",
            f"Prüfe [{section}] host auf Tippfehler und ob der Rechner online ist.",
        )
    if isinstance(cause, ConnectionRefusedError):
        return Finding(
            Level.ERROR,
            title,
            f"{server.host} nimmt auf Port {server.port} keine Verbindung an.",
            _tls_fix(server, section),
        )
    if isinstance(cause, TimeoutError):
        return Finding(
            Level.ERROR,
            title,
            f"{server.host}:{server.port} antwortet nicht (Zeitüberschreitung).",
            "Prüfe Port und Firewall; manche Netze sperren Mail-Ports. "
            + _tls_fix(server, section),
        )
    return Finding(
        Level.ERROR, title, f"{protocol}-Verbindung gescheitert: {cause}", _tls_fix(server, section)
    )


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (library errors wrap the socket error)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _tls_fix(server: ServerConfig, section: str) -> str:
    ports = _TLS_PORTS[section]
    return (
        f'Passen Port und Verschlüsselung zusammen? Üblich sind security = "ssl" mit Port '
        f'{ports["ssl"]} oder "starttls" mit Port {ports["starttls"]} (eingestellt: '
        f'"{server.security}" mit Port {server.port}).'
    )


def _login_fix(server: ServerConfig) -> str:
    if server.auth == "oauth2":
        return (
            f"Prüfe den Benutzernamen „{server.username}“: das Token muss für genau dieses "
            "Konto gelten und IMAP und SMTP erlauben (Microsoft: IMAP.AccessAsUser.All und "
            "SMTP.Send; Google: https://mail.google.com/). Bei Microsoft 365 muss der "
            "Administrator SMTP AUTH für das Postfach erlauben."
        )
    source = (
        f"die Umgebungsvariable {server.password_env}"
        if server.password_env
        else "die Ausgabe von password_command"
    )
    return (
        f"Prüfe den Benutzernamen „{server.username}“ und {source}. Manche Anbieter "
        "(Gmail, Microsoft 365, GMX) verlangen ein App-Passwort oder müssen IMAP/SMTP erst "
        "freischalten."
    )


def _password_fix(server: ServerConfig) -> str:
    if server.auth == "oauth2" and server.oauth is None:
        return "Prüfe token_command: der Befehl muss das Zugangstoken in der ersten Zeile ausgeben."
    if server.auth == "oauth2":
        return "Führe „nachfass-bot auth login“ aus und melde Dich einmal an."
    if server.password_env:
        return (
            f"Setze die Variable vor dem Start, z. B. export {server.password_env}='…' "
            "(oder nutze password_command)."
        )
    return "Prüfe password_command: der Befehl muss das Passwort in der ersten Zeile ausgeben."

"""The TOML configuration: found, read and validated completely at start-up.

``load_config`` reads the file and ``parse_config`` checks every section at once. All
problems are collected and raised as one ``ConfigError`` whose German text lists each of
them, so the owner fixes the file in one go instead of one error per start. Unknown keys
are reported as likely typos with the closest known key.

Passwords never live in the file: each server names an environment variable
(``password_env``) or a command that prints the password (``password_command``), read
only when ``ServerConfig.password`` is called. No message ever contains a password.

With ``auth = "oauth2"`` a server signs in with an OAuth2 access token instead (RFC 7628,
XOAUTH2 or OAUTHBEARER): from ``token_command`` (oama, pizauth, mutt_oauth2.py print one;
run for every login, like ``password_command``) or from the built-in flow
(``oauth_provider``; ``nachfass-bot auth login``, :mod:`nachfass_bot.adapters.oauth`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nachfass_bot.domain.bankcsv import PRESETS, SPARKASSE_CAMT_V2, CsvMapping
from nachfass_bot.domain.calendar import (
    GERMAN_SUBDIVISIONS,
    SendingWindow,
    parse_days,
    parse_hours,
)
from nachfass_bot.domain.models import SentCopy, TrackingMode
from nachfass_bot.domain.preferences import Preferences, parse_preferences
from nachfass_bot.domain.tomlsection import Section
from nachfass_bot.errors import ConfigError

if TYPE_CHECKING:
    import subprocess

Security = Literal["ssl", "starttls", "none"]
AuthMethod = Literal["password", "oauth2"]
OAuthProvider = Literal["microsoft", "google"]
_T = TypeVar("_T")

_SECURITY_MODES: dict[str, Security] = {"ssl": "ssl", "starttls": "starttls", "none": "none"}
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
# Keys that would hold a password inline; refused with a pointer to the safe options.
_INLINE_PASSWORD_KEYS = ("password", "passwort", "passwd", "pass")
_PASSWORD_COMMAND_TIMEOUT = 30
_AUTH_METHODS: dict[str, AuthMethod] = {"password": "password", "oauth2": "oauth2"}
_OAUTH_PROVIDERS: dict[str, OAuthProvider] = {"microsoft": "microsoft", "google": "google"}
_PASSWORD_KEYS = ("password_env", "password_command")
_OAUTH_KEYS = (
    "token_command", "oauth_provider", "oauth_client_id", "oauth_client_secret_env",
    "oauth_tenant", "oauth_authorize_url", "oauth_token_url",
)  # fmt: skip
_TOP_LEVEL_KEYS = ("templates_dir",)


@dataclass(frozen=True)
class OwnerConfig:
    """The freelancer: drafts go to ``email``, mails end with ``signature``."""

    name: str
    email: str
    signature: str


@dataclass(frozen=True)
class OAuthClient:
    """The built-in OAuth2 sign-in (``oauth_provider``): which provider, which app.

    ``client_secret_env`` names an environment variable (Google's desktop clients have a
    secret; Microsoft's public clients none). ``authorize_url`` and ``token_url`` replace
    the provider's endpoints (other providers, the test suite)."""

    provider: OAuthProvider
    client_id: str
    client_secret_env: str | None = None
    tenant: str = "common"
    authorize_url: str | None = None
    token_url: str | None = None


@dataclass(frozen=True)
class ServerConfig:
    """How to reach the IMAP or SMTP server; the password is fetched only on demand.

    ``auth = "oauth2"``: the login takes an access token from ``token_command`` or the
    built-in flow (``oauth``) instead of a password."""

    host: str
    port: int
    security: Security
    username: str
    password_env: str | None
    password_command: str | None
    section: str = ""  # "imap" or "smtp": names the section in error messages
    auth: AuthMethod = "password"
    token_command: str | None = None
    oauth: OAuthClient | None = None

    def token(self) -> str:
        """An OAuth2 access token from ``token_command``: split with ``shlex``, run
        without a shell (timeout 30 s), the first line of its output, exactly as
        :meth:`password` runs ``password_command``. The token is never put in a message."""
        if self.token_command is None:
            raise ConfigError(f"{self._prefix()}token_command fehlt")
        return self._secret_from_command("token_command", self.token_command, "Zugangstoken")

    def password(self, env: Mapping[str, str] | None = None) -> str:
        """Return the password from ``$password_env`` or the output of ``password_command``.

        ``env`` defaults to ``os.environ``. The command is split with ``shlex`` and run
        without a shell (timeout 30 s); the first line of its output is the password
        (like ``pass show`` and msmtp's ``passwordeval``). Raises ConfigError with a German
        message naming the section; the message never contains the password.
        """
        if self.password_env is not None:
            return self._password_from_env(os.environ if env is None else env)
        if self.password_command is not None:
            return self._secret_from_command("password_command", self.password_command)
        raise ConfigError(f"{self._prefix()}password_env oder password_command fehlt")

    def _prefix(self) -> str:
        return f"[{self.section}] " if self.section else ""

    def _password_from_env(self, env: Mapping[str, str]) -> str:
        value = env.get(str(self.password_env), "")
        if not value:
            raise ConfigError(
                f"{self._prefix()}password_env: die Umgebungsvariable {self.password_env} "
                "ist nicht gesetzt oder leer"
            )
        return value

    def _secret_from_command(self, key: str, command: str, what: str = "Passwort") -> str:
        # Only the program name goes into messages, and library exceptions are not
        # chained (TimeoutExpired shows the whole command line): the command itself
        # might contain a secret (e.g. "printf geheim").
        label = f"{self._prefix()}{key}"
        try:
            args = shlex.split(command)
        except ValueError:
            raise ConfigError(
                f"{label} lässt sich nicht zerlegen (Anführungszeichen prüfen)"
            ) from None
        if not args:
            raise ConfigError(f"{label} ist leer")
        program = Path(args[0]).name
        import subprocess  # only for a password command: not at each command's start

        try:
            result = subprocess.run(
                args,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=_PASSWORD_COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"{label}: „{program}“ hat nach {_PASSWORD_COMMAND_TIMEOUT} Sekunden "
                f"kein {what} geliefert"
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"{label}: „{program}“ lässt sich nicht starten ({reason})") from None
        return _secret_from_output(label, program, result, what)


def _secret_from_output(
    label: str, program: str, result: subprocess.CompletedProcess[bytes], what: str
) -> str:
    """Check a finished password or token command and return the first line of its
    output (``what`` names it in the message)."""
    try:
        output = result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: die Ausgabe von „{program}“ ist kein UTF-8") from None
    if result.returncode != 0:
        detail = _last_line(result.stderr.decode("utf-8", "replace"), hide=output.strip())
        suffix = f": {detail}" if detail else ""
        raise ConfigError(
            f"{label}: „{program}“ ist mit Fehlercode {result.returncode} beendet{suffix}"
        )
    lines = output.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"{label}: „{program}“ hat kein {what} ausgegeben")
    return lines[0]


def _last_line(text: str, hide: str) -> str:
    """The last non-empty line of ``text``, shortened, with ``hide`` masked out."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1][:200]
    return line.replace(hide, "***") if hide else line


@dataclass(frozen=True)
class StoreConfig:
    """Where the SQLite store lives (absolute; relative paths are taken from the config)."""

    path: Path


@dataclass(frozen=True)
class SendingConfig:
    """When drafts may go out: weekdays (0 = Monday), daily hours, Bundesland holidays."""

    timezone: str
    days: frozenset[int]
    start: time
    end: time
    bundesland: str
    christmas_freeze: bool = True
    max_per_hour: int = 20  # client mails per hour at most

    def window(self) -> SendingWindow:
        """The sending window as a domain value."""
        return SendingWindow(
            timezone=self.timezone,
            days=self.days,
            start=self.start,
            end=self.end,
            bundesland=self.bundesland,
            christmas_freeze=self.christmas_freeze,
        )


@dataclass(frozen=True)
class MailboxConfig:
    """Folders to watch besides INBOX; ``None`` lets the IMAP adapter detect them."""

    junk_folder: str | None = None
    sent_folder: str | None = None
    extra_folders: tuple[str, ...] = ()
    poll_minutes: int = 5
    move_spam_replies: bool = False
    sent_copy: SentCopy = SentCopy.AUTO


@dataclass(frozen=True)
class TrackingConfig:
    """``[tracking]``: threads started from the Sent folder and from copies to the
    tracking address (docs/DESIGN.md, "Tracking from the Sent folder")."""

    sent: TrackingMode = TrackingMode.AUTO
    address: str | None = None  # None: <owner>+nachfass@<owner domain>
    max_recipients: int = 3

    def tracking_address(self, owner_email: str) -> str:
        if self.address:
            return self.address.strip().lower()
        local, _, domain = owner_email.strip().lower().rpartition("@")
        return f"{local}+nachfass@{domain}"


@dataclass(frozen=True)
class DigestConfig:
    """When the weekly digest goes out: weekday (0 = Monday) and local time."""

    day: int = 0
    at: time = time(8, 0)


@dataclass(frozen=True)
class BankConfig:
    """``[bank]``: the folder the cycle imports statements from (None: none) and how a
    CSV export is laid out (``[bank.csv]``: a preset or the columns)."""

    import_dir: Path | None = None
    csv: CsvMapping = SPARKASSE_CAMT_V2


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``path`` is the absolute path of the file."""

    path: Path
    owner: OwnerConfig
    imap: ServerConfig
    smtp: ServerConfig
    store: StoreConfig
    sending: SendingConfig
    mailbox: MailboxConfig
    templates_dir: Path | None = None
    preferences: Preferences = field(default_factory=Preferences, hash=False)
    digest: DigestConfig = field(default_factory=DigestConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    bank: BankConfig = field(default_factory=BankConfig)


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_CONFIG_HOME/nachfass-bot/config.toml``, else ``~/.config/…``.

    A relative ``XDG_CONFIG_HOME`` is ignored, as the XDG Base Directory spec demands.
    """
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        home = env.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    return base / "nachfass-bot" / "config.toml"


def resolve_config_path(cli_path: str | None, env: Mapping[str, str] | None = None) -> Path:
    """Pick the config file: ``--config``, else ``$NACHFASS_CONFIG``, else the default."""
    env = os.environ if env is None else env
    if cli_path:
        return Path(cli_path).expanduser()
    if env.get("NACHFASS_CONFIG"):
        return Path(env["NACHFASS_CONFIG"]).expanduser()
    return default_config_path(env)


def load_config(path: Path) -> Config:
    """Read and validate the TOML file at ``path``; raise one ConfigError for all problems."""
    path = path.expanduser().absolute()
    return parse_config(_read_toml(path), path)


def _read_toml(path: Path) -> dict[str, Any]:
    """Read the file as UTF-8 TOML, translating every failure into a German ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"Konfigurationsdatei nicht gefunden: {path} — lege sie mit "
            f"„cp config.example.toml {shlex.quote(str(path))}“ an (die Vorlage liegt im "
            "Projektordner) und trage deine Daten ein."
        ) from None
    except IsADirectoryError:
        raise _config_error(path, ["das ist ein Ordner, keine Datei"]) from None
    except PermissionError:
        raise _config_error(path, ["keine Leserechte für die Datei"]) from None
    except OSError as exc:
        raise _config_error(path, [f"Datei nicht lesbar ({exc.strerror})"]) from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _config_error(path, ["die Datei ist nicht als UTF-8 gespeichert"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise _config_error(path, [_describe_toml_error(exc)]) from None


# tomllib's English messages (by prefix) and what they usually mean, in German.
_TOML_HINTS = (
    ("Invalid value", "ungültiger Wert (Text in Anführungszeichen?)"),
    ("Expected '=' after a key", "„=“ nach dem Schlüssel erwartet"),
    ("Cannot overwrite a value", "Schlüssel oder Abschnitt doppelt"),
    ("Cannot declare", "Abschnitt doppelt"),
    ("Unterminated string", "Anführungszeichen nicht geschlossen"),
    ("Unclosed array", "Liste nicht mit „]“ geschlossen"),
    ("Expected ']'", "„]“ fehlt"),
    ("Invalid initial character for a key part", "ungültiges Zeichen am Anfang eines Schlüssels"),
)


def _describe_toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """German description of a TOML syntax error with line and column."""
    message = str(exc)
    match = _TOML_POSITION.search(message)
    where = f" in Zeile {match.group(1)}, Spalte {match.group(2)}" if match else ""
    hint = next((german for prefix, german in _TOML_HINTS if message.startswith(prefix)), "")
    return f"TOML-Syntaxfehler{where}" + (f": {hint}" if hint else "")


def _config_error(path: Path, problems: Sequence[str]) -> ConfigError:
    """One ConfigError: a single line for one problem, else a heading and one line each."""
    if len(problems) == 1:
        return ConfigError(f"Konfiguration {path}: {problems[0]}")
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return ConfigError(f"Die Konfiguration {path} ist fehlerhaft:\n{lines}")


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validate parsed TOML ``data`` read from ``path`` and build the Config.

    Relative paths in the file are taken relative to the directory of ``path``. Every
    problem is collected; if there is any, one ConfigError lists them all.
    """
    path = path.expanduser().absolute()
    problems: list[str] = []
    top = Section("", data, problems)
    sections = {
        name: Section(name, data.get(name), problems)
        for name in (
            "owner", "imap", "smtp", "store", "sending", "mailbox", "digest", "tracking", "bank",
        )
    }  # fmt: skip
    bank_csv = Section("bank.csv", sections["bank"].data.get("csv"), problems)
    sections["bank"].known.add("csv")
    owner = _parse_owner(sections["owner"])
    imap = _parse_server(sections["imap"], default_port=993, default_security="ssl")
    smtp = _parse_server(sections["smtp"], default_port=587, default_security="starttls")
    store = _parse_store(sections["store"], path.parent)
    sending = _parse_sending(sections["sending"])
    mailbox = _parse_mailbox(sections["mailbox"])
    digest = _parse_digest(sections["digest"])
    tracking = _parse_tracking(sections["tracking"])
    bank = _parse_bank(sections["bank"], bank_csv, path.parent)
    templates_dir = _optional_path(top, "templates_dir", path.parent)
    preferences, nested = parse_preferences(top, problems)
    _report_unknown_keys(top, [*sections.values(), bank_csv, *nested], problems)
    if problems:
        raise _config_error(path, problems)
    assert owner and imap and smtp and store and sending and mailbox and digest and tracking
    assert bank
    return Config(
        path=path,
        owner=owner,
        imap=imap,
        smtp=smtp,
        store=store,
        sending=sending,
        mailbox=mailbox,
        templates_dir=templates_dir,
        preferences=preferences,
        digest=digest,
        tracking=tracking,
        bank=bank,
    )


def _parse_owner(section: Section) -> OwnerConfig | None:
    name = section.text("name", required=True)
    email = section.text("email", required=True)
    signature = section.text("signature", required=True)
    if email is not None and not _EMAIL_PATTERN.match(email.strip()):
        section.problem("email", f"sieht nicht wie eine E-Mail-Adresse aus: „{email}“")
        email = None
    if name is None or email is None or signature is None:
        return None
    return OwnerConfig(name=name.strip(), email=email.strip(), signature=signature)


def _parse_server(
    section: Section, default_port: int, default_security: Security
) -> ServerConfig | None:
    host = section.text("host", required=True)
    port = section.integer("port", default_port, 1, 65535)
    security = _parse_security(section, default_security)
    username = section.text("username", required=True)
    auth = _parse_auth(section)
    if auth == "oauth2":
        password_source: tuple[str | None, str | None] | None = (None, None)
        token_source = _parse_token_source(section)
    else:
        password_source = _parse_password_source(section)
        token_source = (None, None)
        _refuse_keys(section, _OAUTH_KEYS, 'passt nur zu auth = "oauth2"')
    if host is not None and security == "none" and not _is_loopback(host):
        section.problem(
            "security",
            '= "none" ist nur für localhost erlaubt (sonst ginge das Passwort '
            'unverschlüsselt durchs Netz) — nimm "ssl" oder "starttls"',
        )
        security = None
    if host is None or port is None or security is None or username is None or auth is None:
        return None
    if password_source is None or token_source is None:
        return None
    return ServerConfig(
        host=host.strip(),
        port=port,
        security=security,
        username=username,
        password_env=password_source[0],
        password_command=password_source[1],
        section=section.name,
        auth=auth,
        token_command=token_source[0],
        oauth=token_source[1],
    )


def _parse_auth(section: Section) -> AuthMethod | None:
    return _parse_choice(
        section,
        "auth",
        "password",
        _AUTH_METHODS,
        'muss "password" (Passwort oder App-Passwort) oder "oauth2" (Anmeldung mit '
        "Zugangstoken, z. B. Microsoft 365 und Gmail) sein",
    )


def _parse_choice(
    section: Section, key: str, default: str, choices: Mapping[str, _T], rule: str
) -> _T | None:
    """One of ``choices`` (case and blanks ignored); else the ``rule`` as the problem."""
    value = section.text(key, default)
    if value is None:
        return None
    choice = choices.get(value.strip().lower())
    if choice is None:
        section.problem(key, f"{rule}, nicht „{value}“")
    return choice


def _refuse_keys(section: Section, keys: Sequence[str], why: str) -> None:
    """A problem for each of ``keys`` that is set (values are never echoed)."""
    for key in keys:
        if key in section.data:
            section.known.add(key)
            section.problem(key, why)


def _parse_token_source(section: Section) -> tuple[str | None, OAuthClient | None] | None:
    """``(token_command, oauth)`` for ``auth = "oauth2"``: exactly one of the two."""
    section.known.update(_OAUTH_KEYS)  # a conflict is reported once, not as unknown keys
    for key in _INLINE_PASSWORD_KEYS:
        section.forbid(key, "— Passwörter gehören nicht in die Datei")
    _refuse_keys(section, _PASSWORD_KEYS, 'passt nicht zu auth = "oauth2" (dort gilt ein Token)')
    command = section.text("token_command")
    provider = section.text("oauth_provider")
    if "token_command" in section.data and "oauth_provider" in section.data:
        section.problem("token_command", "und oauth_provider: bitte nur eins von beiden angeben")
        return None
    if command is not None:
        if not _splits(command):
            section.problem("token_command", "lässt sich nicht zerlegen (Anführungszeichen prüfen)")
            return None
        _refuse_keys(section, _OAUTH_KEYS[2:], "passt nur zu oauth_provider")
        return command, None
    if provider is None:
        if not section.broken and "token_command" not in section.data:
            section.problem(
                "token_command",
                'oder oauth_provider fehlt: bei auth = "oauth2" liefert ein Befehl das '
                'Token (z. B. "oama access anna@example.com") oder der Bot meldet sich '
                'selbst an (oauth_provider = "microsoft" oder "google")',
            )
        return None
    client = _parse_oauth_client(section, provider)
    return None if client is None else (None, client)


def _parse_oauth_client(section: Section, provider_text: str) -> OAuthClient | None:
    provider = _OAUTH_PROVIDERS.get(provider_text.strip().lower())
    client_id = section.text("oauth_client_id", required=True)
    secret_env = section.text("oauth_client_secret_env")
    tenant = section.text("oauth_tenant", "common")
    authorize_url = section.text("oauth_authorize_url")
    token_url = section.text("oauth_token_url")
    if provider is None:
        section.problem(
            "oauth_provider", f'muss "microsoft" oder "google" sein, nicht „{provider_text}“'
        )
    if secret_env is not None and not _ENV_NAME_PATTERN.match(secret_env):
        section.problem(
            "oauth_client_secret_env",
            "muss der Name einer Umgebungsvariable sein, z. B. NACHFASS_OAUTH_SECRET",
        )
        return None
    for key, url in (("oauth_authorize_url", authorize_url), ("oauth_token_url", token_url)):
        if url is not None and not _is_safe_url(url):
            section.problem(key, "muss mit https:// beginnen (http:// nur für localhost)")
            return None
    if provider is None or client_id is None or tenant is None:
        return None
    return OAuthClient(
        provider=provider,
        client_id=client_id.strip(),
        client_secret_env=secret_env,
        tenant=tenant.strip(),
        authorize_url=authorize_url,
        token_url=token_url,
    )


def _is_safe_url(url: str) -> bool:
    """https, or http to a loopback host: a token must never travel in clear text."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and _is_loopback(host)


def _parse_security(section: Section, default: Security) -> Security | None:
    return _parse_choice(
        section,
        "security",
        default,
        _SECURITY_MODES,
        'muss "ssl" (meist Port 993/465), "starttls" (meist Port 587/143) oder "none" sein',
    )


def _parse_password_source(section: Section) -> tuple[str | None, str | None] | None:
    """``(password_env, password_command)`` with exactly one set; None when invalid.

    Values are never echoed: a user may have put the password itself into either key.
    """
    for key in _INLINE_PASSWORD_KEYS:
        section.forbid(
            key,
            "— Passwörter gehören nicht in die Datei: nutze password_env "
            "(Umgebungsvariable) oder password_command (Befehl, der es ausgibt)",
        )
    has_env, has_command = "password_env" in section.data, "password_command" in section.data
    env_name = section.text("password_env")
    command = section.text("password_command")
    if has_env and has_command:
        section.problem("password_env", "und password_command: bitte nur eins von beiden angeben")
        return None
    if not has_env and not has_command:
        if not section.broken:
            section.problem("password_env", "oder password_command fehlt (eins von beiden)")
        return None
    if env_name is not None and not _ENV_NAME_PATTERN.match(env_name):
        section.problem(
            "password_env", "muss der Name einer Umgebungsvariable sein, z. B. NACHFASS_PASSWORT"
        )
        return None
    if command is not None and not _splits(command):
        section.problem("password_command", "lässt sich nicht zerlegen (Anführungszeichen prüfen)")
        return None
    if env_name is None and command is None:
        return None
    return env_name, command


def _splits(command: str) -> bool:
    try:
        return bool(shlex.split(command))
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (no DNS lookup)."""
    name = host.strip().rstrip(".").lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _parse_store(section: Section, base: Path) -> StoreConfig | None:
    path = _optional_path(section, "path", base, default="nachfass.db")
    if path is None:
        return None
    problem = _store_path_problem(path)
    if problem:
        section.problem("path", problem)
        return None
    return StoreConfig(path=path)


def _store_path_problem(path: Path) -> str | None:
    """Why a store path can never work (a folder, or a path below a file), or None.

    Only what exists is looked at (``os.path`` never raises); rights are the store's
    business when it opens the file."""
    if os.path.isdir(path):
        return f"ist ein Ordner ({path}): bitte einen Dateinamen angeben, z. B. {path}/nachfass.db"
    for parent in path.parents:
        if os.path.exists(parent):
            if os.path.isdir(parent):
                return None
            return (
                f"liegt unter {parent}, und das ist eine Datei, kein Ordner: bitte einen "
                "Pfad in einem Ordner angeben, z. B. ~/.local/share/nachfass-bot/nachfass.db"
            )
    return None


def _optional_path(
    section: Section, key: str, base: Path, default: str | None = None
) -> Path | None:
    """A path from ``key`` (``~`` expanded), relative ones taken from ``base``."""
    text = section.text(key, default)
    return None if text is None else base / Path(text.strip()).expanduser()


def _parse_sending(section: Section) -> SendingConfig | None:
    timezone = _parse_timezone(section)
    days = _parse_with(section, "days", "mon-fri", parse_days)
    hours = _parse_with(section, "hours", "09:00-17:00", parse_hours)
    bundesland = _parse_bundesland(section)
    christmas_freeze = section.boolean("christmas_freeze", True)
    max_per_hour = section.integer("max_per_hour", 20, 1, 500)
    if (
        timezone is None
        or days is None
        or hours is None
        or bundesland is None
        or christmas_freeze is None
        or max_per_hour is None
    ):
        return None
    return SendingConfig(
        timezone=timezone,
        days=days,
        start=hours[0],
        end=hours[1],
        bundesland=bundesland,
        christmas_freeze=christmas_freeze,
        max_per_hour=max_per_hour,
    )


def _parse_timezone(section: Section) -> str | None:
    name = section.text("timezone", "Europe/Berlin")
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        section.problem("timezone", f"„{name}“ ist keine bekannte Zeitzone (z. B. Europe/Berlin)")
        return None
    return name


def _parse_with(section: Section, key: str, default: str, parse: Callable[[str], _T]) -> _T | None:
    """Parse ``key`` with a calendar parser, whose ValueError text is already German."""
    text = section.text(key, default)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        section.problem(key, f"ist ungültig: {exc}")
        return None


def _parse_bundesland(section: Section) -> str | None:
    code = section.text("bundesland", "NW")
    if code is None:
        return None
    if code.strip().upper() not in GERMAN_SUBDIVISIONS:
        known = " ".join(sorted(GERMAN_SUBDIVISIONS))
        section.problem("bundesland", f"„{code}“ ist kein Bundesland-Kürzel (erlaubt: {known})")
        return None
    return code.strip().upper()


def _parse_mailbox(section: Section) -> MailboxConfig | None:
    junk_folder = section.text("junk_folder")
    sent_folder = section.text("sent_folder")
    extra_folders = section.text_list("extra_folders")
    poll_minutes = section.integer("poll_minutes", 5, 1, 24 * 60)
    move_spam_replies = section.boolean("move_spam_replies", False)
    sent_copy = _parse_sent_copy(section)
    invalid = any(
        key in section.data and value is None
        for key, value in (("junk_folder", junk_folder), ("sent_folder", sent_folder))
    )
    if invalid or extra_folders is None or poll_minutes is None or move_spam_replies is None:
        return None
    if sent_copy is None:
        return None
    return MailboxConfig(
        junk_folder=junk_folder,
        sent_folder=sent_folder,
        extra_folders=extra_folders,
        poll_minutes=poll_minutes,
        move_spam_replies=move_spam_replies,
        sent_copy=sent_copy,
    )


def _parse_sent_copy(section: Section) -> SentCopy | None:
    """``sent_copy`` = auto | server | bot (docs/DESIGN.md, "Exactly-once sending")."""
    text = section.text("sent_copy", "auto")
    if text is None:
        return None
    try:
        return SentCopy(text.strip().lower())
    except ValueError:
        section.problem(
            "sent_copy",
            'muss "auto" (der Bot legt eine Kopie in Gesendet ab, wenn der Anbieter es '
            'nicht tut), "server" (der Anbieter legt sie selbst ab) oder "bot" (der '
            f"Anbieter tut es nie, der Bot legt sie gleich ab) sein, nicht „{text}“",
        )
        return None


def _parse_tracking(section: Section) -> TrackingConfig | None:
    """``[tracking]``: ``sent`` = auto | ask | off, an optional ``address`` for providers
    without plus-addressing, ``max_recipients`` (1–50)."""
    mode_text = section.text("sent", "auto")
    address = section.text("address")
    max_recipients = section.integer("max_recipients", 3, 1, 50)
    mode = None
    if mode_text is not None:
        try:
            mode = TrackingMode(mode_text.strip().lower())
        except ValueError:
            section.problem(
                "sent",
                'muss "auto" (gleich aufnehmen), "ask" (erst nach Deinem „ok“) oder "off" '
                f"sein, nicht „{mode_text}“",
            )
    if address is not None and not _EMAIL_PATTERN.match(address.strip()):
        section.problem("address", f"sieht nicht wie eine E-Mail-Adresse aus: „{address}“")
        return None
    if mode is None or max_recipients is None:
        return None
    return TrackingConfig(sent=mode, address=address, max_recipients=max_recipients)


_CSV_COLUMNS = ("booked", "amount", "payer", "purpose")
_CSV_OPTIONAL = ("value_date", "iban", "currency", "reference", "end_to_end")
_CSV_ENCODINGS = ("cp1252", "utf-8", "utf-8-sig")


def _parse_bank(section: Section, csv_section: Section, base: Path) -> BankConfig | None:
    """``[bank]``: ``import_dir`` (``~`` expanded, relative to the config file);
    ``[bank.csv]``: ``preset`` (e.g. "sparkasse-csv-camt-v2") or the columns."""
    import_dir = _optional_path(section, "import_dir", base)
    if import_dir is not None and import_dir.exists() and not import_dir.is_dir():
        section.problem("import_dir", f"ist kein Ordner: {import_dir}")
        return None
    mapping = _parse_bank_csv(csv_section)
    if mapping is None:
        return None
    return BankConfig(import_dir=import_dir, csv=mapping)


def _parse_bank_csv(section: Section) -> CsvMapping | None:
    preset = section.text("preset")
    named = {key: section.text(key) for key in (*_CSV_COLUMNS, *_CSV_OPTIONAL)}
    delimiter = section.text("delimiter", ";")
    decimal_comma = section.boolean("decimal_comma", True)
    encoding = section.text("encoding", "cp1252")
    date_format = section.text("date_format", "%d.%m.%Y")
    given = [key for key, value in named.items() if value is not None]
    if preset is not None:
        if preset.strip().lower() not in PRESETS:
            known = ", ".join(f'"{name}"' for name in PRESETS)
            section.problem("preset", f"„{preset}“ ist keine bekannte Vorlage (bekannt: {known})")
            return None
        if given:
            section.problem(given[0], "passt nicht zu preset: entweder eine Vorlage oder Spalten")
            return None
        return PRESETS[preset.strip().lower()]
    if not given and not section.data:
        return SPARKASSE_CAMT_V2
    missing = [key for key in _CSV_COLUMNS if named[key] is None]
    for key in missing:
        section.problem(key, "fehlt: ohne preset braucht es die Spalten booked, amount, payer "
                        "und purpose")  # fmt: skip
    if encoding is not None and encoding.strip().lower() not in _CSV_ENCODINGS:
        section.problem("encoding", f"muss {', '.join(_CSV_ENCODINGS)} sein, nicht „{encoding}“")
        return None
    if delimiter is not None and len(delimiter) != 1:
        section.problem("delimiter", f'muss genau ein Zeichen sein, z. B. ";", nicht „{delimiter}“')
        return None
    if missing or None in (delimiter, decimal_comma, encoding, date_format):
        return None
    assert delimiter and encoding and date_format and decimal_comma is not None
    return CsvMapping(
        booked=str(named["booked"]), amount=str(named["amount"]), payer=str(named["payer"]),
        purpose=str(named["purpose"]), value_date=named["value_date"], iban=named["iban"],
        currency=named["currency"], reference=named["reference"],
        end_to_end=named["end_to_end"], delimiter=delimiter, decimal_comma=decimal_comma,
        encoding=encoding.strip().lower(), date_format=date_format,
    )  # fmt: skip


_CLOCK_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _parse_digest(section: Section) -> DigestConfig | None:
    """``[digest]``: one weekday (``"mo"`` … ``"so"``) and a local time ``"08:00"``."""
    day = _parse_with(section, "day", "mo", parse_days)
    if day is not None and len(day) != 1:
        section.problem("day", 'muss genau ein Wochentag sein, z. B. "mo"')
        day = None
    text = section.text("time", "08:00")
    moment = _clock_time(text) if text is not None else None
    if text is not None and moment is None:
        section.problem("time", f'muss eine Uhrzeit wie "08:00" sein, nicht „{text}“')
    if day is None or moment is None:
        return None
    return DigestConfig(day=next(iter(day)), at=moment)


def _clock_time(text: str) -> time | None:
    match = _CLOCK_TIME.match(text)
    if match is None:
        return None
    try:
        return time(int(match.group(1)), int(match.group(2)))
    except ValueError:
        return None


def _report_unknown_keys(top: Section, sections: list[Section], problems: list[str]) -> None:
    """Report every key no reader asked for, with the closest known key as a hint."""
    top.known.update(section.name for section in sections)
    for key, value in top.data.items():
        if key not in top.known:
            problems.append(_unknown_top_level(key, value, sorted(top.known)))
    for section in sections:
        for key in section.data:
            if key not in section.known:
                problems.append(_unknown_key(section, key, [top, *sections]))


def _unknown_top_level(key: str, value: object, known: list[str]) -> str:
    guess = _closest(key, known)
    if isinstance(value, Mapping):
        hint = f" Meintest du [{guess}]?" if guess else ""
        return f"unbekannter Abschnitt [{key}] — Tippfehler?{hint}"
    hint = f" Meintest du „{guess}“?" if guess else ""
    return f"unbekannter Schlüssel {key} — Tippfehler?{hint}"


def _unknown_key(section: Section, key: str, all_sections: list[Section]) -> str:
    """Typo hint from the same section, else the section(s) where the key belongs."""
    text = f"unbekannter Schlüssel {section.label(key)} — Tippfehler?"
    guess = _closest(key, sorted(section.known.difference(_INLINE_PASSWORD_KEYS)))
    if guess:
        return f"{text} Meintest du „{guess}“?"
    homes = [other for other in all_sections if key in other.known and other is not section]
    if any(not other.name for other in homes):
        return f"{text} „{key}“ gehört vor den ersten Abschnitt, ganz oben in die Datei."
    if homes:
        names = " oder ".join(f"[{other.name}]" for other in homes)
        return f"{text} „{key}“ gehört in {names}."
    return text


def _closest(word: str, candidates: list[str]) -> str | None:
    import difflib  # only for a mistyped key: not at each command's start

    matches = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None

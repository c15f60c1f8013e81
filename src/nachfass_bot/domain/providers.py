"""What the bot needs to know about the mail providers German freelancers use.

``nachfass-bot init --provider NAME`` (or ``init`` guessing from the owner's address)
writes these values into the new config file; nothing reads them at run time. Each
preset names where its facts come from: a provider help page found while writing it, or
``MAILFACTS.md`` (the project's collected protocol facts). Where a value is our best
knowledge but was not checked against a provider page, the source says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Auth = Literal["password", "app-password", "oauth2"]
Security = Literal["ssl", "starttls"]


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: Security


@dataclass(frozen=True)
class Preset:
    """One provider: servers, folder hints and what the owner must do first."""

    key: str  # what ``--provider`` takes
    name: str  # how the provider calls itself
    domains: tuple[str, ...]  # mail domains that identify it (none for own domains)
    imap: Server
    smtp: Server
    auth: Auth
    plus_addressing: bool  # name+tag@domain reaches name@domain
    files_sent: bool  # the provider files mail sent over SMTP in Sent itself
    # Folder names as the provider's IMAP lists them (hints: the bot finds them itself);
    # None where SPECIAL-USE names them.
    junk_folder: str | None = None
    sent_folder: str | None = None
    needs: str = ""  # German: what the owner must switch on or create first
    source: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset(
        key="gmx",
        name="GMX",
        domains=("gmx.de", "gmx.net", "gmx.at", "gmx.ch"),
        imap=Server("imap.gmx.net", 993, "ssl"),
        smtp=Server("mail.gmx.net", 587, "starttls"),
        auth="password",
        plus_addressing=False,  # MAILFACTS.md
        files_sent=False,
        junk_folder="Spamverdacht",  # MAILFACTS.md
        sent_folder="Gesendet",
        needs="POP3/IMAP-Abruf in den GMX-Einstellungen einschalten",
        source="support.gmx.com (POP, IMAP, SMTP); hosts from GMX's help, not re-checked here",
    ),
    Preset(
        key="webde",
        name="WEB.DE",
        domains=("web.de",),
        imap=Server("imap.web.de", 993, "ssl"),
        smtp=Server("smtp.web.de", 587, "starttls"),
        auth="password",
        plus_addressing=False,  # MAILFACTS.md
        files_sent=False,
        junk_folder="Spamverdacht",  # MAILFACTS.md
        sent_folder="Gesendet",
        needs="POP3/IMAP-Abruf in den WEB.DE-Einstellungen einschalten",
        source="hilfe.web.de (IMAP); hosts from WEB.DE's help, not re-checked here",
    ),
    Preset(
        key="telekom",
        name="T-Online (Telekom)",
        domains=("t-online.de", "magenta.de"),
        imap=Server("secureimap.t-online.de", 993, "ssl"),
        smtp=Server("securesmtp.t-online.de", 465, "ssl"),
        auth="app-password",
        plus_addressing=False,  # MAILFACTS.md
        files_sent=False,
        needs="im Telekom-Kundencenter ein eigenes E-Mail-Passwort festlegen",
        source="teltarif.de/internet/e-mail/t-online-unverschluesselt.html",
    ),
    Preset(
        key="ionos",
        name="IONOS (1&1)",
        domains=("online.de", "onlinehome.de"),
        imap=Server("imap.ionos.de", 993, "ssl"),
        smtp=Server("smtp.ionos.de", 587, "starttls"),
        auth="password",
        plus_addressing=False,  # not documented by IONOS: a separate address is safer
        files_sent=False,
        sent_folder="Gesendete Objekte",
        source="ionos.de/hilfe (Posteingangs-/Postausgangsserver), ionos.fr pages",
    ),
    Preset(
        key="strato",
        name="STRATO",
        domains=(),
        imap=Server("imap.strato.de", 993, "ssl"),
        smtp=Server("smtp.strato.de", 465, "ssl"),
        auth="password",
        plus_addressing=False,  # not documented by STRATO: a separate address is safer
        files_sent=False,
        source="strato.de/faq (Die STRATO E-Mail-Server); ports not re-checked here",
    ),
    Preset(
        key="gmail",
        name="Gmail / Google Workspace",
        domains=("gmail.com", "googlemail.com"),
        imap=Server("imap.gmail.com", 993, "ssl"),
        smtp=Server("smtp.gmail.com", 587, "starttls"),
        auth="app-password",
        plus_addressing=True,  # MAILFACTS.md
        files_sent=True,  # MAILFACTS.md
        needs="Bestätigung in zwei Schritten und ein App-Passwort, oder OAuth2 (README)",
        source="MAILFACTS.md; hosts from Google's IMAP help, not re-checked here",
    ),
    Preset(
        key="microsoft",
        name="Outlook.com / Microsoft 365",
        domains=("outlook.com", "outlook.de", "hotmail.com", "hotmail.de", "live.com", "live.de"),
        imap=Server("outlook.office365.com", 993, "ssl"),
        smtp=Server("smtp.office365.com", 587, "starttls"),
        auth="oauth2",
        plus_addressing=True,  # MAILFACTS.md
        files_sent=True,  # MAILFACTS.md
        junk_folder="Junk-E-Mail",  # MAILFACTS.md; no SPECIAL-USE
        sent_folder="Gesendete Elemente",  # MAILFACTS.md
        needs=(
            "OAuth2: Microsoft nimmt keine Passwörter mehr an — ein Programm wie oama oder "
            "pizauth für token_command, oder eine eigene App-Registrierung für "
            "„nachfass-bot auth login“ (README)"
        ),
        source="MAILFACTS.md; hosts from Microsoft's IMAP/SMTP help, not re-checked here",
    ),
    Preset(
        key="icloud",
        name="iCloud",
        domains=("icloud.com", "me.com", "mac.com"),
        imap=Server("imap.mail.me.com", 993, "ssl"),
        smtp=Server("smtp.mail.me.com", 587, "starttls"),
        auth="app-password",
        plus_addressing=False,  # not documented by Apple: a separate address is safer
        files_sent=True,  # MAILFACTS.md
        sent_folder="Sent Messages",
        needs="ein app-spezifisches Passwort unter appleid.apple.com",
        source="support.apple.com/102525 via clean.email, postbox-inc.com, sowebmail.com",
    ),
    Preset(
        key="posteo",
        name="Posteo",
        domains=("posteo.de", "posteo.net", "posteo.at", "posteo.ch", "posteo.eu"),
        imap=Server("posteo.de", 993, "ssl"),
        smtp=Server("posteo.de", 587, "starttls"),
        auth="password",
        plus_addressing=True,  # MAILFACTS.md
        files_sent=False,
        source="posteo.de/hilfe (Einstellungen für E-Mail-Programme); not re-checked here",
    ),
    Preset(
        key="mailboxorg",
        name="mailbox.org",
        domains=("mailbox.org",),
        imap=Server("imap.mailbox.org", 993, "ssl"),
        smtp=Server("smtp.mailbox.org", 465, "ssl"),
        auth="password",
        plus_addressing=True,  # MAILFACTS.md
        files_sent=False,
        needs="mit Zwei-Faktor-Anmeldung: ein Anwendungspasswort",
        source="kb.mailbox.org/en/private/e-mail/e-mail-configuration",
    ),
)

_BY_KEY = {preset.key: preset for preset in PRESETS}
# Other spellings the owner may type after --provider.
_ALIASES = {
    "web.de": "webde",
    "web": "webde",
    "t-online": "telekom",
    "tonline": "telekom",
    "1und1": "ionos",
    "1&1": "ionos",
    "google": "gmail",
    "workspace": "gmail",
    "outlook": "microsoft",
    "office365": "microsoft",
    "m365": "microsoft",
    "hotmail": "microsoft",
    "apple": "icloud",
    "mailbox.org": "mailboxorg",
    "mailbox": "mailboxorg",
}


def preset_named(name: str) -> Preset | None:
    """The preset for ``--provider NAME`` (case and common spellings ignored)."""
    key = name.strip().lower()
    return _BY_KEY.get(_ALIASES.get(key, key))


def preset_for_address(address: str) -> Preset | None:
    """The preset whose mail domain the address has; None for an own domain."""
    domain = address.strip().lower().rpartition("@")[2]
    return next((preset for preset in PRESETS if domain in preset.domains), None)

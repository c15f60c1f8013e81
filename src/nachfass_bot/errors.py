"""The one exception hierarchy of nachfass-bot.

    NachfassError            base; str(exc) is a German sentence for the owner
    ├── ConfigError          the TOML config is missing, broken or incomplete
    ├── StoreError           the SQLite store cannot be opened or migrated
    ├── StateError           a state change the state machine does not allow
    ├── MailboxError         IMAP / Maildir access failed (login, folder, fetch)
    │   └── LoginFailed      the server refused the login: retrying will not help
    ├── DeliveryError        SMTP sending failed (``permanent`` tells 5xx from 4xx)
    ├── TemplateError        a mail template is missing or broken
    ├── UnknownThread        no thread has the number the owner gave
    ├── UnknownTask          no open task has the number the owner gave
    ├── NotAnInvoice         the owner's word fits only an invoice ("paid")
    ├── IncompleteInvoice    a new invoice lacks number, amount or due date
    ├── BankFileError        a bank statement file that cannot be read (file, line/element)
    └── InvalidInput         something a person typed is refused at the door
        ├── InvalidAmount    not an amount of money in a form we read without guessing
        ├── InvalidAddress   not exactly one plain mail address
        ├── DateOutOfRange   a date outside the window the bot accepts
        ├── InvalidField     one value of a new thread, named by its field
        └── ImportRefused    an import file with bad rows: nothing of it is stored

Adapters translate library exceptions into these at the boundary (``raise ... from exc``);
the domain and the engine never see ``imaplib``, ``smtplib`` or ``sqlite3`` errors.
"""

from __future__ import annotations


class NachfassError(Exception):
    """Base class; the message is German and safe to show to the owner."""


class ConfigError(NachfassError):
    """The configuration cannot be used."""


class StoreError(NachfassError):
    """The embedded SQLite store failed."""


class StateError(NachfassError):
    """A state change that the state machine does not allow (a bug, never user input)."""


class MailboxError(NachfassError):
    """Reading or writing the mailbox failed."""


class LoginFailed(MailboxError):
    """The server refused user name or password.

    Not retried: the same credentials fail again, and repeated failed logins can get the
    account locked at the provider.
    """


class DeliveryError(NachfassError):
    """Sending a mail failed.

    ``permanent``: the server refused with 5xx, retrying will not help.
    ``uncertain``: the connection broke after the mail may have been accepted, so a
    retry could deliver it twice.
    """

    def __init__(self, message: str, *, permanent: bool = False, uncertain: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.uncertain = uncertain


class TemplateError(NachfassError):
    """A mail template is missing or cannot be rendered."""


class UnknownThread(NachfassError):
    """No thread has the number the owner gave."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(f"Einen Vorgang {thread_id} gibt es nicht.")
        self.thread_id = thread_id


class UnknownTask(NachfassError):
    """No open task has the number the owner gave (unknown or already done)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"Eine offene Aufgabe {task_id} gibt es nicht.")
        self.task_id = task_id


class NotAnInvoice(NachfassError):
    """The owner's word fits only an invoice (marking it paid)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(f"Vorgang {thread_id} ist keine Rechnung.")
        self.thread_id = thread_id


class IncompleteInvoice(NachfassError):
    """A new invoice lacks values its texts need; ``missing`` names the fields."""

    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


class BankFileError(NachfassError):
    """A bank statement file (CAMT.053, MT940, CSV) that cannot be read. ``file`` names it,
    ``where`` says where it broke ("Zeile 7", "Element Stmt[1]/Ntry[2]/Amt", or empty when
    the whole file is wrong); the message is one German line with both."""

    def __init__(self, file: str, where: str, reason: str) -> None:
        place = f"{file}, {where}" if where else file
        super().__init__(f"Kontoauszug {place}: {reason}")
        self.file = file
        self.where = where


class InvalidInput(NachfassError):
    """Something a person typed (an option, a word in a mail to the bot) is refused before
    it reaches the store; the message says what was wrong and what is accepted."""


class InvalidAmount(InvalidInput):
    """Not an amount of money in a form that reads the same to everyone."""


class InvalidAddress(InvalidInput):
    """Not exactly one plain mail address."""


class DateOutOfRange(InvalidInput):
    """A date outside the window the bot accepts (docs/DESIGN.md, "Input at the door")."""


class InvalidField(InvalidInput):
    """One value of a new thread is refused; ``field`` names it (``email``, ``amount``,
    ``due`` …) so that the caller can say where: an option of ``track``, a column of an
    import file. The message is the reason alone."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class ImportRefused(InvalidInput):
    """An import file that cannot be taken as it is; ``problems`` are German lines
    ("Zeile 4: Betrag: …"), and nothing of the file was stored."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__("\n".join((message, *problems)))
        self.problems = problems


class SignInNeeded(LoginFailed):
    """No usable OAuth2 sign-in: never signed in, or the provider no longer accepts the
    refresh token (revoked, expired, password changed). ``nachfass-bot auth login`` fixes
    it; retrying does not.

    ``revoked`` tells a refresh token the provider refused from one that was never
    there; ``key`` names that refresh token without revealing it (a hash), so the owner
    is alerted once per refused token."""

    def __init__(self, message: str, *, revoked: bool = False, key: str = "") -> None:
        super().__init__(message)
        self.revoked = revoked
        self.key = key

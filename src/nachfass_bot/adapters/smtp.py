"""SMTP adapter (aiosmtplib): the only module that sends mail over the network."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from nachfass_bot.adapters.oauth import sasl_oauthbearer, sasl_xoauth2
from nachfass_bot.config import ServerConfig
from nachfass_bot.errors import DeliveryError, NachfassError

Secret = str | Callable[[], str] | None
_AUTH_CONTINUE = 334
_AUTH_SUCCESSFUL = 235

log = logging.getLogger(__name__)


class Transport(Protocol):
    """Something that delivers a finished mail or raises :class:`DeliveryError`."""

    def send(self, message: EmailMessage) -> None: ...


class Phase(enum.Enum):
    """How far one SMTP transaction got (RFC 5321 §3.3): what a failure there means."""

    ENVELOPE = "envelope"  # connect, TLS, AUTH, MAIL, RCPT: the server has no mail yet
    DATA = "data"  # DATA began: the server may hold part or all of the mail
    ACCEPTED = "accepted"  # the server answered 250 to the end of the data


@dataclass
class _Progress:
    """Where one send is; read after it failed."""

    phase: Phase = Phase.ENVELOPE


class SmtpTransport:
    """Sends through the configured SMTP server: TLS as configured, certificates checked.

    ``timeout`` bounds each wait for one server answer; ``deadline`` (default three
    times ``timeout``) bounds the whole send, so a server that answers just slowly
    enough at every step cannot hold the cycle for ever.

    ``password`` is the password, or with ``auth = "oauth2"`` the access token; a
    callable is asked before every login (a token command, a refreshed token).
    """

    def __init__(
        self,
        server: ServerConfig,
        password: Secret,
        timeout: float = 60,
        deadline: float | None = None,
    ) -> None:
        self._server = server
        self._password = password
        self._timeout = timeout
        self._deadline = deadline if deadline is not None else timeout * 3
        self._runner: asyncio.Runner | None = None  # set inside session()
        self._open: aiosmtplib.SMTP | None = None  # the session's connection

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Inside the block, mails share one connection and login: several mail
        transactions in one SMTP session (RFC 5321 §3.3), as a mail program sends. A
        connection the server dropped meanwhile is opened again before a mail's
        envelope; after any failure the connection is dropped, and the next mail opens a
        new one. QUIT at the end (bounded, its failure ignored)."""
        if self._runner is not None:
            yield  # already in a session
            return
        self._runner = asyncio.Runner()
        try:
            yield
        finally:
            runner, client = self._runner, self._open
            self._runner, self._open = None, None
            if client is not None:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    runner.run(self._end(client, Phase.ACCEPTED))
            runner.close()

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raises DeliveryError with a German message.

        What a failure means depends on the phase it hit (RFC 5321 §4.1.1.4, §6.1):
        before DATA the server holds nothing, so the error is temporary (or permanent
        for a 5xx) and a retry is safe. Once DATA began, a broken connection or a
        timeout — aiosmtplib's per answer, or the whole send's deadline — leaves the
        server with part or all of the mail: ``uncertain``, never to be retried. A reply
        code to the data is a refusal. Errors after the server's 250 are ignored."""
        progress = _Progress()
        secret = self._secret()
        try:
            if self._runner is not None:
                self._runner.run(self._send_shared(message, progress, secret))
            else:
                asyncio.run(self._send(message, progress, secret))
        except aiosmtplib.SMTPResponseException as exc:
            raise self._refused(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # TimeoutError is an OSError
            raise self._broken(exc, progress.phase) from exc

    def _secret(self) -> str | None:
        """The password or token for this login; a failure to get one is temporary:
        nothing was sent."""
        if not callable(self._password):
            return self._password
        try:
            return self._password()
        except DeliveryError:
            raise
        except NachfassError as exc:
            raise DeliveryError(f"Anmeldung am SMTP-Server {self._server.host}: {exc}") from exc

    def _refused(self, exc: aiosmtplib.SMTPResponseException) -> DeliveryError:
        """The server answered with an error code: it did not take the mail."""
        whom = ""
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            whom = f" den Empfänger {exc.recipient}"
        answer = f"{exc.code} {exc.message}".strip()
        return DeliveryError(
            f"SMTP-Server {self._server.host} lehnt{whom} ab: {answer}",
            permanent=500 <= exc.code < 600,
        )

    def _broken(self, exc: BaseException, phase: Phase) -> DeliveryError:
        """The connection broke, failed or timed out in ``phase``."""
        where = f"{self._server.host}:{self._server.port}"
        reason = describe(exc, self._deadline)
        if phase is Phase.DATA:
            return DeliveryError(
                f"Verbindung zu {where} während der Übertragung der Mail abgebrochen "
                f"({reason}); ob der Server die Mail angenommen hat, ist unklar",
                uncertain=True,
            )
        return DeliveryError(
            f"SMTP-Server {where} nicht erreichbar, TLS gescheitert oder keine Antwort "
            f"vor der Übertragung der Mail ({reason})"
        )

    async def _send(self, message: EmailMessage, progress: _Progress, secret: str | None) -> None:
        sender, recipients = envelope(message)
        client = self._client()
        try:
            async with asyncio.timeout(self._deadline):
                await client.connect()
                await self._login(client, secret)
                await client.mail(sender)
                for recipient in recipients:
                    await client.rcpt(recipient)
                progress.phase = Phase.DATA
                # Flattened with the policy the message carries (texts.compose fixes it so
                # that headers stay unfolded); aiosmtplib's own flattening would refold them.
                await client.data(message.as_bytes())
                progress.phase = Phase.ACCEPTED
        finally:
            await self._end(client, progress.phase)
        log.info("mail %s handed to SMTP server %s", message["Message-ID"], self._server.host)

    async def _send_shared(
        self, message: EmailMessage, progress: _Progress, secret: str | None
    ) -> None:
        """:meth:`_send` on the session's connection, which stays open after a mail the
        server accepted; the phases mean the same."""
        sender, recipients = envelope(message)
        try:
            async with asyncio.timeout(self._deadline):
                client = await self._session_client(sender, secret)
                for recipient in recipients:
                    await client.rcpt(recipient)
                progress.phase = Phase.DATA
                await client.data(message.as_bytes())
                progress.phase = Phase.ACCEPTED
        except BaseException:
            if self._open is not None:
                self._open.close()
                self._open = None
            raise
        log.info("mail %s handed to SMTP server %s", message["Message-ID"], self._server.host)

    async def _session_client(self, sender: str, secret: str | None) -> aiosmtplib.SMTP:
        """The session's connection with MAIL FROM given; a connection the server closed
        since the last mail is replaced once (no mail was begun on it)."""
        if self._open is not None and self._open.is_connected:
            try:
                await self._open.mail(sender)
                return self._open
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                self._open.close()
        self._open = self._client()
        await self._open.connect()
        await self._login(self._open, secret)
        await self._open.mail(sender)
        return self._open

    async def _end(self, client: aiosmtplib.SMTP, phase: Phase) -> None:
        """QUIT after an accepted mail (bounded, its failure ignored: the mail is
        there); after a failure just drop the connection, never wait for a stalled
        server once more."""
        if phase is not Phase.ACCEPTED:
            client.close()
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            async with asyncio.timeout(self._timeout):
                await client.quit()
        client.close()

    def _client(self) -> aiosmtplib.SMTP:
        security = self._server.security
        return aiosmtplib.SMTP(
            hostname=self._server.host,
            port=self._server.port,
            use_tls=security == "ssl",
            start_tls=security == "starttls",
            tls_context=ssl.create_default_context() if security != "none" else None,
            timeout=self._timeout,
        )

    async def _login(self, client: aiosmtplib.SMTP, secret: str | None) -> None:
        if not (self._server.username and secret):
            return
        if self._server.auth == "oauth2":
            await oauth_login(client, self._server.username, secret)
        else:
            await client.login(self._server.username, secret)


async def oauth_login(client: aiosmtplib.SMTP, username: str, token: str) -> None:
    """AUTH OAUTHBEARER (RFC 7628) where offered, else XOAUTH2 (Microsoft's only one).

    A refused token comes back as a 334 challenge with a JSON error; the client ends the
    exchange (``%x01`` for OAUTHBEARER, RFC 7628 §3.2.3, an empty line for XOAUTH2) and
    the server's final answer is raised."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if "oauthbearer" in client.server_auth_methods:
        mechanism, initial, abort = b"OAUTHBEARER", sasl_oauthbearer(username, token), b"AQ=="
    else:
        mechanism, initial, abort = b"XOAUTH2", sasl_xoauth2(username, token), b""
    response = await client.execute_command(b"AUTH", mechanism, base64.b64encode(initial))
    if response.code == _AUTH_CONTINUE:
        response = await client.execute_command(abort)
    if response.code != _AUTH_SUCCESSFUL:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


def describe(exc: BaseException, deadline: float) -> str:
    """A short German reason for a broken send; never empty (``str(TimeoutError())``
    is "")."""
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return "Zeitüberschreitung: der Server antwortet nicht"
    if isinstance(exc, TimeoutError):
        return f"Zeitüberschreitung: der Versand dauerte länger als {deadline:g} s"
    if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionRefusedError):
        return _with_detail("keine Verbindung", exc)
    if isinstance(exc, ConnectionError):
        return _with_detail("Verbindung getrennt", exc)
    return _with_detail("Fehler", exc)


def _with_detail(reason: str, exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{reason}: {detail}" if detail else f"{reason} ({type(exc).__name__})"


def envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """SMTP envelope sender and recipients (RFC 5321) from From, To and Cc."""
    sender = message["From"].addresses[0].addr_spec
    recipients = [
        address.addr_spec
        for field in ("To", "Cc")
        if message[field] is not None
        for address in message[field].addresses
    ]
    return sender, recipients


class CaptureTransport:
    """Keeps every mail in memory and hands it to ``deliver`` (demo, tests)."""

    def __init__(self, deliver: Callable[[EmailMessage], None] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self._deliver = deliver

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        if self._deliver:
            self._deliver(message)

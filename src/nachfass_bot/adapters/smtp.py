"""SMTP adapter (aiosmtplib): the only module that sends mail over the network."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from nachfass_bot.config import ServerConfig
from nachfass_bot.errors import DeliveryError

log = logging.getLogger(__name__)


class Transport(Protocol):
    """Something that delivers a finished mail or raises :class:`DeliveryError`."""

    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """Sends through the configured SMTP server: TLS as configured, certificates checked."""

    def __init__(self, server: ServerConfig, password: str | None, timeout: float = 60) -> None:
        self._server = server
        self._password = password
        self._timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raises DeliveryError. ``uncertain`` is set only when the
        connection broke after the whole mail went over the wire (RFC 5321 §4.1.1.4):
        every failure before that point left nothing at the server."""
        try:
            asyncio.run(self._send(message))
        except _Uncertain as broken:
            raise DeliveryError(
                f"Verbindung zu {self._server.host} nach dem Senden der Mail abgebrochen: "
                f"{broken.__cause__}",
                uncertain=True,
            ) from broken.__cause__
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            raise DeliveryError(
                f"SMTP-Server {self._server.host} lehnt den Empfänger ab: {codes}",
                permanent=all(500 <= code < 600 for code in codes),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP-Server {self._server.host} lehnt ab: {exc.code} {exc.message}",
                permanent=500 <= exc.code < 600,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP-Server {self._server.host}:{self._server.port} nicht erreichbar "
                f"oder TLS gescheitert: {exc}"
            ) from exc

    async def _send(self, message: EmailMessage) -> None:
        sender, recipients = envelope(message)
        async with asyncio.timeout(self._timeout * 3):
            client = self._client()
            await client.connect()
            try:
                await self._login(client)
                await client.mail(sender)
                for recipient in recipients:
                    await client.rcpt(recipient)
                await self._data(client, message)
            finally:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
        log.info("mail %s handed to SMTP server %s", message["Message-ID"], self._server.host)

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

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        if self._server.username and self._password:
            await client.login(self._server.username, self._password)

    async def _data(self, client: aiosmtplib.SMTP, message: EmailMessage) -> None:
        # Flattened with the policy the message carries (texts.compose fixes it so that
        # headers stay unfolded); aiosmtplib's own flattening would refold them.
        try:
            await client.data(message.as_bytes())
        except aiosmtplib.SMTPResponseException:
            raise  # the server answered: it did not take the mail
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _Uncertain() from exc


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


class _Uncertain(Exception):
    """The connection broke during DATA: the server may or may not have the mail."""


class CaptureTransport:
    """Keeps every mail in memory and hands it to ``deliver`` (demo, tests)."""

    def __init__(self, deliver: Callable[[EmailMessage], None] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self._deliver = deliver

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        if self._deliver:
            self._deliver(message)

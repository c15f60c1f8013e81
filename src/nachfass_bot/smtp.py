"""SMTP adapter (aiosmtplib): the only module that sends mail over the network."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from .compose import envelope, to_bytes
from .config import ServerConfig
from .errors import DeliveryError

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
        try:
            asyncio.run(asyncio.wait_for(self._send(message), timeout=self._timeout * 3))
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP-Server {self._server.host} lehnt ab: {exc.code} {exc.message}",
                permanent=500 <= exc.code < 600,
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            raise DeliveryError(
                f"SMTP-Server {self._server.host} lehnt den Empfänger ab: {codes}",
                permanent=all(500 <= code < 600 for code in codes),
            ) from exc
        except aiosmtplib.SMTPConnectError as exc:
            raise DeliveryError(
                f"SMTP-Server {self._server.host}:{self._server.port} nicht erreichbar: {exc}"
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Disconnects and timeouts after connecting: the mail may have been accepted.
            raise DeliveryError(
                f"Verbindung zu {self._server.host} während des Versands abgebrochen: {exc}",
                uncertain=True,
            ) from exc

    async def _send(self, message: EmailMessage) -> None:
        security = self._server.security
        login = bool(self._server.username and self._password)
        sender, recipients = envelope(message)
        await aiosmtplib.send(
            to_bytes(message),  # our own flattening: aiosmtplib's would refold the headers
            sender=sender,
            recipients=recipients,
            hostname=self._server.host,
            port=self._server.port,
            username=self._server.username if login else None,
            password=self._password if login else None,
            use_tls=security == "ssl",
            start_tls=security == "starttls",
            tls_context=ssl.create_default_context() if security != "none" else None,
            timeout=self._timeout,
        )
        log.info("mail %s handed to SMTP server %s", message["Message-ID"], self._server.host)


class CaptureTransport:
    """Keeps every mail in memory and hands it to ``deliver`` (demo, tests)."""

    def __init__(self, deliver: Callable[[EmailMessage], None] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self._deliver = deliver

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        if self._deliver:
            self._deliver(message)

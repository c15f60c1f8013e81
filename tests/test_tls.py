"""TLS is on by default and certificates are checked (STARTTLS and implicit TLS)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller

from nachfass_bot.adapters.smtp import SmtpTransport
from nachfass_bot.config import ServerConfig
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.compose import address, build_mail
from servers import free_port


class Collect:
    def __init__(self) -> None:
        self.mails: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mails.append(envelope.content)
        return "250 OK"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def start(handler: Collect, port: int, **tls) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    return controller


@pytest.fixture
def starttls_server(server_context) -> Iterator[tuple[Collect, int]]:
    handler, port = Collect(), free_port()
    controller = start(handler, port, tls_context=server_context, require_starttls=True)
    yield handler, port
    controller.stop()


@pytest.fixture
def implicit_tls_server(server_context) -> Iterator[tuple[Collect, int]]:
    handler, port = Collect(), free_port()
    controller = start(handler, port, ssl_context=server_context)
    yield handler, port
    controller.stop()


def transport(port: int, security: str) -> SmtpTransport:
    server = ServerConfig(
        host="127.0.0.1", port=port, security=security, username="",  # type: ignore[arg-type]
        password_env=None, password_command=None,
    )  # fmt: skip
    return SmtpTransport(server, None, timeout=10)


def message():
    return build_mail(
        sender=address("anna@berger-design.test", "Anna Berger"),
        recipient=address("kunde@firma.test", "Jürgen Weiß"),
        subject="Kurze Nachfrage",
        body="Guten Tag,\n\nist alles angekommen?\n",
        message_id="<tls-1@berger-design.test>",
        now=datetime(2026, 3, 11, 10, 0, tzinfo=UTC),
    )


def trust(ca: trustme.CA, tmp_path: Path, monkeypatch) -> None:
    """Make the test CA the one the default SSL context trusts (as a system CA would be)."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def test_starttls_refuses_a_certificate_nobody_vouches_for(starttls_server) -> None:
    handler, port = starttls_server
    with pytest.raises(DeliveryError, match=r"(?i)certificate") as caught:
        transport(port, "starttls").send(message())
    assert handler.mails == []
    assert not caught.value.uncertain, "nothing was sent: a later try is safe"


def test_starttls_with_a_trusted_certificate_delivers(
    starttls_server, ca, tmp_path, monkeypatch
) -> None:
    trust(ca, tmp_path, monkeypatch)
    handler, port = starttls_server
    transport(port, "starttls").send(message())
    assert len(handler.mails) == 1


def test_implicit_tls_checks_the_certificate_too(
    implicit_tls_server, ca, tmp_path, monkeypatch
) -> None:
    handler, port = implicit_tls_server
    with pytest.raises(DeliveryError):
        transport(port, "ssl").send(message())
    trust(ca, tmp_path, monkeypatch)
    transport(port, "ssl").send(message())
    assert len(handler.mails) == 1

"""OAuth2 sign-in (RFC 7628 XOAUTH2 and OAUTHBEARER) for IMAP and SMTP.

Real servers: Dovecot's ``oauth2`` passdb checks each token with a local introspection
endpoint (``servers.OAuthServer``), the aiosmtpd sink checks it the same way, and the
refresh and code grants run against that server's token endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest

from loophelpers import PASSWORD_ENV, cli, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.oauth import (
    TokenCache,
    login_loopback,
    login_secret,
    sasl_oauthbearer,
    sasl_xoauth2,
    token_cache_path,
)
from nachfass_bot.adapters.smtp import SmtpTransport
from nachfass_bot.config import OAuthClient, ServerConfig, load_config
from nachfass_bot.domain.models import NoticeState
from nachfass_bot.errors import ConfigError, DeliveryError, LoginFailed, SignInNeeded
from servers import MailAccount, OAuthServer, SmtpSink

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def python_command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def imap_server(account: MailAccount, **values: object) -> ServerConfig:
    fields: dict[str, object] = {
        "host": account.host,
        "port": account.port,
        "security": "none",
        "username": account.user,
        "password_env": None,
        "password_command": None,
        "section": "imap",
        "auth": "oauth2",
    }
    fields.update(values)
    return ServerConfig(**fields)  # type: ignore[arg-type]


def smtp_server(sink: SmtpSink, user: str) -> ServerConfig:
    return ServerConfig(
        host=sink.host, port=sink.port, security="none", username=user,
        password_env=None, password_command=None, section="smtp", auth="oauth2",
    )  # fmt: skip


def client_for(oauth: OAuthServer) -> OAuthClient:
    return OAuthClient(
        provider="google",
        client_id="nachfass-test",
        authorize_url=f"{oauth.url}/authorize",
        token_url=f"{oauth.url}/token",
    )


def message(sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = sender
    mail["Subject"] = "Test"
    mail["Message-ID"] = "<oauth-test@example.test>"
    mail.set_content("Hallo")
    return mail


# -- IMAP against Dovecot's oauth2 passdb ---------------------------------------------------


def test_imap_login_with_a_token_uses_oauthbearer_where_offered(
    oauth_dovecot: MailAccount, oauth_server: OAuthServer, oauth_dovecot_server
) -> None:
    token = oauth_server.issue(oauth_dovecot.user)
    before = oauth_server.introspections
    with ImapMailbox.connect(imap_server(oauth_dovecot), token, timeout=10) as mailbox:
        assert "INBOX" in {folder.name for folder in mailbox.list_folders()}
    assert oauth_server.introspections > before  # Dovecot asked the endpoint
    assert f"user=<{oauth_dovecot.user}>, method=OAUTHBEARER" in oauth_dovecot_server.log_tail(50)


def test_imap_login_falls_back_to_xoauth2_like_microsoft_offers(
    oauth_dovecot: MailAccount, oauth_server: OAuthServer, oauth_dovecot_server, monkeypatch
) -> None:
    offered = imapclient.IMAPClient.has_capability

    def without_oauthbearer(self: imapclient.IMAPClient, capability: str) -> bool:
        return capability.upper() != "AUTH=OAUTHBEARER" and offered(self, capability)

    monkeypatch.setattr(imapclient.IMAPClient, "has_capability", without_oauthbearer)
    token = oauth_server.issue(oauth_dovecot.user)
    with ImapMailbox.connect(imap_server(oauth_dovecot), token, timeout=10) as mailbox:
        mailbox.list_folders()
    assert f"user=<{oauth_dovecot.user}>, method=XOAUTH2" in oauth_dovecot_server.log_tail(50)


@pytest.mark.parametrize("whose", ["revoked", "someone else's"])
def test_a_refused_token_is_a_german_login_failure_without_the_token(
    oauth_dovecot: MailAccount, oauth_dovecot_server, oauth_server: OAuthServer, whose: str
) -> None:
    if whose == "revoked":
        token = oauth_server.issue(oauth_dovecot.user)
        oauth_server.revoke(token)
    else:
        token = oauth_server.issue(oauth_dovecot_server.add_account().user)
    with pytest.raises(LoginFailed) as info:
        ImapMailbox.connect(imap_server(oauth_dovecot), token, timeout=10)
    assert "Zugangstoken (OAuth2)" in str(info.value)
    assert token not in str(info.value)


def test_password_login_is_unchanged_on_a_server_that_takes_tokens(
    oauth_dovecot: MailAccount, oauth_server: OAuthServer
) -> None:
    password_server = imap_server(oauth_dovecot, auth="password")
    with ImapMailbox.connect(password_server, oauth_dovecot.password, timeout=10):
        pass
    with pytest.raises(LoginFailed, match="Benutzername oder Passwort falsch"):
        ImapMailbox.connect(password_server, "falsch", timeout=10)
    # A valid token is no password: the password path never tries it as a bearer token.
    token = oauth_server.issue(oauth_dovecot.user)
    with pytest.raises(LoginFailed):
        ImapMailbox.connect(password_server, token, timeout=10)


# -- SMTP against the sink ------------------------------------------------------------------


@pytest.mark.parametrize("offered", [("XOAUTH2", "OAUTHBEARER"), ("XOAUTH2",)])
def test_smtp_sends_with_a_fresh_token_per_login(
    oauth_server: OAuthServer, offered: tuple[str, ...]
) -> None:
    user = "owner@example.test"
    sink = SmtpSink(bearer=oauth_server, bearer_mechanisms=offered)
    sink.start()
    try:
        server = smtp_server(sink, user)
        asked: list[str] = []

        def token() -> str:
            asked.append(oauth_server.issue(user))
            return asked[-1]

        transport = SmtpTransport(server, token, timeout=10)
        transport.send(message(user))
        transport.send(message(user))
    finally:
        sink.stop()
    assert len(asked) == 2, "one token per login"
    assert len(sink.messages) == 2
    expected = "OAUTHBEARER" if "OAUTHBEARER" in offered else "XOAUTH2"
    assert sink.auth_mechanisms == [expected, expected]


def test_smtp_refused_token_is_a_permanent_refusal_and_a_failing_source_is_temporary(
    oauth_server: OAuthServer,
) -> None:
    user = "owner@example.test"
    sink = SmtpSink(bearer=oauth_server)
    sink.start()
    try:
        server = smtp_server(sink, user)
        with pytest.raises(DeliveryError) as refused:
            SmtpTransport(server, "at-ungültig", timeout=10).send(message(user))

        def no_token() -> str:
            raise SignInNeeded("bitte anmelden")

        with pytest.raises(DeliveryError) as missing:
            SmtpTransport(server, no_token, timeout=10).send(message(user))
    finally:
        sink.stop()
    assert refused.value.permanent and "535" in str(refused.value)
    assert not missing.value.permanent and not missing.value.uncertain
    assert "bitte anmelden" in str(missing.value)
    assert sink.messages == []


def test_sasl_initial_responses() -> None:
    assert sasl_xoauth2("a@b.de", "T") == b"user=a@b.de\x01auth=Bearer T\x01\x01"
    assert sasl_oauthbearer("a,b=c@d.de", "T") == b"n,a=a=2Cb=3Dc@d.de,\x01auth=Bearer T\x01\x01"


# -- token_command end to end ---------------------------------------------------------------


def test_token_command_signs_in_to_dovecot_and_smtp_end_to_end(
    tmp_path: Path,
    oauth_dovecot: MailAccount,
    oauth_server: OAuthServer,
    capsys,
    caplog,
    monkeypatch,
) -> None:
    """``check`` and ``tick`` log in with whatever the command prints, asked anew for
    every login, and the token shows up in no output and no log line."""
    sink = SmtpSink(deliver_to=oauth_dovecot, bearer=oauth_server)
    sink.start()
    try:
        tokens = tmp_path / "tokens.log"
        secret = oauth_server.issue(oauth_dovecot.user)
        script = tmp_path / "token.py"  # like oama: prints a token, here a counted one
        script.write_text(
            f"from pathlib import Path\nPath({str(tokens)!r}).open('a').write('x')\n"
            f"print({secret!r})\n"
        )
        command = json.dumps(f"{sys.executable} {script}")
        source = f'auth = "oauth2"\ntoken_command = {command}'
        config = write_config(
            tmp_path, oauth_dovecot, sink, monkeypatch, imap_auth=source, smtp_auth=source
        )
        caplog.set_level(logging.DEBUG)
        assert cli(config, "check") == 0, capsys.readouterr()
        assert cli(config, "tick") == 0
        out = capsys.readouterr()
    finally:
        sink.stop()
    assert "angemeldet als" in out.out
    assert len(tokens.read_text()) >= 3  # IMAP and SMTP of check, IMAP of tick
    assert sink.auth_mechanisms == ["OAUTHBEARER"]
    assert secret not in out.out + out.err + caplog.text


def test_failing_token_command_names_the_section_and_hides_the_token() -> None:
    code = "import sys; print('at-geheim'); print('at-geheim kaputt', file=sys.stderr); sys.exit(2)"
    server = ServerConfig(
        host="imap.example.test", port=993, security="ssl", username="a@example.test",
        password_env=None, password_command=None, section="smtp", auth="oauth2",
        token_command=python_command(code),
    )  # fmt: skip
    with pytest.raises(ConfigError) as info:
        login_secret(server, Path("/nonexistent/cache"))
    text = str(info.value)
    assert text.startswith("[smtp] token_command")
    assert "Fehlercode 2" in text and "at-geheim" not in text


# -- the built-in flow: cache, refresh, revocation -----------------------------------------


def test_expired_token_is_refreshed_silently_and_logs_in(
    tmp_path: Path, oauth_dovecot: MailAccount, oauth_server: OAuthServer
) -> None:
    client = client_for(oauth_server)
    cache = TokenCache(tmp_path / "nachfass.db.oauth")
    refresh = oauth_server.issue_refresh(oauth_dovecot.user)
    cache.store(
        client,
        oauth_dovecot.user,
        {"access_token": "at-abgelaufen", "expires_at": 0, "refresh_token": refresh},
    )
    server = imap_server(oauth_dovecot, oauth=client)
    token = login_secret(server, cache.path)
    assert oauth_server.owner_of(token) == oauth_dovecot.user
    assert oauth_server.requests[-1]["grant_type"] == "refresh_token"
    with ImapMailbox.connect(server, token, timeout=10):
        pass
    assert login_secret(server, cache.path) == token  # cached, not refreshed again
    assert cache.path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(cache.path.read_text())
    assert [entry["refresh_token"] for entry in stored.values()] == [refresh]


def test_revoked_refresh_token_raises_a_german_sign_in_request(
    tmp_path: Path, oauth_server: OAuthServer
) -> None:
    client = client_for(oauth_server)
    cache = TokenCache(tmp_path / "nachfass.db.oauth")
    refresh = oauth_server.issue_refresh("anna@example.test")
    oauth_server.revoke(refresh)
    cache.store(client, "anna@example.test", {"access_token": "", "refresh_token": refresh})
    with pytest.raises(SignInNeeded) as info:
        cache.access_token(client, "anna@example.test")
    assert info.value.revoked and info.value.key and refresh not in info.value.key
    assert "nachfass-bot auth login" in str(info.value)
    assert refresh not in str(info.value)


def test_cache_readable_by_others_is_refused(tmp_path: Path, oauth_server: OAuthServer) -> None:
    cache = TokenCache(tmp_path / "nachfass.db.oauth")
    cache.store(client_for(oauth_server), "a@example.test", {"access_token": "x"})
    os.chmod(cache.path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        cache.access_token(client_for(oauth_server), "a@example.test")


def test_never_signed_in_asks_for_auth_login(tmp_path: Path, oauth_server: OAuthServer) -> None:
    with pytest.raises(SignInNeeded, match="auth login") as info:
        TokenCache(tmp_path / "x.oauth").access_token(client_for(oauth_server), "a@example.test")
    assert not info.value.revoked


def test_loopback_flow_with_pkce_stores_tokens_that_log_in(
    tmp_path: Path, oauth_dovecot: MailAccount, oauth_server: OAuthServer
) -> None:
    """``auth login`` for Google: the browser is sent to the authorize URL, comes back to
    the one-shot server on 127.0.0.1 with a code, which is exchanged with the PKCE
    verifier."""
    client = client_for(oauth_server)
    cache = TokenCache(tmp_path / "nachfass.db.oauth")
    said: list[str] = []

    def browser(url: str) -> None:
        threading.Thread(target=lambda: urllib.request.urlopen(url, timeout=10).read()).start()

    login_loopback(client, oauth_dovecot.user, cache, say=said.append, open_browser=browser)
    exchange = oauth_server.requests[-1]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    assert exchange["redirect_uri"].startswith("http://127.0.0.1:")
    token = cache.access_token(client, oauth_dovecot.user)
    with ImapMailbox.connect(imap_server(oauth_dovecot, oauth=client), token, timeout=10):
        pass
    assert "im Browser" in said[0]


def test_revoked_sign_in_alerts_the_owner_once_through_the_notice_outbox(
    tmp_path: Path, oauth_dovecot: MailAccount, oauth_server: OAuthServer, capsys, monkeypatch
) -> None:
    """IMAP signs in by the built-in flow, SMTP with a password: a refused refresh
    token stops the cycle with the German message and mails the owner one alert, not
    one per cycle."""
    sink = SmtpSink(deliver_to=oauth_dovecot)
    sink.start()
    try:
        imap_auth = (
            'auth = "oauth2"\noauth_provider = "google"\noauth_client_id = "nachfass-test"\n'
            f'oauth_authorize_url = "{oauth_server.url}/authorize"\n'
            f'oauth_token_url = "{oauth_server.url}/token"'
        )
        config_path = write_config(tmp_path, oauth_dovecot, sink, monkeypatch, imap_auth=imap_auth)
        config = load_config(config_path)
        assert config.imap.oauth is not None
        refresh = oauth_server.issue_refresh(oauth_dovecot.user)
        cache = TokenCache(token_cache_path(config.store.path))
        cache.store(config.imap.oauth, oauth_dovecot.user, {"refresh_token": refresh})
        monkeypatch.setattr(oauth_server, "expires_in", 0)  # every cycle refreshes
        assert cli(config_path, "tick") == 0
        oauth_server.revoke(refresh)
        capsys.readouterr()
        assert cli(config_path, "tick") == 1
        assert cli(config_path, "tick") == 1
        err = capsys.readouterr().err
    finally:
        sink.stop()
    assert "nimmt die Anmeldung" in err and "auth login" in err
    alerts = [m for m in sink.messages if "Anmeldung" in str(m.message["Subject"])]
    assert len(alerts) == 1
    assert "nachfass-bot auth login" in alerts[0].message.get_content()
    from nachfass_bot.adapters.store import opened

    with opened(config.store.path) as store:
        states = [n.state for n in store.notices(list(NoticeState)) if n.key.startswith("sign-in:")]
    assert states == [NoticeState.SENT]


# -- Microsoft through msal (its answers faked: msal talks only to Microsoft) ---------------


class FakeMsalCache:
    def __init__(self, state: str) -> None:
        self.state = state
        self.has_state_changed = False

    def serialize(self) -> str:
        return self.state


class FakeMsalApp:
    """What adapters/oauth.py uses of ``msal.PublicClientApplication``."""

    def __init__(self, serialized: str, result: dict[str, str] | None, accounts: int = 1) -> None:
        self.token_cache = FakeMsalCache(serialized)
        self.result = result
        self.accounts = accounts
        self.scopes: list[str] = []

    def get_accounts(self, username: str) -> list[dict[str, str]]:
        return [{"username": username}] * self.accounts

    def acquire_token_silent_with_error(
        self, scopes: list[str], account: dict[str, str]
    ) -> dict[str, str] | None:
        self.scopes = scopes
        if self.result and "access_token" in self.result:
            self.token_cache.state, self.token_cache.has_state_changed = "refreshed", True
        return self.result

    def initiate_device_flow(self, scopes: list[str]) -> dict[str, str]:
        return {"user_code": "ABCD-1234", "verification_uri": "https://microsoft.com/devicelogin"}

    def acquire_token_by_device_flow(self, flow: dict[str, str]) -> dict[str, str]:
        self.token_cache.state = "signed-in"
        return {"access_token": "at-ms"}


MICROSOFT = OAuthClient(provider="microsoft", client_id="app-id")


@pytest.mark.parametrize(
    ("result", "accounts", "outcome"),
    [
        ({"access_token": "at-neu"}, 1, "token"),
        ({"error": "invalid_grant"}, 1, "revoked"),
        (None, 0, "never"),
    ],
)
def test_microsoft_silent_refresh_and_revocation(
    tmp_path: Path, monkeypatch, result: dict[str, str] | None, accounts: int, outcome: str
) -> None:
    import nachfass_bot.adapters.oauth as oauth_module

    apps: list[FakeMsalApp] = []

    def fake_app(client: OAuthClient, serialized: str = "") -> FakeMsalApp:
        apps.append(FakeMsalApp(serialized, result, accounts))
        return apps[-1]

    monkeypatch.setattr(oauth_module, "_microsoft_app", fake_app)
    cache = TokenCache(tmp_path / "nachfass.db.oauth")
    said: list[str] = []
    oauth_module.login_device_code(MICROSOFT, "anna@firma.de", cache, say=said.append)
    assert "ABCD-1234" in said[0] and "https://microsoft.com/devicelogin" in said[0]
    if outcome == "token":
        assert cache.access_token(MICROSOFT, "anna@firma.de") == "at-neu"
        assert "IMAP.AccessAsUser.All" in apps[-1].scopes[0]
        assert "refreshed" in cache.path.read_text()
        return
    with pytest.raises(SignInNeeded, match="auth login") as info:
        cache.access_token(MICROSOFT, "anna@firma.de")
    assert info.value.revoked is (outcome == "revoked")


def revoked_setup(
    tmp_path: Path, account: MailAccount, oauth_server: OAuthServer, sink: SmtpSink, monkeypatch
) -> Path:
    """A config whose IMAP signs in by the built-in flow with a refused refresh token."""
    imap_auth = (
        'auth = "oauth2"\noauth_provider = "google"\noauth_client_id = "nachfass-test"\n'
        f'oauth_token_url = "{oauth_server.url}/token"'
    )
    path = write_config(tmp_path, account, sink, monkeypatch, imap_auth=imap_auth)
    config = load_config(path)
    assert config.imap.oauth is not None
    refresh = oauth_server.issue_refresh(account.user)
    oauth_server.revoke(refresh)
    TokenCache(token_cache_path(config.store.path)).store(
        config.imap.oauth, account.user, {"refresh_token": refresh}
    )
    return path


def test_run_refuses_to_start_with_a_revoked_sign_in_and_alerts_the_owner(
    tmp_path: Path, oauth_dovecot: MailAccount, oauth_server: OAuthServer, capsys, monkeypatch
) -> None:
    """Under systemd nobody reads the terminal: the alert goes out at start-up too."""
    sink = SmtpSink(deliver_to=oauth_dovecot)
    sink.start()
    try:
        config = revoked_setup(tmp_path, oauth_dovecot, oauth_server, sink, monkeypatch)
        assert cli(config, "run", "--interval", "60") == 1
    finally:
        sink.stop()
    assert "auth login" in capsys.readouterr().err
    assert [m.message["Subject"] for m in sink.messages] == [
        "nachfass-bot: Anmeldung beim Mailanbieter erneuern"
    ]


def test_an_alert_that_cannot_be_sent_never_hides_the_sign_in_problem(
    tmp_path: Path, oauth_dovecot: MailAccount, oauth_server: OAuthServer, capsys, monkeypatch
) -> None:
    """The SMTP password is missing as well: the owner reads about the sign-in, which is
    what she must fix first, and the alert's own failure is a warning in the log."""
    sink = SmtpSink(deliver_to=oauth_dovecot)
    sink.start()
    try:
        config = revoked_setup(tmp_path, oauth_dovecot, oauth_server, sink, monkeypatch)
        monkeypatch.delenv(PASSWORD_ENV)
        assert cli(config, "tick") == 1
    finally:
        sink.stop()
    err = capsys.readouterr().err
    assert "nimmt die Anmeldung" in err and "auth login" in err
    assert sink.messages == []

"""OAuth2 access tokens for the IMAP and SMTP login (RFC 6749, RFC 7628).

Two sources, chosen in the config (``auth = "oauth2"``):

- ``token_command``: a program prints a fresh access token (oama, pizauth,
  mutt_oauth2.py), run for every login by :meth:`ServerConfig.token`;
- the built-in flow (``oauth_provider``): ``nachfass-bot auth login`` signs in once —
  Microsoft by the device code flow (the ``msal`` library), Google by the installed-app
  loopback flow with PKCE (RFC 8252, RFC 7636) — and keeps the tokens in a cache file
  (mode 600) next to the store. Every login takes the access token from there and
  refreshes it silently when it is about to expire.

A refresh token the provider refuses (``invalid_grant``: revoked, expired, password
changed) raises :class:`SignInNeeded` with ``revoked`` set and a German message; the
daemon turns that into one owner alert. Tokens never appear in a message or a log.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import html
import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from nachfass_bot.config import OAuthClient, ServerConfig
from nachfass_bot.errors import ConfigError, MailboxError, SignInNeeded

log = logging.getLogger(__name__)

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
# Exchange Online's IMAP and SMTP scopes; msal adds offline_access (the refresh token).
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPE = "https://mail.google.com/"  # IMAP and SMTP need the full mail scope
EXPIRY_MARGIN = 120.0  # seconds: refresh a token this long before it expires
HTTP_TIMEOUT = 30.0
LOGIN_TIMEOUT = 300.0  # seconds the owner has to sign in in the browser
_PROVIDER_NAMES = {"microsoft": "Microsoft", "google": "Google"}
_thread_lock = threading.Lock()


def token_cache_path(store_path: Path) -> Path:
    """The token cache beside the store: ``nachfass.db`` → ``nachfass.db.oauth``."""
    return store_path.with_name(store_path.name + ".oauth")


def login_secret(server: ServerConfig, cache_path: Path) -> str:
    """What the login of ``server`` needs: the password, or with ``auth = "oauth2"`` an
    access token (from ``token_command`` or the built-in cache, refreshed if due)."""
    if server.auth != "oauth2":
        return server.password()
    if server.oauth is None:
        return server.token()
    return TokenCache(cache_path).access_token(server.oauth, server.username)


def sasl_xoauth2(username: str, token: str) -> bytes:
    """The initial response of XOAUTH2 (Google's and Microsoft's mechanism)."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01".encode()


def sasl_oauthbearer(username: str, token: str) -> bytes:
    """The initial response of OAUTHBEARER (RFC 7628 §3.1): a GS2 header naming the
    user (``,`` and ``=`` escaped, RFC 5801 §4), then the bearer token."""
    escaped = username.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={escaped},\x01auth=Bearer {token}\x01\x01".encode()


# -- the cache file ------------------------------------------------------------------------


class TokenCache:
    """The tokens of the built-in flow, one entry per provider and account, in a JSON
    file that only its owner may read (mode 600, refused when others may read it)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    def access_token(self, client: OAuthClient, username: str) -> str:
        """A valid access token for ``username``, refreshed first when due."""
        with self._locked():
            entries = self._read()
            key = _entry_key(client, username)
            entry = entries.get(key)
            if entry is None:
                raise _not_signed_in(client, username)
            if client.provider == "microsoft":
                token, entry = _microsoft_silent(client, username, entry)
            else:
                token, entry = self._generic_token(client, username, entry)
            if entries.get(key) != entry:
                entries[key] = entry
                self._write(entries)
            return token

    def store(self, client: OAuthClient, username: str, entry: dict[str, Any]) -> None:
        """Keep a fresh sign-in's tokens (``auth login``)."""
        with self._locked():
            entries = self._read()
            entries[_entry_key(client, username)] = entry
            self._write(entries)

    def _generic_token(
        self, client: OAuthClient, username: str, entry: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        now = self._clock()
        if entry.get("access_token") and float(entry.get("expires_at", 0)) > now + EXPIRY_MARGIN:
            return str(entry["access_token"]), entry
        refresh_token = str(entry.get("refresh_token") or "")
        if not refresh_token:
            raise _not_signed_in(client, username)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        answer = request_token(
            client, form, username=username, revoked_key=_fingerprint(refresh_token)
        )
        log.info("OAuth2 access token for %s refreshed", username)
        return str(answer["access_token"]), token_entry(answer, now, refresh_token)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One refresh at a time: threads of this process and other processes."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with _thread_lock:
            try:
                handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(
                    f"Die Sperrdatei {lock_path} für die Anmeldedaten lässt sich nicht "
                    f"anlegen ({exc.strerror})"
                ) from None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            finally:
                os.close(handle)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return {}
        if mode & 0o077:
            raise ConfigError(
                f"Die Anmeldedaten {self.path} sind für andere lesbar: bitte „chmod 600 "
                f"{self.path}“ ausführen (oder die Datei löschen und neu anmelden)"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"Die Anmeldedaten {self.path} sind nicht lesbar ({type(exc).__name__}): "
                "bitte „nachfass-bot auth login“ ausführen"
            ) from None
        return data if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        """Atomically replace the file; the new one is mode 600 from its first byte."""
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entries, file)
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise ConfigError(
                f"Die Anmeldedaten lassen sich nicht in {self.path} speichern ({exc.strerror})"
            ) from None


def _entry_key(client: OAuthClient, username: str) -> str:
    return f"{client.provider}:{client.client_id}:{username.strip().lower()}"


def _fingerprint(refresh_token: str) -> str:
    """Names a refresh token in a notice key without revealing it."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


def _provider_name(client: OAuthClient) -> str:
    return _PROVIDER_NAMES.get(client.provider, client.provider)


def _not_signed_in(client: OAuthClient, username: str) -> SignInNeeded:
    return SignInNeeded(
        f"Für {username} gibt es noch keine Anmeldung bei {_provider_name(client)}: bitte "
        "einmal „nachfass-bot auth login“ ausführen."
    )


def revoked(client: OAuthClient, username: str, key: str) -> SignInNeeded:
    """The German message for a refresh token the provider no longer accepts."""
    return SignInNeeded(
        f"{_provider_name(client)} nimmt die Anmeldung von {username} nicht mehr an "
        "(widerrufen, abgelaufen oder Passwort geändert): bitte „nachfass-bot auth login“ "
        "ausführen. Bis dahin liest und sendet nachfass-bot keine Mail.",
        revoked=True,
        key=key,
    )


# -- the token endpoint (RFC 6749 §4.1.3, §6) ----------------------------------------------


def token_entry(answer: dict[str, Any], now: float, refresh_token: str = "") -> dict[str, Any]:
    """A cache entry from a token response; a provider that does not send a new refresh
    token keeps the old one valid (RFC 6749 §6)."""
    return {
        "access_token": str(answer["access_token"]),
        "expires_at": now + float(answer.get("expires_in", 3600)),
        "refresh_token": str(answer.get("refresh_token") or refresh_token),
    }


def request_token(
    client: OAuthClient, form: dict[str, str], *, username: str = "", revoked_key: str = ""
) -> dict[str, Any]:
    """POST ``form`` to the token endpoint; the JSON answer with an ``access_token``.

    ``invalid_grant`` (RFC 6749 §5.2) means the grant is gone: :class:`SignInNeeded`
    (``revoked`` when a refresh token was refused). Other refusals and network problems
    are a :class:`MailboxError`, tried again next time."""
    url = client.token_url or GOOGLE_TOKEN_URL
    body = {"client_id": client.client_id, **form}
    secret = _client_secret(client)
    if secret:
        body["client_secret"] = secret
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(body).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        answer = _error_answer(exc)
    except (OSError, ValueError) as exc:
        raise MailboxError(
            f"Der Anmeldeserver {urllib.parse.urlsplit(url).netloc} ist nicht erreichbar "
            f"({type(exc).__name__})"
        ) from None
    if isinstance(answer, dict) and answer.get("access_token"):
        return answer
    error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
    if error == "invalid_grant" and revoked_key:
        raise revoked(client, username, revoked_key)
    if error == "invalid_grant":
        raise SignInNeeded("Die Anmeldung wurde abgelehnt (invalid_grant): bitte noch einmal.")
    raise MailboxError(
        f"Der Anmeldeserver {urllib.parse.urlsplit(url).netloc} gibt kein Zugangstoken "
        f"heraus ({error or 'keine Angabe'})"
    )


def _error_answer(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        answer = json.loads(exc.read().decode("utf-8"))
    except (OSError, ValueError):
        return {"error": f"HTTP {exc.code}"}
    return answer if isinstance(answer, dict) else {"error": f"HTTP {exc.code}"}


def _client_secret(client: OAuthClient) -> str:
    if client.client_secret_env is None:
        return ""
    value = os.environ.get(client.client_secret_env, "")
    if not value:
        raise ConfigError(
            f"oauth_client_secret_env: die Umgebungsvariable {client.client_secret_env} ist "
            "nicht gesetzt oder leer"
        )
    return value


# -- Google and other providers: installed-app loopback flow (RFC 8252, RFC 7636) ----------


@dataclass(frozen=True)
class _Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> _Pkce:
        verifier = secrets.token_urlsafe(64)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


class _Redirect(BaseHTTPRequestHandler):
    """Takes the one redirect of the browser to ``http://127.0.0.1:PORT/``."""

    server: _RedirectServer

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        values = {name: items[0] for name, items in query.items() if items}
        if values.get("state") != self.server.state:
            self._answer(400, "Diese Anmeldung gehört nicht zu nachfass-bot.")
            return
        self.server.result = values
        if "code" in values:
            self._answer(200, "Anmeldung abgeschlossen. Du kannst dieses Fenster schließen.")
        else:
            self._answer(400, "Die Anmeldung wurde abgebrochen.")

    def _answer(self, status: int, text: str) -> None:
        page = f"<!doctype html><meta charset=utf-8><p>{html.escape(text)}</p>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request line holds the authorization code."""


class _RedirectServer(HTTPServer):
    def __init__(self, state: str) -> None:
        super().__init__(("127.0.0.1", 0), _Redirect)
        self.state = state
        self.result: dict[str, str] | None = None


def login_loopback(
    client: OAuthClient,
    username: str,
    cache: TokenCache,
    *,
    say: Callable[[str], None],
    open_browser: Callable[[str], object] = webbrowser.open,
    timeout: float = LOGIN_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> None:
    """Sign in in the browser: authorization code with PKCE, redirected to a one-shot
    server on 127.0.0.1 (RFC 8252 §7.3), then exchanged for tokens that go in ``cache``."""
    pkce, state = _Pkce.new(), secrets.token_urlsafe(16)
    with _RedirectServer(state) as server:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"
        url = authorize_url(client, username, redirect_uri, pkce.challenge, state)
        say(f"Bitte im Browser bei {_provider_name(client)} anmelden. Öffnet sich keiner, "
            f"diese Adresse aufrufen:\n{url}")  # fmt: skip
        open_browser(url)
        deadline = clock() + timeout
        server.timeout = 1.0
        while server.result is None and clock() < deadline:
            server.handle_request()
    result = server.result or {}
    if "code" not in result:
        reason = result.get("error", "keine Antwort vom Browser")
        raise SignInNeeded(
            f"Die Anmeldung bei {_provider_name(client)} ist gescheitert ({reason})."
        )
    form = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
    }
    answer = request_token(client, form)
    if not answer.get("refresh_token"):
        raise SignInNeeded(
            f"{_provider_name(client)} hat kein Refresh-Token geschickt: ohne es müsste die "
            "Anmeldung stündlich wiederholt werden. Bitte den Zugriff in den Kontoeinstellungen "
            "entfernen und noch einmal anmelden."
        )
    cache.store(client, username, token_entry(answer, clock()))


def authorize_url(
    client: OAuthClient, username: str, redirect_uri: str, challenge: str, state: str
) -> str:
    """The authorization request (RFC 6749 §4.1.1) with PKCE (RFC 7636 §4.3);
    ``access_type=offline`` and ``prompt=consent`` make Google send a refresh token."""
    query = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": GOOGLE_SCOPE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": username,
    }
    base = client.authorize_url or GOOGLE_AUTHORIZE_URL
    return f"{base}?{urllib.parse.urlencode(query)}"


# -- Microsoft: device code flow with msal -------------------------------------------------


def _microsoft_app(client: OAuthClient, serialized: str = "") -> Any:
    import msal  # imported late: only Microsoft sign-ins need it

    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(serialized)
    authority = MICROSOFT_AUTHORITY.format(tenant=client.tenant)
    return msal.PublicClientApplication(client.client_id, authority=authority, token_cache=cache)


def _microsoft_silent(
    client: OAuthClient, username: str, entry: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """msal's silent acquisition: the cached access token, or a refreshed one."""
    serialized = str(entry.get("msal", ""))
    try:  # msal may ask Microsoft already while it is built (authority discovery)
        app = _microsoft_app(client, serialized)
        accounts = app.get_accounts(username=username)
        if not accounts:
            raise _not_signed_in(client, username)
        result = app.acquire_token_silent_with_error(list(MICROSOFT_SCOPES), account=accounts[0])
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors
        raise MailboxError(
            f"Der Anmeldeserver von Microsoft ist nicht erreichbar ({exc})"
        ) from None
    if result and result.get("access_token"):
        fresh = app.token_cache.serialize() if app.token_cache.has_state_changed else serialized
        return str(result["access_token"]), {"msal": fresh}
    error = str((result or {}).get("error", ""))
    if error in ("invalid_grant", "interaction_required") or not result:
        raise revoked(client, username, _fingerprint(serialized))
    raise MailboxError(f"Microsoft gibt kein Zugangstoken heraus ({error})")


def login_device_code(
    client: OAuthClient, username: str, cache: TokenCache, *, say: Callable[[str], None]
) -> None:
    """Sign in with the device code flow (RFC 8628): the owner opens a web page on any
    device and types the code shown; msal polls until she is done."""
    app = _microsoft_app(client)
    flow = app.initiate_device_flow(scopes=list(MICROSOFT_SCOPES))
    if "user_code" not in flow:
        raise SignInNeeded(
            f"Microsoft bietet keine Anmeldung per Code an ({flow.get('error', 'unbekannt')})."
        )
    say(
        f"Bitte {flow['verification_uri']} öffnen (auf einem beliebigen Gerät), den Code "
        f"{flow['user_code']} eingeben und sich als {username} anmelden."
    )
    result = app.acquire_token_by_device_flow(flow)
    if not result.get("access_token"):
        raise SignInNeeded(
            f"Die Anmeldung bei Microsoft ist gescheitert ({result.get('error', 'unbekannt')})."
        )
    cache.store(client, username, {"msal": app.token_cache.serialize()})


def sign_in(server: ServerConfig, cache: TokenCache, *, say: Callable[[str], None]) -> None:
    """``nachfass-bot auth login`` for one server section's built-in flow."""
    if server.oauth is None:
        raise ConfigError(f"[{server.section}] hat kein oauth_provider: nichts anzumelden")
    if server.oauth.provider == "microsoft":
        login_device_code(server.oauth, server.username, cache, say=say)
    else:
        login_loopback(server.oauth, server.username, cache, say=say)

"""Tests for loading and validating the TOML configuration."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from nachfass_bot.config import (
    ServerConfig,
    default_config_path,
    load_config,
    parse_config,
    resolve_config_path,
)
from nachfass_bot.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
CONFIG_PATH = Path("/home/erika/.config/nachfass-bot/config.toml")


def minimal() -> dict[str, Any]:
    """The smallest valid configuration, as tomllib would return it."""
    return {
        "owner": {"name": "Erika", "email": "erika@example.de", "signature": "Gruß\nErika"},
        "imap": {"host": "imap.example.de", "username": "erika", "password_env": "IMAP_PW"},
        "smtp": {"host": "smtp.example.de", "username": "erika", "password_env": "SMTP_PW"},
    }


def changed(section: str, **values: Any) -> dict[str, Any]:
    """``minimal()`` with keys of one section set (or removed, for value None)."""
    data = minimal()
    table = data.setdefault(section, {})
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return data


def problems_of(data: dict[str, Any]) -> str:
    """The message of the ConfigError that ``data`` must raise."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, CONFIG_PATH)
    return str(info.value)


def server(**overrides: Any) -> ServerConfig:
    fields: dict[str, Any] = {
        "host": "imap.example.de",
        "port": 993,
        "security": "ssl",
        "username": "erika",
        "password_env": None,
        "password_command": None,
        "section": "imap",
    }
    return ServerConfig(**(fields | overrides))


# --- the example file ---------------------------------------------------------------


def test_example_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NACHFASS_IMAP_PASSWORT", "imap-geheim")
    monkeypatch.setenv("NACHFASS_SMTP_PASSWORT", "smtp-geheim")
    config = load_config(EXAMPLE)
    assert config.path == EXAMPLE
    assert config.owner.email == "erika@mustermann-text.de"
    assert config.owner.signature.startswith("Viele Grüße")
    assert (config.imap.host, config.imap.port, config.imap.security) == (
        "imap.example.de",
        993,
        "ssl",
    )
    assert config.imap.password() == "imap-geheim"
    assert config.smtp.password() == "smtp-geheim"
    assert config.sending.days == frozenset({0, 1, 2, 3, 4})
    assert config.store.path == EXAMPLE.parent / "nachfass.db"


_OAUTH_LINE = re.compile(r"^# (auth|token_command|oauth_[a-z_]+) = .*\n", re.MULTILINE)


def test_example_file_commented_keys_are_known(tmp_path: Path) -> None:
    text = _OAUTH_LINE.sub("", EXAMPLE.read_text(encoding="utf-8"))  # the other way, below
    text = re.sub(r"^# (?=[a-z_]+ = )", "", text, flags=re.MULTILINE)
    text = text.replace('password_env = "NACHFASS_IMAP_PASSWORT"\n', "")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.templates_dir == tmp_path / "vorlagen"
    assert config.imap.password_command == "pass show mail/imap"
    assert config.imap.password_env is None
    assert (config.mailbox.junk_folder, config.mailbox.sent_folder) == (
        "Spam",
        "Gesendete Objekte",
    )


def test_example_file_oauth_lines_make_a_valid_config(tmp_path: Path) -> None:
    """Uncommented as the comments say: [imap] signs in by itself, [smtp] by a command."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"^password_(env|command) = .*\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^# (?=(auth|token_command|oauth_[a-z_]+) = )", "", text, flags=re.MULTILINE)
    text = text.replace('token_command = "oama access erika@mustermann-text.de"\n', "", 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.imap.oauth is not None and config.imap.oauth.provider == "microsoft"
    assert config.imap.oauth.client_secret_env == "NACHFASS_OAUTH_SECRET"
    assert config.smtp.token_command == "oama access erika@mustermann-text.de"


# --- defaults and paths -------------------------------------------------------------


def test_defaults_applied() -> None:
    config = parse_config(minimal(), CONFIG_PATH)
    assert (config.imap.port, config.imap.security) == (993, "ssl")
    assert (config.smtp.port, config.smtp.security) == (587, "starttls")
    assert (config.imap.section, config.smtp.section) == ("imap", "smtp")
    assert config.store.path == CONFIG_PATH.parent / "nachfass.db"
    sending = config.sending
    assert sending.timezone == "Europe/Berlin"
    assert sending.days == frozenset({0, 1, 2, 3, 4})
    assert (sending.start, sending.end) == (time(9), time(17))
    assert (sending.bundesland, sending.christmas_freeze) == ("NW", True)
    assert config.mailbox.junk_folder is None
    assert config.mailbox.sent_folder is None
    assert config.mailbox.extra_folders == ()
    assert config.mailbox.poll_minutes == 5
    assert config.templates_dir is None
    assert config.preferences.payment.reminder_days == 10
    assert dict(config.preferences.clients) == {}


def test_values_override_defaults() -> None:
    data = changed("sending", days="mo,mi", hours="08:30-12:00", bundesland="by")
    data["sending"]["christmas_freeze"] = False
    data["mailbox"] = {"extra_folders": ["Kunden"], "poll_minutes": 15, "junk_folder": "Spam"}
    config = parse_config(data, CONFIG_PATH)
    assert config.sending.days == frozenset({0, 2})
    assert (config.sending.start, config.sending.end) == (time(8, 30), time(12))
    assert config.sending.bundesland == "BY"
    assert config.sending.christmas_freeze is False
    assert config.mailbox.extra_folders == ("Kunden",)
    assert config.mailbox.poll_minutes == 15
    assert config.mailbox.junk_folder == "Spam"


def test_relative_paths_resolved_against_config_dir(tmp_path: Path) -> None:
    data = changed("store", path="daten/bot.db")
    data["templates_dir"] = "vorlagen"
    config = parse_config(data, tmp_path / "config.toml")
    assert config.store.path == tmp_path / "daten" / "bot.db"
    assert config.templates_dir == tmp_path / "vorlagen"


def test_absolute_store_path_kept(tmp_path: Path) -> None:
    config = parse_config(changed("store", path=str(tmp_path / "x.db")), CONFIG_PATH)
    assert config.store.path == tmp_path / "x.db"


def test_relative_config_path_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_config(minimal(), Path("config.toml"))
    assert config.path == tmp_path / "config.toml"
    assert config.store.path == tmp_path / "nachfass.db"


def test_config_is_frozen_and_hashable() -> None:
    config = parse_config(minimal(), CONFIG_PATH)
    with pytest.raises(AttributeError):
        config.owner = config.owner  # type: ignore[misc]
    assert isinstance(hash(config), int)


# --- single problems: one line, German, naming the key ------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (changed("imap", host=None), "[imap] host fehlt"),
        (changed("owner", email=None), "[owner] email fehlt"),
        (changed("smtp", port="587"), "[smtp] port muss eine Zahl sein"),
        (changed("smtp", port=True), "[smtp] port muss eine Zahl sein"),
        (changed("smtp", port=587.0), "[smtp] port muss eine ganze Zahl sein"),
        (changed("imap", port=70000), "[imap] port muss zwischen 1 und 65535 liegen"),
        (changed("imap", host=993), "[imap] host muss ein Text"),
        (changed("owner", name="  "), "[owner] name darf nicht leer sein"),
        (changed("owner", email="erika.example.de"), "[owner] email sieht nicht wie"),
        (changed("imap", security="tls"), '[imap] security muss "ssl"'),
        (changed("sending", timezone="Europe/Berln"), "[sending] timezone „Europe/Berln“"),
        (changed("sending", bundesland="XY"), "[sending] bundesland „XY“ ist kein"),
        (changed("sending", days="mo-xx"), "[sending] days ist ungültig: "),
        (changed("sending", hours="17:00-09:00"), "[sending] hours ist ungültig: "),
        (changed("sending", christmas_freeze="ja"), "[sending] christmas_freeze muss true"),
        (changed("mailbox", extra_folders="Kunden"), "[mailbox] extra_folders muss eine Liste"),
        (changed("mailbox", poll_minutes=0), "[mailbox] poll_minutes muss zwischen"),
        (changed("store", path=""), "[store] path darf nicht leer sein"),
        (changed("imap", password_env=None), "[imap] password_env oder password_command fehlt"),
        (changed("imap", password_command="pass x"), "bitte nur eins von beiden"),
        (changed("imap", password_env="mein geheimes"), "[imap] password_env muss der Name"),
        (changed("smtp", password_env=None, password_command="pass 'x"), "nicht zerlegen"),
    ],
)
def test_single_problem_is_one_line(data: dict[str, Any], expected: str) -> None:
    message = problems_of(data)
    assert message.startswith(f"Konfiguration {CONFIG_PATH}: ")
    assert "\n" not in message
    assert expected in message


def test_section_of_wrong_type() -> None:
    data = minimal()
    data["imap"] = "imap.example.de"
    message = problems_of(data)
    assert "[imap] muss ein Abschnitt sein" in message
    assert "fehlt" not in message  # its keys are not reported again


def test_missing_section_lists_its_required_keys() -> None:
    data = minimal()
    del data["owner"]
    message = problems_of(data)
    for key in ("name", "email", "signature"):
        assert f"[owner] {key} fehlt" in message


def test_several_problems_all_listed() -> None:
    data = changed("imap", host=None, hots="imap.example.de")
    data["smtp"]["port"] = "587"
    data["sending"] = {"timezone": "Mars/Olympus", "bundesland": "XY"}
    message = problems_of(data)
    lines = message.splitlines()
    assert lines[0] == f"Die Konfiguration {CONFIG_PATH} ist fehlerhaft:"
    assert len(lines) == 6
    for expected in (
        "[imap] host fehlt",
        "[smtp] port muss eine Zahl sein",
        "[sending] timezone „Mars/Olympus“",
        "[sending] bundesland „XY“",
        "unbekannter Schlüssel [imap] hots — Tippfehler? Meintest du „host“?",
    ):
        assert sum(expected in line for line in lines[1:]) == 1, expected


# --- unknown keys -------------------------------------------------------------------


def test_typo_suggests_closest_key() -> None:
    message = problems_of(changed("imap", hots="x"))
    assert message.endswith("unbekannter Schlüssel [imap] hots — Tippfehler? Meintest du „host“?")


def test_typo_in_section_name() -> None:
    data = minimal()
    data["sendng"] = {"days": "mo-fr"}
    assert "unbekannter Abschnitt [sendng] — Tippfehler? Meintest du [sending]?" in problems_of(
        data
    )


def test_key_in_wrong_section_names_its_home() -> None:
    message = problems_of(changed("sending", poll_minutes=5))
    assert "[sending] poll_minutes" in message and "gehört in [mailbox]" in message


def test_top_level_key_after_a_section() -> None:
    message = problems_of(changed("mailbox", templates_dir="vorlagen"))
    assert "[mailbox] templates_dir" in message and "ganz oben" in message


def test_unknown_key_without_suggestion() -> None:
    message = problems_of(changed("owner", xyzzy=1))
    assert message.endswith("unbekannter Schlüssel [owner] xyzzy — Tippfehler?")


# --- passwords ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["password", "passwort", "passwd"])
def test_inline_password_rejected_without_echo(key: str) -> None:
    message = problems_of(changed("smtp", **{key: "Sup3rGeheim"}))
    assert f"[smtp] {key}" in message
    assert "password_env" in message and "password_command" in message
    assert "Tippfehler" not in message
    assert "Sup3rGeheim" not in message


def test_typo_never_suggests_an_inline_password() -> None:
    message = problems_of(changed("imap", passwrd="x"))
    assert "Meintest du „password“" not in message


def test_password_env_value_never_echoed() -> None:
    message = problems_of(changed("imap", password_env="Sup3r Geheim!"))
    assert "Sup3r" not in message


def test_password_from_env() -> None:
    config = server(password_env="IMAP_PW")
    assert config.password({"IMAP_PW": "geheim"}) == "geheim"


def test_password_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NACHFASS_TEST_PW", "aus-der-umgebung")
    assert server(password_env="NACHFASS_TEST_PW").password() == "aus-der-umgebung"


@pytest.mark.parametrize("env", [{}, {"IMAP_PW": ""}])
def test_password_env_missing(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^\[imap\] password_env: .*IMAP_PW"):
        server(password_env="IMAP_PW").password(env)


def test_password_from_command() -> None:
    assert server(password_command="printf geheim").password() == "geheim"


def test_password_command_first_line_without_newline() -> None:
    command = "printf 'geheim\\nuser: erika\\n'"
    assert server(password_command=command).password() == "geheim"


def python_command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_failing_password_command_hides_password() -> None:
    code = "import sys; print('geheim'); print('geheim kaputt', file=sys.stderr); sys.exit(3)"
    with pytest.raises(ConfigError) as info:
        server(section="smtp", password_command=python_command(code)).password()
    message = str(info.value)
    assert message.startswith("[smtp] password_command")
    assert "Fehlercode 3" in message and "kaputt" in message
    assert "geheim" not in message
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("printf ''", "kein Passwort ausgegeben"),
        ("/nonexistent/pw-tool geheim", "„pw-tool“ lässt sich nicht starten"),
        ("printf 'geheim", "nicht zerlegen"),
    ],
)
def test_password_command_problems(command: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        server(password_command=command).password()
    assert expected in str(info.value)
    assert "geheim" not in str(info.value)


def test_password_command_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def too_slow(args: list[str], **kwargs: Any) -> None:
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", too_slow)
    with pytest.raises(ConfigError, match="nach 30 Sekunden") as info:
        server(password_command="pass show geheim").password()
    assert "geheim" not in str(info.value)
    assert info.value.__cause__ is None


# --- security = "none" --------------------------------------------------------------


def test_security_none_refused_for_remote_host() -> None:
    message = problems_of(changed("smtp", security="none"))
    assert '[smtp] security = "none" ist nur für localhost erlaubt' in message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST.", "::1"])
def test_security_none_accepted_for_loopback(host: str) -> None:
    config = parse_config(changed("smtp", host=host, security="none", port=1025), CONFIG_PATH)
    assert (config.smtp.security, config.smtp.port) == ("none", 1025)


@pytest.mark.parametrize("host", ["128.0.0.1", "localhost.example.de", "::2"])
def test_security_none_refused_for_lookalikes(host: str) -> None:
    assert "nur für localhost" in problems_of(changed("imap", host=host, security="none"))


# --- files --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "fehlt.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"Konfigurationsdatei nicht gefunden: {path} — lege sie mit")
    assert "config.example.toml" in message


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[owner]\nname = "Erika"\nemail = erika@example.de\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"Konfiguration {path}: TOML-Syntaxfehler in Zeile 3, Spalte 9: "
        "ungültiger Wert (Text in Anführungszeichen?)"
    )


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[owner]\nname = "Jürgen"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ein Ordner"):
        load_config(tmp_path)


def test_load_collects_validation_problems(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[imap]\nhots = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"Die Konfiguration {path} ist fehlerhaft:\n")
    assert "[owner] name fehlt" in message and "Meintest du „host“?" in message


# --- where the file is --------------------------------------------------------------


def test_default_path_uses_xdg_config_home() -> None:
    env = {"XDG_CONFIG_HOME": "/srv/conf", "HOME": "/home/erika"}
    assert default_config_path(env) == Path("/srv/conf/nachfass-bot/config.toml")


@pytest.mark.parametrize("xdg", ["", "relativ/conf"])
def test_default_path_falls_back_to_home(xdg: str) -> None:
    env = {"XDG_CONFIG_HOME": xdg, "HOME": "/home/erika"}
    assert default_config_path(env) == Path("/home/erika/.config/nachfass-bot/config.toml")


def test_resolve_prefers_cli_over_env_over_default() -> None:
    env = {"NACHFASS_CONFIG": "/etc/nachfass.toml", "XDG_CONFIG_HOME": "/srv/conf"}
    assert resolve_config_path("/tmp/cli.toml", env) == Path("/tmp/cli.toml")
    assert resolve_config_path(None, env) == Path("/etc/nachfass.toml")
    assert resolve_config_path("", env) == Path("/etc/nachfass.toml")
    del env["NACHFASS_CONFIG"]
    assert resolve_config_path(None, env) == Path("/srv/conf/nachfass-bot/config.toml")


def test_resolve_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/erika")
    assert resolve_config_path("~/bot.toml", {}) == Path("/home/erika/bot.toml")


# -- auth = "oauth2" --------------------------------------------------------------------


def oauth(section: str, **values: Any) -> dict[str, Any]:
    """``minimal()`` with ``section`` switched to OAuth2 and no password source."""
    data = minimal()
    data[section] = {
        key: value for key, value in data[section].items() if not key.startswith("password")
    }
    data[section].update({"auth": "oauth2", **values})
    return data


def test_oauth2_with_a_token_command() -> None:
    config = parse_config(oauth("imap", token_command="oama access erika@outlook.de"), CONFIG_PATH)
    assert config.imap.auth == "oauth2"
    assert config.imap.token_command == "oama access erika@outlook.de"
    assert config.imap.password_env is None and config.imap.oauth is None
    assert config.smtp.auth == "password"  # each section chooses for itself


def test_oauth2_with_the_built_in_flow() -> None:
    data = oauth("smtp", oauth_provider="Microsoft", oauth_client_id=" 1234-abcd ")
    client = parse_config(data, CONFIG_PATH).smtp.oauth
    assert client is not None
    assert (client.provider, client.client_id, client.tenant) == (
        "microsoft",
        "1234-abcd",
        "common",
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "[imap] token_command oder oauth_provider fehlt"),
        ({"token_command": "x", "oauth_provider": "google"}, "nur eins von beiden"),
        ({"token_command": "x", "password_env": "PW"}, '[imap] password_env passt nicht zu auth'),
        ({"oauth_provider": "yahoo", "oauth_client_id": "x"}, 'muss "microsoft" oder "google"'),
        ({"oauth_provider": "google"}, "[imap] oauth_client_id fehlt"),
        ({"token_command": "x", "oauth_client_id": "y"}, "passt nur zu oauth_provider"),
        (
            {"oauth_provider": "google", "oauth_client_id": "x",
             "oauth_token_url": "http://token.example.de/token"},
            "muss mit https:// beginnen",
        ),
        ({"token_command": "'offen"}, "lässt sich nicht zerlegen"),
        ({"token_command": "x", "password": "geheim"}, "Passwörter gehören nicht in die Datei"),
    ],
)  # fmt: skip
def test_oauth2_problems_are_german_and_name_the_key(values: dict[str, Any], expected: str) -> None:
    message = problems_of(oauth("imap", **values))
    assert expected in message
    assert "geheim" not in message


def test_oauth_keys_are_refused_with_password_auth() -> None:
    message = problems_of(changed("imap", token_command="oama access x"))
    assert '[imap] token_command passt nur zu auth = "oauth2"' in message


def test_unknown_auth_method() -> None:
    assert 'muss "password"' in problems_of(changed("imap", auth="kerberos"))


def test_loopback_token_url_may_be_plain_http() -> None:
    data = oauth(
        "imap", oauth_provider="google", oauth_client_id="x",
        oauth_token_url="http://127.0.0.1:8080/token",
    )  # fmt: skip
    client = parse_config(data, CONFIG_PATH).imap.oauth
    assert client is not None and client.token_url == "http://127.0.0.1:8080/token"


def test_token_command_prints_the_first_line_like_password_command() -> None:
    command = python_command("print('at-123'); print('zweite Zeile')")
    assert server(auth="oauth2", token_command=command).token() == "at-123"
    empty = python_command("pass")
    with pytest.raises(ConfigError, match="hat kein Zugangstoken ausgegeben"):
        server(auth="oauth2", token_command=empty).token()

"""``nachfass-bot init`` and ``service install``: files written once, never overwritten."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

from nachfass_bot.cli.main import main
from nachfass_bot.cli.service import unit_text, user_unit_dir
from nachfass_bot.config import load_config, parse_config
from nachfass_bot.domain.models import SentCopy
from nachfass_bot.domain.providers import PRESETS, Preset, preset_for_address, preset_named
from nachfass_bot.errors import ConfigError

EXAMPLE = Path(__file__).parents[1] / "config.example.toml"
SECRET = "streng-geheim-4711"


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("NACHFASS_CONFIG", raising=False)
    return home


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example config, as an owner would have filled it in, passwords in the env."""
    path = tmp_path / "mein ordner" / "config.toml"
    path.parent.mkdir()
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("NACHFASS_IMAP_PASSWORT", SECRET)
    monkeypatch.setenv("NACHFASS_SMTP_PASSWORT", SECRET)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- init ---------------------------------------------------------------------------------------


def test_init_writes_the_commented_config_and_says_what_next(
    xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "init")

    target = xdg / "nachfass-bot" / "config.toml"
    assert code == 0
    assert f"Konfiguration angelegt: {target}" in out
    assert "nachfass-bot check" in out
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Angelegt von „nachfass-bot init“")
    assert text.endswith(EXAMPLE.read_text(encoding="utf-8"))
    assert target.stat().st_mode & 0o077 == 0  # only the owner reads it
    config = load_config(target)  # a valid config, waiting for real values
    assert config.digest.day == 0 and config.digest.at.hour == 8


def test_init_never_overwrites(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = xdg / "nachfass-bot" / "config.toml"
    target.parent.mkdir(parents=True)
    target.write_text("# meine eigene\n", encoding="utf-8")

    code, out, err = run(capsys, "init")

    assert code == 1
    assert "überschreibe sie nicht" in err
    assert target.read_text(encoding="utf-8") == "# meine eigene\n"
    assert "angelegt" not in out


def test_init_writes_where_config_points(
    tmp_path: Path, xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "anderswo" / "bot.toml"
    code, _out, _err = run(capsys, "--config", str(target), "init")
    assert code == 0
    assert target.is_file()
    assert not (xdg / "nachfass-bot").exists()


def test_example_config_has_the_digest_section() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert data["digest"] == {"day": "mo", "time": "08:00"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"day": "mo-fr"}, "[digest] day muss genau ein Wochentag sein"),
        ({"day": "montags"}, "[digest] day ist ungültig"),
        ({"time": "8 Uhr"}, '[digest] time muss eine Uhrzeit wie "08:00" sein'),
        ({"time": "25:00"}, '[digest] time muss eine Uhrzeit wie "08:00" sein'),
        ({"tag": "mo"}, "unbekannter Schlüssel [digest] tag"),
    ],
)
def test_digest_config_problems_are_german(
    tmp_path: Path, values: dict[str, str], problem: str
) -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["digest"] = values
    with pytest.raises(ConfigError) as info:
        parse_config(data, tmp_path / "config.toml")
    assert problem in str(info.value)


def test_digest_config_day_and_time(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["digest"] = {"day": "Freitag", "time": "7:30"}
    config = parse_config(data, tmp_path / "config.toml")
    assert (config.digest.day, config.digest.at.hour, config.digest.at.minute) == (4, 7, 30)


# -- service install ----------------------------------------------------------------------------


def test_service_install_writes_the_user_unit(
    xdg: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "--config", str(config_file), "service", "install")

    unit = xdg / "systemd" / "user" / "nachfass-bot.service"
    assert code == 0
    assert f"Dienst angelegt: {unit}" in out
    assert "  systemctl --user daemon-reload\n" in out
    assert "  systemctl --user enable --now nachfass-bot\n" in out
    text = unit.read_text(encoding="utf-8")
    lines = text.splitlines()
    script = Path(sys.executable).parent / "nachfass-bot"
    assert f'ExecStart={script} --config "{config_file}" run' in lines
    assert script.is_absolute() and config_file.is_absolute()
    assert "Restart=on-failure" in lines
    assert "WantedBy=default.target" in lines
    assert "#   NACHFASS_IMAP_PASSWORT=…" in lines
    # The password variables are only named, in comments; no value ever lands in the file.
    assert SECRET not in text
    assert not [line for line in lines if line.startswith(("Environment=", "EnvironmentFile="))]


def test_service_install_never_overwrites_without_force(
    xdg: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = xdg / "systemd" / "user" / "nachfass-bot.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/mein/eigener/dienst\n", encoding="utf-8")

    code, _out, err = run(capsys, "--config", str(config_file), "service", "install")
    assert code == 1
    assert "--force" in err
    assert unit.read_text(encoding="utf-8") == "[Service]\nExecStart=/mein/eigener/dienst\n"

    code, _out, _err = run(capsys, "--config", str(config_file), "service", "install", "--force")
    assert code == 0
    assert "Restart=on-failure" in unit.read_text(encoding="utf-8")


def test_service_install_needs_a_valid_config(
    xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "--config", str(tmp_path / "fehlt.toml"), "service", "install")
    assert code == 2
    assert "nicht gefunden" in err
    assert not (xdg / "systemd").exists()


def test_unit_dir_follows_xdg_and_ignores_a_relative_one(tmp_path: Path) -> None:
    assert user_unit_dir({"XDG_CONFIG_HOME": "/srv/conf"}) == Path("/srv/conf/systemd/user")
    home = {"XDG_CONFIG_HOME": "relativ", "HOME": str(tmp_path)}
    assert user_unit_dir(home) == tmp_path / ".config" / "systemd" / "user"


def test_unit_escapes_percent_dollar_and_quotes(tmp_path: Path, config_file: Path) -> None:
    odd = tmp_path / "100% $HOME" / "config.toml"
    odd.parent.mkdir()
    odd.write_text(config_file.read_text(encoding="utf-8"), encoding="utf-8")
    text = unit_text(load_config(odd), Path("/opt/nachfass bot/bin/nachfass-bot"))
    expected = (
        'ExecStart="/opt/nachfass bot/bin/nachfass-bot" --config '
        f'"{tmp_path}/100%% $$HOME/config.toml" run'
    )
    assert expected in text.splitlines()


def test_password_command_needs_no_hint(tmp_path: Path, config_file: Path) -> None:
    text = config_file.read_text(encoding="utf-8").replace(
        'password_env = "NACHFASS_IMAP_PASSWORT"', 'password_command = "pass show mail"'
    )
    text = text.replace(
        'password_env = "NACHFASS_SMTP_PASSWORT"', 'password_command = "pass show mail"'
    )
    config_file.write_text(text, encoding="utf-8")
    unit = unit_text(load_config(config_file), Path("/usr/bin/nachfass-bot"))
    assert "password_command" in unit
    assert "EnvironmentFile" not in unit
    assert os.environ["NACHFASS_IMAP_PASSWORT"] not in unit


# -- init with a provider preset (issue 12, point 2) -----------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.key)
def test_init_with_a_provider_fills_in_a_config_the_bot_accepts(
    tmp_path: Path, xdg: Path, capsys: pytest.CaptureFixture[str], preset: Preset
) -> None:
    target = tmp_path / f"{preset.key}.toml"
    address = f"anna@{preset.domains[0] if preset.domains else 'berger-design.de'}"
    code, out, _err = run(
        capsys, "--config", str(target), "init", "--provider", preset.key, "--address", address
    )

    assert code == 0, out
    assert f"Voreinstellungen für {preset.name}" in out
    config = load_config(target)
    assert (config.imap.host, config.imap.port, config.imap.security) == (
        preset.imap.host,
        preset.imap.port,
        preset.imap.security,
    )
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == (
        preset.smtp.host,
        preset.smtp.port,
        preset.smtp.security,
    )
    assert config.owner.email == config.imap.username == config.smtp.username == address
    # folder names only as hints: a wrong active name would stop the bot at start-up
    assert (config.mailbox.junk_folder, config.mailbox.sent_folder) == (None, None)
    text = target.read_text(encoding="utf-8")
    for hint in (preset.junk_folder, preset.sent_folder):
        assert hint is None or f'_folder = "{hint}"   # so heißt' in text
    assert config.mailbox.sent_copy is (SentCopy.SERVER if preset.files_sent else SentCopy.AUTO)
    assert ("kennt keine Adressen mit „+“" in out) == (not preset.plus_addressing)
    assert ("nur noch OAuth2" in out) == (preset.auth == "oauth2")
    assert (config.imap.auth, config.smtp.auth) == (
        preset.auth if preset.auth == "oauth2" else "password",
    ) * 2


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("anna.berger@gmx.de", "gmx"),
        ("Anna@WEB.DE", "webde"),
        ("anna@t-online.de", "telekom"),
        ("anna@googlemail.com", "gmail"),
        ("anna@outlook.de", "microsoft"),
        ("anna@icloud.com", "icloud"),
        ("anna@posteo.de", "posteo"),
        ("anna@mailbox.org", "mailboxorg"),
        ("anna@berger-design.de", None),
    ],
)
def test_the_provider_is_guessed_from_the_address(address: str, key: str | None) -> None:
    preset = preset_for_address(address)
    assert (preset.key if preset else None) == key


def test_init_guesses_the_provider_from_the_address(
    tmp_path: Path, xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    code, out, _err = run(capsys, "--config", str(target), "init", "--address", "anna@web.de")
    assert code == 0
    assert "Voreinstellungen für WEB.DE" in out
    assert "POP3/IMAP-Abruf" in out
    assert '# junk_folder = "Spamverdacht"' in target.read_text(encoding="utf-8")


def test_init_with_an_own_domain_fills_in_the_address_only(
    tmp_path: Path, xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    code, out, _err = run(capsys, "--config", str(target), "init", "--address", "anna@berger.de")
    assert code == 0
    assert "Voreinstellungen" not in out
    config = load_config(target)
    assert config.owner.email == config.imap.username == "anna@berger.de"
    assert config.imap.host == "imap.example.de"


def test_init_with_an_unknown_provider_names_the_known_ones(
    tmp_path: Path, xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    code, _out, err = run(capsys, "--config", str(target), "init", "--provider", "aol")
    assert code == 1
    assert "„aol“ kenne ich nicht" in err and "gmx" in err
    assert not target.exists()


def test_presets_are_named_once_and_by_every_alias() -> None:
    assert len({preset.key for preset in PRESETS}) == len(PRESETS) >= 10
    for name in ("GMX", "web.de", "T-Online", "1und1", "STRATO", "google", "M365", "apple"):
        assert preset_named(name) is not None, name

"""``nachfass-bot service install`` and ``init``: files an owner would otherwise write by hand.

The systemd user unit runs ``nachfass-bot --config <file> run`` and restarts it after a
failure, but not after a config error (exit code 2: it would fail again) and not in a
tight loop (a refused password tried every few seconds can lock the mail account).
Passwords are never written into the unit: it only names the variables, as a comment.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from nachfass_bot.config import Config
from nachfass_bot.domain.providers import Preset
from nachfass_bot.errors import NachfassError
from nachfass_bot.resources import bundled_path

UNIT_NAME = "nachfass-bot.service"
ENABLE_COMMANDS = (
    "systemctl --user daemon-reload",
    "systemctl --user enable --now nachfass-bot",
)
EXAMPLE_NAME = "config.example.toml"


def user_unit_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (absolute values only), else ``~/.config/…``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        home = env.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    return base / "systemd" / "user"


def script_path() -> Path:
    """The absolute path of the installed ``nachfass-bot`` script.

    Next to the running interpreter (a virtualenv's ``bin``); the path is not resolved,
    since resolving a venv's python symlink would lead out of the venv.
    """
    beside = Path(sys.executable).absolute().parent / "nachfass-bot"
    if beside.exists():
        return beside
    argv0 = Path(sys.argv[0])
    if argv0.name == "nachfass-bot" and argv0.exists():
        return argv0.absolute()
    raise NachfassError(
        "Das Programm nachfass-bot wurde nicht gefunden. Installiere es mit "
        "„pip install nachfass-bot“ (am besten in einer virtuellen Umgebung) und rufe "
        "dann dieses nachfass-bot auf."
    )


def secret_variables(config: Config) -> list[str]:
    """The environment variables the service needs: passwords and an OAuth2 client
    secret (Google), each once."""
    names = [
        name
        for server in (config.imap, config.smtp)
        for name in (server.password_env, server.oauth.client_secret_env if server.oauth else None)
        if name
    ]
    return list(dict.fromkeys(names))


def unit_text(config: Config, script: Path) -> str:
    """The text of the systemd user unit for ``config``."""
    variables = secret_variables(config)
    exec_start = _command_line([str(script), "--config", str(config.path), "run"])
    lines = [
        "# nachfass-bot als Dienst für Deinen Benutzer (systemd --user),",
        "# angelegt von „nachfass-bot service install“.",
        "#",
        "# Einschalten:  " + " && ".join(ENABLE_COMMANDS),
        "# Protokoll:    journalctl --user -u nachfass-bot -f",
        "# Ohne Anmeldung (Server, NAS) laufen lassen: loginctl enable-linger $USER",
        "",
        "[Unit]",
        "Description=nachfass-bot: fasst höflich bei schweigenden Kunden nach",
        "# Nach 5 Fehlstarts in 30 Minuten gibt systemd auf: ein falsches Passwort soll nicht",
        "# endlos probiert werden (Anbieter sperren sonst das Konto). Nach dem Beheben:",
        "# systemctl --user restart nachfass-bot",
        "StartLimitIntervalSec=1800",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
        "RestartSec=120",
        "# Exit-Code 2 heißt: Fehler in der Konfiguration, da hilft kein Neustart.",
        "RestartPreventExitStatus=2",
        *_password_hint(variables, config.path.parent),
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def _password_hint(variables: Sequence[str], config_dir: Path) -> list[str]:
    if not variables:
        return [
            "# Passwörter holt der Bot über password_command; hier ist nichts einzutragen.",
        ]
    env_file = _escape(str(config_dir / "passwoerter.env"))
    names = ", ".join(dict.fromkeys(variables))
    return [
        "#",
        "# Passwörter gehören nicht in diese Datei. Der Dienst braucht: " + names + ".",
        f"# Schreib sie in eine Datei nur für Dich (chmod 600 {env_file}), je Zeile",
        *[f"#   {name}=…" for name in dict.fromkeys(variables)],
        "# und nimm das Kommentarzeichen vor der nächsten Zeile weg:",
        f"# EnvironmentFile={env_file}",
        "# Sicherer: password_command in der Konfiguration (z. B. pass oder secret-tool).",
    ]


def _command_line(args: Sequence[str]) -> str:
    """Join arguments for ``ExecStart=``: quoted where needed; ``%``, ``$`` and ``\\``
    escaped (systemd expands specifiers, variables and C escapes there)."""
    parts = []
    for arg in args:
        escaped = _escape(arg).replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
        needs_quotes = any(ch.isspace() for ch in arg) or '"' in arg or not arg
        parts.append(f'"{escaped}"' if needs_quotes else escaped)
    return " ".join(parts)


def _escape(text: str) -> str:
    """systemd expands ``%`` specifiers in unit files; a literal ``%`` is written ``%%``."""
    return text.replace("%", "%%")


def install_unit(
    config: Config, *, force: bool = False, env: Mapping[str, str] | None = None
) -> Path:
    """Write the unit; an existing one is replaced only with ``force``. Returns its path."""
    target = user_unit_dir(env) / UNIT_NAME
    text = unit_text(config, script_path())
    if target.exists() and not force:
        raise NachfassError(
            f"Es gibt schon einen Dienst {target}. Ich überschreibe ihn nicht; mit "
            "„nachfass-bot service install --force“ ersetze ich ihn."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


# -- init ----------------------------------------------------------------------------------


def example_config_path() -> Path:
    """The commented example config: package data in a wheel, the repo root in a checkout."""
    return bundled_path(EXAMPLE_NAME)


def init_text(today: date, preset: Preset | None = None, address: str | None = None) -> str:
    """The example config with a note on top saying where it came from and what next;
    with a provider ``preset`` (and the owner's ``address``) its values filled in."""
    example = example_config_path().read_text(encoding="utf-8")
    note = (
        f"# Angelegt von „nachfass-bot init“ am {today:%d.%m.%Y}. Trage deine Daten ein und\n"
        "# prüfe sie dann mit „nachfass-bot check“.\n#\n"
    )
    if preset is not None:
        note += f"# Voreinstellungen für {preset.name} sind schon eingetragen.\n#\n"
        example = fill_in(example, preset_values(preset, address))
    elif address:
        example = fill_in(example, _address_values(address))
    return note + example


def toml_value(value: str | int | bool | Sequence[str]) -> str:
    """``value`` written as TOML: a basic string (escaped), number, boolean or list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


class Hint(str):
    """A value written as a comment: a folder name the bot finds by itself anyway, shown
    so the owner sees it (a wrong active name would stop the bot at start-up)."""

    __slots__ = ()


class Off(str):
    """A line to comment out: a password source where the preset signs in with OAuth2."""

    __slots__ = ()


Values = dict[str, dict[str, str | int | bool | Sequence[str]]]


def _address_values(address: str) -> Values:
    return {
        "owner": {"email": address},
        "imap": {"username": address},
        "smtp": {"username": address},
    }


def preset_values(preset: Preset, address: str | None) -> Values:
    """What a provider preset sets, section by section."""
    values = _address_values(address) if address else {"imap": {}, "smtp": {}}
    for section, server in (("imap", preset.imap), ("smtp", preset.smtp)):
        values[section].update(host=server.host, port=server.port, security=server.security)
        if preset.auth == "oauth2":
            # A token program is the way that works without an app registration of one's
            # own; the built-in sign-in is in the example's comments and the README.
            user = address or "anna@example.de"
            values[section].update(
                password_env=Off(f"NACHFASS_{section.upper()}_PASSWORT"),
                auth="oauth2",
                token_command=f"oama access {user}",
            )
    mailbox: dict[str, str | int | bool | Sequence[str]] = {
        "sent_copy": "server" if preset.files_sent else "auto"
    }
    if preset.junk_folder:
        mailbox["junk_folder"] = Hint(preset.junk_folder)
    if preset.sent_folder:
        mailbox["sent_folder"] = Hint(preset.sent_folder)
    values["mailbox"] = mailbox
    return values


_ASSIGNMENT = re.compile(r"^(#\s*)?(?P<key>[a-z_]+)\s*=\s*(?P<value>[^#]*?)(?P<comment>\s+#.*)?$")


def fill_in(text: str, values: Values) -> str:
    """``text`` (the example config) with ``values`` set: a key's line in its section,
    commented out or not, gets the value (an active line keeps its comment); a key the
    section has no line for goes right below the section's header."""
    lines = text.splitlines()
    present = {(section, match.group("key")) for section, match in _assignments(lines)}
    out: list[str] = []
    for (section, match), line in zip(_assignments_or_none(lines), lines, strict=True):
        header = _SECTION.match(line)
        if header:
            wanted = values.get(header.group(1), {})
            missing = [key for key in wanted if (header.group(1), key) not in present]
            out.extend([line, *(_assign(key, wanted[key]) for key in missing)])
        elif match is not None and match.group("key") in values.get(section, {}):
            key = match.group("key")
            comment = "" if match.group(1) else match.group("comment") or ""
            out.append(_assign(key, values[section][key]) + comment)
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _assign(key: str, value: str | int | bool | Sequence[str]) -> str:
    if isinstance(value, Off):
        return f'# {key} = {toml_value(str(value))}   # nicht bei auth = "oauth2"'
    if isinstance(value, Hint):
        return f"# {key} = {toml_value(str(value))}   # so heißt der Ordner dort meist"
    return f"{key} = {toml_value(value)}"


_SECTION = re.compile(r"^\[([a-z_.]+)\]\s*$")


def _assignments_or_none(lines: Sequence[str]) -> list[tuple[str, re.Match[str] | None]]:
    """Per line: the section it is in and its ``key = value`` match (also commented)."""
    section = ""
    result: list[tuple[str, re.Match[str] | None]] = []
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
        result.append((section, None if header else _ASSIGNMENT.match(line)))
    return result


def _assignments(lines: Sequence[str]) -> list[tuple[str, re.Match[str]]]:
    return [(section, m) for section, m in _assignments_or_none(lines) if m is not None]


def write_initial_config(
    target: Path, today: date, preset: Preset | None = None, address: str | None = None
) -> Path:
    """Write the commented config to ``target``; never replaces an existing file."""
    try:
        text = init_text(today, preset, address)
    except OSError as exc:
        raise NachfassError(f"Die Beispiel-Konfiguration fehlt in der Installation: {exc}") from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise NachfassError(
            f"Es gibt schon eine Konfiguration: {target}. Ich überschreibe sie nicht. "
            "Prüfe sie mit „nachfass-bot check“."
        ) from None
    except OSError as exc:
        raise NachfassError(f"{target} kann nicht angelegt werden: {exc.strerror}") from exc
    target.chmod(0o600)
    return target

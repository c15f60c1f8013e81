"""Store problems are one German line, not a traceback (docs/DESIGN.md, "The store").

The real console script runs in a subprocess. Root ignores file modes: run as root, the
subprocess gives up the capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH),
so a read-only file or folder stops it as it stops any user. Switching to ``nobody``
instead would not do: the interpreter may live below /root (pyenv), where nobody may go.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from loophelpers import PASSWORD_ENV, write_config
from nachfass_bot.adapters.retry import RETRY_DELAY_ENV
from servers import MailAccount, SmtpSink
from test_cli import SCRIPT

# No bytecode files, a password that is set (never used), no waiting between retries.
QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "NACHFASS_TEST_UNUSED": "x", RETRY_DELAY_ENV: "0"}
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_file_capabilities() -> None:
    """In the child before exec: root keeps its uid but obeys file modes from now on."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


# Every command that opens the store, with arguments that get it that far.
COMMANDS = {
    "tick": ("tick",),
    "run": ("run",),
    "list": ("list",),
    "track": ("track", "--kind", "angebot", "--to", "a@firma.test", "--subject", "A"),
    "digest": ("digest",),
    "show": ("show", "1"),
}
CONFIG = """
[owner]
name = "Anna Berger"
email = "anna@berger-design.test"
signature = "Anna"

[imap]
host = "localhost"
port = 1
security = "none"
username = "anna"
password_env = "NACHFASS_TEST_UNUSED"

[smtp]
host = "localhost"
port = 1
security = "none"
username = "anna"
password_env = "NACHFASS_TEST_UNUSED"

[store]
path = "{path}"
"""


class Scratch:
    """A folder under /tmp for one test, and the console script run so that file modes
    count (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.as_root = os.geteuid() == 0

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path

    def config(self, folder: Path, store_path: str) -> Path:
        path = folder / "config.toml"
        path.write_text(CONFIG.format(path=store_path), encoding="utf-8")
        return path

    def run(self, config: Path, *args: str, env: dict[str, str] | None = None):
        return subprocess.run(
            [SCRIPT, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **QUIET_ENV, **(env or {})},
            timeout=60,
            cwd=self.root,
            preexec_fn=_drop_file_capabilities if self.as_root else None,
        )


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    root = Path(tempfile.mkdtemp(prefix="nachfass-store-", dir="/tmp"))
    place = Scratch(root)
    probe = place.folder("probe")
    (probe / "file").write_text("")
    (probe / "file").chmod(0o444)
    check = subprocess.run(
        ["sh", "-c", f"echo x >> {probe / 'file'}"],
        capture_output=True,
        preexec_fn=_drop_file_capabilities if place.as_root else None,
    )
    if check.returncode == 0:  # e.g. a container that refuses to drop capabilities
        shutil.rmtree(root)
        pytest.skip("file modes cannot be made to count for this user")
    yield place
    for folder in root.rglob("*"):
        if folder.is_dir():
            folder.chmod(0o755)
    shutil.rmtree(root)


def one_german_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The command failed with ``code`` and exactly one line on stderr holding ``words``."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store with one thread, made once by the CLI and closed cleanly."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "nachfass.db"
    (folder / "config.toml").write_text(CONFIG.format(path=path), encoding="utf-8")
    result = subprocess.run(
        [SCRIPT, "--config", str(folder / "config.toml"), *COMMANDS["track"]],
        capture_output=True, text=True, env={**os.environ, **QUIET_ENV}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not Path(f"{path}-wal").exists(), "no -wal or -shm left"
    return path


def make_store(folder: Path, scratch: Scratch, template: Path) -> Path:
    """A copy of the template store in ``folder``, with a config pointing at it."""
    path = folder / "nachfass.db"
    shutil.copyfile(template, path)
    scratch.config(folder, str(path))
    return path


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_read_only_database_file(scratch: Scratch, template_store: Path, command: str) -> None:
    folder = scratch.folder("rofile")
    store = make_store(folder, scratch, template_store)
    store.chmod(0o444)
    before = digest_of(store)

    result = scratch.run(folder / "config.toml", *COMMANDS[command])

    line = one_german_line(result, 1, str(store), "schreibgeschützt", "Schreibrechte")
    assert line.startswith("Fehler: ")
    assert digest_of(store) == before, "nothing written"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_read_only_folder_where_wal_cannot_create_its_files(
    scratch: Scratch, template_store: Path, command: str
) -> None:
    folder = scratch.folder("rodir")
    store = make_store(folder, scratch, template_store)
    before = digest_of(store)
    folder.chmod(0o555)

    result = scratch.run(folder / "config.toml", *COMMANDS[command])

    # tick and run take the lock file in that folder first: it names the same cure
    one_german_line(result, 1, str(folder), "Schreibrechte")
    assert digest_of(store) == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "nachfass.db"]


def test_a_new_store_in_a_read_only_folder(scratch: Scratch) -> None:
    folder = scratch.folder("rodir-new")
    config = scratch.config(folder, str(folder / "nachfass.db"))
    folder.chmod(0o555)
    for command in ("list", "track"):
        result = scratch.run(config, *COMMANDS[command])
        one_german_line(result, 1, str(folder / "nachfass.db"), "beschreibbar")


@pytest.mark.parametrize("command", ["tick", "run"])
def test_a_lock_file_that_cannot_be_written(
    scratch: Scratch,
    command: str,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = scratch.folder("lock")
    config = write_config(folder, dovecot, smtp_sink, monkeypatch)  # run logs in first
    make_store_with(config, scratch)
    lock = folder / "nachfass.db.lock"
    lock.write_text("")
    lock.chmod(0o444)

    result = scratch.run(config, command, env={PASSWORD_ENV: dovecot.password})

    one_german_line(result, 1, str(lock), "Sperrdatei", "Schreibrechte")


def make_store_with(config: Path, scratch: Scratch) -> None:
    result = scratch.run(config, "list")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("store_path", "words", "command"),
    [
        *(("/etc/passwd/x.db", ("[store] path", "/etc/passwd", "kein Ordner"), command)
          for command in sorted(COMMANDS)),
        ("/tmp", ("[store] path", "ist ein Ordner"), "list"),
    ],
)  # fmt: skip
def test_a_store_path_that_can_never_work_is_a_config_error(
    scratch: Scratch, command: str, store_path: str, words: tuple[str, ...]
) -> None:
    folder = scratch.folder("config-error")
    result = scratch.run(scratch.config(folder, store_path), *COMMANDS[command])
    line = one_german_line(result, 2, *words)
    assert line.startswith("Konfigurationsfehler: ")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_file_that_is_no_database(scratch: Scratch, command: str) -> None:
    folder = scratch.folder("garbage")
    store = folder / "nachfass.db"
    store.write_bytes(b"Kontoauszug 2026\n" + bytes(range(256)) * 40)
    before = digest_of(store)

    result = scratch.run(scratch.config(folder, str(store)), *COMMANDS[command])

    one_german_line(result, 1, str(store), "beschädigt", "Sicherung")
    assert digest_of(store) == before


@pytest.mark.parametrize("command", ["list", "show", "tick"])
def test_a_database_damaged_inside(scratch: Scratch, template_store: Path, command: str) -> None:
    """The first page (header and schema) is fine, every other page (tables and indexes)
    is not: the error comes from a query in the middle of the command, not from opening."""
    folder = scratch.folder("damaged")
    store = make_store(folder, scratch, template_store)
    with closing(sqlite3.connect(store)) as db, db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    data = store.read_bytes()
    store.write_bytes(data[:page_size] + b"\xa5" * (len(data) - page_size))

    result = scratch.run(folder / "config.toml", *COMMANDS[command])

    one_german_line(result, 1, str(store), "beschädigt")

"""Which folders the bot watches: SPECIAL-USE first, then known names, config wins."""

from __future__ import annotations

import pytest

from nachfass_bot.adapters.mailbox import FolderInfo, choose_folders
from nachfass_bot.errors import ConfigError


def folders(*entries: str | tuple[str, str]) -> list[FolderInfo]:
    result = []
    for entry in entries:
        name, flag = (entry, "") if isinstance(entry, str) else entry
        result.append(FolderInfo(name, frozenset({flag} - {""})))
    return result


def test_special_use_flags_win_over_names() -> None:
    chosen = choose_folders(folders("INBOX", "Spam", ("Werbung", "\\Junk"), ("Ausgang", "\\Sent")))
    assert (chosen.junk, chosen.sent) == ("Werbung", "Ausgang")
    assert chosen.inbound == ("INBOX", "Werbung")


@pytest.mark.parametrize(
    ("names", "junk", "sent"),
    [
        (("Junk-E-Mail", "Gesendete Elemente"), "Junk-E-Mail", "Gesendete Elemente"),
        (("Unerwünscht", "Gesendet"), "Unerwünscht", "Gesendet"),
        (("[Gmail]/Spam", "[Google Mail]/Gesendet"), "[Gmail]/Spam", "[Google Mail]/Gesendet"),
        (("INBOX.Spam", "INBOX.Sent"), "INBOX.Spam", "INBOX.Sent"),
        (("junk email", "Sent Items"), "junk email", "Sent Items"),
        ((), None, None),
    ],
)
def test_known_names_without_special_use(names, junk, sent) -> None:
    chosen = choose_folders(folders("INBOX", *names))
    assert (chosen.junk, chosen.sent) == (junk, sent)


def test_config_names_the_folders_and_adds_extra_ones() -> None:
    listing = folders("INBOX", ("Junk", "\\Junk"), "Filter/Spamverdacht", "Kunden")
    chosen = choose_folders(listing, junk_override="Filter/Spamverdacht", extra=["Kunden"])
    assert chosen.inbound == ("INBOX", "Filter/Spamverdacht", "Kunden")


def test_a_configured_folder_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[mailbox\] extra_folders.*„Projekte“"):
        choose_folders(folders("INBOX", "Junk"), extra=["Projekte"])

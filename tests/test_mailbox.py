"""Which folders the bot watches: SPECIAL-USE first, then known names, config wins."""

from __future__ import annotations

import re

import pytest

from nachfass_bot.adapters.mailbox import (
    ALL_NAMES,
    JUNK_NAMES,
    PLAIN_NAMESPACE,
    SENT_NAMES,
    FolderInfo,
    Namespace,
    choose_folders,
    find_all_mail,
    folder_key,
)
from nachfass_bot.cli.checkup import folder_findings
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
        (("Spamverdacht", "Gesendet"), "Spamverdacht", "Gesendet"),
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


# -- namespaces and names (issue 12, point 1) ------------------------------------------------

CYRUS = Namespace(prefix="INBOX.", delimiter=".")


def listed(*names: str, delimiter: str = ".") -> list[FolderInfo]:
    return [FolderInfo(name, frozenset(), delimiter) for name in names]


@pytest.mark.parametrize(
    ("names", "namespace", "junk", "sent"),
    [
        # Cyrus and Courier: personal prefix INBOX., "." as delimiter, no SPECIAL-USE
        (("INBOX", "INBOX.Gesendet", "INBOX.Spam"), CYRUS, "INBOX.Spam", "INBOX.Gesendet"),
        (("INBOX", "INBOX.Sent", "INBOX.Junk"), CYRUS, "INBOX.Junk", "INBOX.Sent"),
        # the prefix is known even where NAMESPACE was not asked
        (
            ("INBOX", "INBOX/Gesendet", "INBOX/Spam"),
            PLAIN_NAMESPACE,
            "INBOX/Spam",
            "INBOX/Gesendet",
        ),
        # GMX and Web.de
        (("INBOX", "Gesendet", "Spamverdacht"), PLAIN_NAMESPACE, "Spamverdacht", "Gesendet"),
        # a server that did not decode modified UTF-7
        (("INBOX", "Unerw&APw-nscht", "Sent"), PLAIN_NAMESPACE, "Unerw&APw-nscht", "Sent"),
        # case
        (("INBOX", "SPAM", "gesendete objekte"), PLAIN_NAMESPACE, "SPAM", "gesendete objekte"),
    ],
)
def test_known_names_with_and_without_the_personal_prefix(names, namespace, junk, sent) -> None:
    chosen = choose_folders(listed(*names), namespace=namespace)
    assert (chosen.junk, chosen.sent) == (junk, sent)


def test_gmail_hierarchy_with_another_delimiter_still_matches() -> None:
    listing = listed("INBOX", "[Gmail].Gesendet", "[Gmail].Spam")
    chosen = choose_folders(listing, namespace=Namespace("", "."))
    assert (chosen.junk, chosen.sent) == ("[Gmail].Spam", "[Gmail].Gesendet")


@pytest.mark.parametrize("configured", ["Gesendet", "INBOX.Gesendet", "inbox.gesendet", "gesendet"])
def test_configured_names_with_or_without_prefix_are_accepted(configured: str) -> None:
    listing = listed("INBOX", "INBOX.Gesendet", "INBOX.Spam", "INBOX.Kunden.Aufträge")
    chosen = choose_folders(
        listing,
        sent_override=configured,
        extra=["Kunden.Aufträge", "Kunden/Auftr&AOQ-ge"],
        namespace=CYRUS,
    )
    assert chosen.sent == "INBOX.Gesendet"
    assert chosen.extra == ("INBOX.Kunden.Aufträge",)


def test_known_names_are_all_unique_by_key() -> None:
    for names in (JUNK_NAMES, SENT_NAMES, ALL_NAMES):
        keys = [folder_key(name) for name in names]
        assert len(keys) == len(set(keys))


def test_all_mail_is_found_by_flag_or_name() -> None:
    flagged = [FolderInfo("[Gmail]/Alle Nachrichten", frozenset({"\\All"}), "/")]
    assert find_all_mail(flagged) == "[Gmail]/Alle Nachrichten"
    assert find_all_mail(listed("INBOX", "[Google Mail]/All Mail", delimiter="/")) == (
        "[Google Mail]/All Mail"
    )
    assert find_all_mail(listed("INBOX", "Archiv")) is None


def test_a_noselect_parent_is_never_chosen() -> None:
    listing = [FolderInfo("Spam", frozenset({"\\Noselect", "\\HasChildren"}), "/")]
    assert choose_folders(listing).junk is None


@pytest.mark.parametrize(
    ("names", "namespace"),
    [
        (("INBOX", "INBOX.Entwürfe", "INBOX.Postausgang alt", "INBOX.Werbung"), CYRUS),
        (("INBOX", "Drafts", "Ausgang", "Werbemüll"), PLAIN_NAMESPACE),
    ],
)
def test_check_advises_a_folder_name_the_bot_accepts(names, namespace) -> None:
    listing = listed(*names)
    folders = choose_folders(listing, namespace=namespace)
    assert folders.junk is None and folders.sent is None
    findings = {f.title: f for f in folder_findings(folders, listing, namespace)}
    for key, title in (("junk_folder", "Spam-Ordner"), ("sent_folder", "Gesendet")):
        advice = findings[title].fix or ""
        value = re.search(rf'{key} = "([^"]+)"', advice)
        assert value is not None, advice
        override = {"junk_override" if key == "junk_folder" else "sent_override": value[1]}
        chosen = choose_folders(listing, namespace=namespace, **override)
        assert value[1] in {chosen.junk, chosen.sent}

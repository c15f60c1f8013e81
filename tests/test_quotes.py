"""quotes.py: where the quote of an earlier mail starts, and the signature."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from nachfass_bot.mail.headers import plain_text
from nachfass_bot.mail.quotes import split_quote, strip_signature

ABOVE = "Danke, passt so.\n\nViele Grüße\nJonas Keller"


# Every quote marker the detector knows, each as it follows the sender's own text.
QUOTE_MARKERS = [
    pytest.param("> Guten Tag Herr Keller,\n> anbei mein Angebot.", id="gt-lines"),
    pytest.param("  >Guten Tag", id="gt-indented"),
    pytest.param("Am 05.01.26 um 10:15 schrieb Lena Berger:\n> Angebot", id="thunderbird"),
    pytest.param(
        "Am Mo., 5. Jan. 2026 um 10:15 Uhr schrieb Lena Berger <\nlena@berger-text.de>:",
        id="gmail-wrapped",
    ),
    pytest.param(
        "Am Mo., 5. Jan. 2026 um 10:15 Uhr Lena Berger <lena@berger-text.de>\nschrieb:",
        id="gmail-wrapped-before-schrieb",
    ),
    pytest.param("On Mon, Jan 5, 2026 at 10:15 AM Lena Berger wrote:", id="english"),
    pytest.param("-----Ursprüngliche Nachricht-----\nVon: Lena", id="outlook-separator"),
    pytest.param("-----Ursprungliche Nachricht-----", id="separator-without-umlaut"),
    pytest.param("-----Original Message-----\nFrom: Lena", id="old-outlook-en"),
    pytest.param("-------- Original-Nachricht --------", id="original-nachricht"),
    pytest.param("-------- Weitergeleitete Nachricht --------", id="forward-de"),
    pytest.param("---------- Forwarded message ---------", id="forward-en"),
    pytest.param("________________________________\nVon: Lena", id="underscores"),
    pytest.param(
        "Von: Lena Berger <lena@berger-text.de>\nGesendet: Montag, 5. Januar 2026 10:15\n"
        "An: Jonas Keller\nBetreff: Angebot",
        id="outlook-de",
    ),
    pytest.param(
        "*From:* Lena Berger\n*Sent:* Monday, January 5, 2026 10:15 AM", id="outlook-en-bold"
    ),
    pytest.param("Von: Lena Berger\nAn: Jonas Keller\nBetreff: Angebot", id="from-then-to"),
    pytest.param(
        "Von: Lena Berger\n  <lena@berger-text.de>\nGesendet: Montag", id="from-wrapped-sent"
    ),
    pytest.param(
        'Gesendet: Montag, 05. Januar 2026 um 10:15 Uhr\nVon: "Lena Berger" <lena@x.de>\n'
        "An: jonas@keller-bau.de",
        id="gmx-webde",
    ),
    pytest.param(
        "------ This is a copy of the message, including all the headers. ------",
        id="exim-bounce-copy",
    ),
    pytest.param("--- Below this line is a copy of the message.", id="qmail-bounce-copy"),
    pytest.param("------ Dies ist eine Kopie der Nachricht ------", id="german-bounce-copy"),
    pytest.param("   ----- Original message follows -----", id="sendmail-bounce-copy"),
    pytest.param(
        "Le lun. 5 janv. 2026 à 10:15, Lena Berger <lena@berger-text.de> a écrit :",
        id="french",
    ),
    pytest.param(
        "El lun, 5 ene 2026 a las 10:15, Lena Berger (<lena@berger-text.de>)\nescribió:",
        id="spanish-wrapped",
    ),
    pytest.param(
        "Op 5 jan. 2026 om 10:15 heeft Lena Berger <lena@berger-text.de> het volgende geschreven:",
        id="dutch",
    ),
    pytest.param("Anfang der weitergeleiteten E-Mail:", id="apple-forward-de"),
    pytest.param(
        "De : Lena Berger <lena@berger-text.de>\nEnvoyé : lundi 5 janvier 2026 10:15\n"
        "À : Jonas Keller\nObjet : Angebot",
        id="outlook-fr",
    ),
    pytest.param(
        "De: Lena Berger <lena@berger-text.de>\nEnviado el: lunes, 5 de enero de 2026 10:15\n"
        "Para: Jonas Keller\nAsunto: Angebot",
        id="outlook-es",
    ),
]


@pytest.mark.parametrize("quote", QUOTE_MARKERS)
def test_split_quote_finds_each_marker(quote: str) -> None:
    text = f"{ABOVE}\n\n{quote}\n\nBitte zahlen Sie bis 20.01.2026.\n"
    assert split_quote(text) == (ABOVE, True)
    assert split_quote(text.replace("\n", "\r\n")) == (ABOVE, True)


def test_split_quote_without_a_quote_returns_the_whole_text() -> None:
    assert split_quote("  Danke!\r\nJonas\r\n\r\n") == ("Danke!\nJonas", False)
    assert split_quote("") == ("", False)


def test_split_quote_at_the_first_line() -> None:
    assert split_quote("> nur Zitat") == ("", True)


# Own text that only looks like a quote marker.
LOOKALIKES = [
    "Bitte den Satz mit dem Von: ändern.\nAm Ende lieber kürzer.\nDanke",
    "Am Montag passt es.\nOn Tuesday too.",
    "Von: 9 Uhr\nBis: 12 Uhr",
    "Den Preis -- wie besprochen -- lassen wir so.",
    "Gesendet: gestern\nDanke",
    "De: Lyon à Paris en train.\nDanke",
    "Le devis est prêt.\nÀ bientôt",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_text_that_only_looks_like_a_quote_stays(text: str) -> None:
    assert split_quote(text) == (text, False)


def test_a_signature_line_starting_with_am_is_not_a_wrapped_attribution() -> None:
    text = (
        "Danke für die Rechnung.\n\nPraxis Dr. Weiß\nAm Stadtgarten 3 · 50672 Köln\n\n"
        "Am 02.03.26 um 09:00 schrieb Anna Berger:\n> Rechnung 2026-014"
    )
    above, quoted = split_quote(text)
    assert quoted
    assert above.endswith("Am Stadtgarten 3 · 50672 Köln")


def test_only_real_line_breaks_split_lines() -> None:
    """A cp1252 "…" read as Latin-1 is U+0085 (NEL): not a line break in a mail."""
    text = "Ich melde mich\x85 > bald\u2028On it, wrote"
    assert split_quote(text) == (text, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok\n\n-- \nLena Berger\nTexterin\n", "ok"),
        ("ok\n--\nLena\n", "ok"),
        ("ok\n\nVon meinem iPhone gesendet\n\n", "ok"),
        ("ok\nSent from my iPhone", "ok"),
        ("ok\nGesendet mit der WEB.DE Mail App", "ok"),
        (
            "Den Preis -- wie besprochen -- lassen wir so.",
            "Den Preis -- wie besprochen -- lassen wir so.",
        ),
        ("Von meinem Büro aus passt das.\nDanke", "Von meinem Büro aus passt das.\nDanke"),
        ("", ""),
    ],
)
def test_strip_signature(text: str, expected: str) -> None:
    assert strip_signature(text) == expected
    assert strip_signature(text.replace("\n", "\r\n")) == expected


# --- the corpus: tests/corpus/quotes.toml --------------------------------------------

CORPUS = Path(__file__).parent / "corpus"
LABELS: dict[str, dict[str, Any]] = tomllib.loads(
    (CORPUS / "quotes.toml").read_text(encoding="utf-8")
)


def labelled_own_text(name: str) -> str:
    """The sender's own text of a corpus mail: everything above its labelled quote line."""
    label = LABELS[name]
    text = plain_text((CORPUS / name).read_bytes())
    if not label["quote_starts"]:
        return text.strip()
    lines = text.replace("\r\n", "\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == label["quote_starts"]]
    return "\n".join(lines[: starts[label.get("occurrence", 1) - 1]]).strip()


def test_every_human_mail_of_the_corpus_is_labelled() -> None:
    verdicts = tomllib.loads((CORPUS / "verdicts.toml").read_text(encoding="utf-8"))
    human = {name for name, entry in verdicts.items() if entry["verdict"] in ("answer", "owner")}
    assert sorted(human ^ set(LABELS)) == []


@pytest.mark.parametrize(
    "name", sorted(name for name, label in LABELS.items() if not label.get("needs_draft"))
)
def test_split_quote_on_the_corpus(name: str) -> None:
    own, quoted = split_quote(plain_text((CORPUS / name).read_bytes()))
    assert own == labelled_own_text(name)
    assert quoted is bool(LABELS[name]["quote_starts"])

"""approval.py: tokens, quote stripping, the owner's commands."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from nachfass_bot.domain.models import CommandKind
from nachfass_bot.mail.approval import (
    TOKEN_TAG_RE,
    Command,
    ReplyCheck,
    authentication_failed,
    check_reply,
    command_token,
    find_token,
    new_token,
    parse_command,
    parse_owner_request,
    strip_quote,
    token_matches,
    token_tag,
)
from nachfass_bot.mail.headers import authentication_results, plain_text
from nachfass_bot.mail.owntext import NOTICE_PHRASES
from test_quotes import labelled_own_text

TODAY = date(2026, 3, 10)
TOKEN = "3f9a0c1d2e4b5a6978ab"

# --- tokens ----------------------------------------------------------------------------


def test_new_token_is_80_bits_of_lowercase_hex_and_fresh() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[0-9a-f]{20}", token)


def test_token_tag_round_trip() -> None:
    token = new_token()
    tag = token_tag(token)
    assert tag == f"[NF-{token}]"
    assert TOKEN_TAG_RE.search(tag) is not None
    assert find_token(f"Re: {tag} Entwurf: Nachfassen Angebot Keller") == token


@pytest.mark.parametrize(
    "subject",
    [
        f"Re: AW: [NF-{TOKEN}] Entwurf – Angebot für Ihre Webseite",
        f"AW: [nf-{TOKEN.upper()}] Entwurf",
        f"WG: Re: [NF-{TOKEN}]",
        f"Re: [NF- {TOKEN[:10]} {TOKEN[10:]} ] Entwurf",  # sloppy RFC 2047 decoding
        f"=?utf-8?q?AW=3A_=5BNF-{TOKEN}=5D_Entwurf_f=C3=BCr_Keller?=",  # still encoded
        f"Re: [NF-{TOKEN}] Entwurf [NF-{TOKEN}]",  # the same token twice is fine
    ],
)
def test_find_token(subject: str) -> None:
    assert find_token(subject) == TOKEN


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Entwurf – Angebot für Ihre Webseite",  # forged "ok" without a tag
        "",
        "[NF-]",
        "[NF-3f9a0c1d2e4b5a6978a]",  # 19 digits
        "[NF-3f9a0c1d2e4b5a6978abc]",  # 21 digits
        "[NF-3f9a0c1d2e4b5a6978ag]",  # not hex
        "NF-3f9a0c1d2e4b5a6978ab",  # no brackets
        f"Re: [NF-{TOKEN}] und [NF-00000000000000000000]",  # two different tokens
    ],
)
def test_find_token_rejects(subject: str) -> None:
    assert find_token(subject) is None


def test_token_matches() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert token_matches(TOKEN.upper(), TOKEN)
    assert not token_matches("00000000000000000000", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("", "")


# --- quote stripping per client --------------------------------------------------------

THUNDERBIRD = """ok

Am 10.03.26 um 09:12 schrieb nachfass-bot:
> Entwurf für Jonas Keller
>
> Guten Tag Herr Keller,
"""

GMAIL_WRAPPED = """Ja

Am Di., 10. März 2026 um 09:12 Uhr schrieb Lena Berger <
lena@berger-text.de>:

> Entwurf für Jonas Keller
"""

APPLE_MAIL = """später 7

Viele Grüße
Lena

> Am 10.03.2026 um 09:12 schrieb Lena Berger <lena@berger-text.de>:
>
> Entwurf
"""

OUTLOOK_DE = """Stop

Von: Lena Berger <lena@berger-text.de>
Gesendet: Dienstag, 10. März 2026 09:12
An: Lena Berger <lena@berger-text.de>
Betreff: [NF-3f9a0c1d2e4b5a6978ab] Entwurf

Guten Tag Herr Keller,
"""

OUTLOOK_UNDERSCORES = """bezahlt

________________________________
Von: Lena Berger <lena@berger-text.de>
Gesendet: Dienstag, 10. März 2026 09:12
"""

OUTLOOK_EN = """Yes

From: Lena Berger <lena@berger-text.de>
Sent: Tuesday, March 10, 2026 9:12 AM
To: Lena Berger
Subject: [NF-3f9a0c1d2e4b5a6978ab] Entwurf
"""

OUTLOOK_ORIGINAL_MESSAGE = """nein

-----Ursprüngliche Nachricht-----
Von: Lena Berger [mailto:lena@berger-text.de]
"""

OLD_OUTLOOK_EN = """senden
-----Original Message-----
From: Lena
"""

GMX_WEBDE = """OK.

Gesendet: Dienstag, 10. März 2026 um 09:12 Uhr
Von: "Lena Berger" <lena@berger-text.de>
An: lena@berger-text.de
Betreff: Entwurf
"""

ENGLISH_CLIENT = """ok!

On Tue, Mar 10, 2026 at 9:12 AM Lena Berger <lena@berger-text.de> wrote:
> Entwurf
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (THUNDERBIRD, "ok"),
        (GMAIL_WRAPPED, "Ja"),
        (APPLE_MAIL, "später 7\n\nViele Grüße\nLena"),
        (OUTLOOK_DE, "Stop"),
        (OUTLOOK_UNDERSCORES, "bezahlt"),
        (OUTLOOK_EN, "Yes"),
        (OUTLOOK_ORIGINAL_MESSAGE, "nein"),
        (OLD_OUTLOOK_EN, "senden"),
        (GMX_WEBDE, "OK."),
        (ENGLISH_CLIENT, "ok!"),
    ],
)
def test_strip_quote_per_client(body: str, expected: str) -> None:
    assert strip_quote(body) == expected
    assert strip_quote(body.replace("\n", "\r\n")) == expected


def test_strip_quote_drops_signature_and_mobile_footer() -> None:
    assert strip_quote("ok\n\n-- \nLena Berger\nTexterin\n") == "ok"
    assert strip_quote("ok\n--\nLena\n") == "ok"
    assert strip_quote("ok\n\nVon meinem iPhone gesendet\n\n> Entwurf") == "ok"
    assert strip_quote("ok\nSent from my iPhone") == "ok"


def test_strip_quote_keeps_text_that_only_looks_similar() -> None:
    text = "Bitte den Satz mit dem Von: ändern.\nAm Ende lieber kürzer.\nDanke"
    assert strip_quote(text) == text
    assert strip_quote("") == ""
    assert strip_quote("> nur Zitat") == ""


def test_strip_quote_on_html_reply_text() -> None:
    raw = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<div>Ok</div><div><br></div><div class=gmail_quote>"
        b"<div>Am Di., 10. M\xc3\xa4rz 2026 um 09:12 Uhr schrieb Lena Berger "
        b"&lt;lena@berger-text.de&gt;:<br></div>"
        b"<blockquote><div>Entwurf</div></blockquote></div>"
    )
    assert strip_quote(plain_text(raw)) == "Ok"


# --- commands --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("ok", CommandKind.APPROVE),
        ("Ok!", CommandKind.APPROVE),
        ("OK.", CommandKind.APPROVE),
        (" ja ", CommandKind.APPROVE),
        ("Senden", CommandKind.APPROVE),
        ("yes", CommandKind.APPROVE),
        ("okay 👍", CommandKind.APPROVE),
        ("O.K.", CommandKind.APPROVE),
        ("Ja, senden", CommandKind.APPROVE),
        ("ok danke", CommandKind.APPROVE),
        ("\u200bok\xa0", CommandKind.APPROVE),
        ("stop", CommandKind.STOP),
        ("STOPP!", CommandKind.STOP),
        ("Nein", CommandKind.STOP),
        ("no.", CommandKind.STOP),
        ("nein danke", CommandKind.STOP),
        ("bezahlt", CommandKind.PAID),
        ("Bezahlt ✅", CommandKind.PAID),
    ],
)
def test_command_words(body: str, kind: CommandKind) -> None:
    assert parse_command(body, today=TODAY) == Command(kind)


@pytest.mark.parametrize(
    ("body", "days"),
    [
        ("später 7", 7),
        ("Später 7", 7),
        ("spaeter 7", 7),
        ("später 7 tage", 7),
        ("Später 14 Tage.", 14),
        ("später 1 Tag", 1),
        ("später: 3", 3),
        ("später 2 Wochen", 14),
        ("SPÄTER 30!", 30),
    ],
)
def test_later_days(body: str, days: int) -> None:
    assert parse_command(body, today=TODAY) == Command(CommandKind.LATER, days=days)


@pytest.mark.parametrize(
    ("body", "until"),
    [
        ("später 12.01.", date(2027, 1, 12)),  # the next 12 January after 10 March 2026
        ("später 12.03.", date(2026, 3, 12)),
        ("später 10.03.", date(2026, 3, 10)),  # today counts
        ("später 12.01.2027", date(2027, 1, 12)),
        ("später 1.4.", date(2026, 4, 1)),
        ("später 1.4", date(2026, 4, 1)),
        ("später 01.04.27", date(2027, 4, 1)),
        ("später bis 15.04.", date(2026, 4, 15)),
        ("spaeter 29.02.", date(2028, 2, 29)),
    ],
)
def test_later_until(body: str, until: date) -> None:
    assert parse_command(body, today=TODAY) == Command(CommandKind.LATER, until=until)


@pytest.mark.parametrize(
    "body",
    [
        "ok, aber bitte ändere den zweiten Satz",
        "Ja nein",
        "später",
        "später 0",
        "später 999",
        "später 31.02.",
        "später 12.01.2025",  # in the past
        "später 7 Monate",
        "Hallo,\nok",
        "👍",
        "",
        "> ok",
        "Guten Tag!",
        "Hallo, kurze Frage: geht das auch später?",
    ],
)
def test_unknown(body: str) -> None:
    command = parse_command(body, today=TODAY)
    assert command.kind is CommandKind.UNKNOWN
    assert command.days is None
    assert command.until is None
    assert command.text == strip_quote(body)


def test_unknown_keeps_the_whole_top_part_without_quote() -> None:
    body = "ok, aber bitte ändere den zweiten Satz\nin: Wie ist der Stand?\n\n" + THUNDERBIRD
    command = parse_command(body, today=TODAY)
    assert command == Command(
        CommandKind.UNKNOWN,
        text="ok, aber bitte ändere den zweiten Satz\nin: Wie ist der Stand?\n\nok",
    )


def test_only_the_first_non_empty_line_counts() -> None:
    body = "\n\nok\n\nViele Grüße\nAnna\n\n" + OUTLOOK_DE
    assert parse_command(body, today=TODAY) == Command(CommandKind.APPROVE)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (THUNDERBIRD, CommandKind.APPROVE),
        (GMAIL_WRAPPED, CommandKind.APPROVE),
        (OUTLOOK_DE, CommandKind.STOP),
        (OUTLOOK_UNDERSCORES, CommandKind.PAID),
        (OUTLOOK_EN, CommandKind.APPROVE),
        (OUTLOOK_ORIGINAL_MESSAGE, CommandKind.STOP),
        (GMX_WEBDE, CommandKind.APPROVE),
        (ENGLISH_CLIENT, CommandKind.APPROVE),
    ],
)
def test_commands_in_real_replies(body: str, kind: CommandKind) -> None:
    assert parse_command(body, today=TODAY).kind is kind


def test_later_in_apple_mail_reply() -> None:
    assert parse_command(APPLE_MAIL, today=TODAY) == Command(CommandKind.LATER, days=7)


def test_quoted_ok_alone_is_not_approval() -> None:
    body = "\n\nAm 10.03.26 um 09:12 schrieb nachfass-bot:\n> ok\n"
    assert parse_command(body, today=TODAY).kind is CommandKind.UNKNOWN


def test_command_kind_values() -> None:
    assert [kind.value for kind in CommandKind] == [
        "approve", "stop", "later", "paid", "done", "edit", "vacation", "status", "unknown",
    ]  # fmt: skip


def test_an_edited_text_starts_with_a_greeting_and_replaces_the_draft() -> None:
    edited = (
        "Guten Tag Herr Keller,\n\nanbei wie besprochen die Unterlagen. Passt Ihnen "
        "Donnerstag für ein Telefonat?\n\nViele Grüße\nAnna\n\n"
        "Am 11.03.2026 um 10:30 schrieb Anna Berger:\n> Entwurf …\n"
    )
    command = parse_command(edited, today=TODAY)
    assert command.kind is CommandKind.EDIT
    assert command.text.startswith("Guten Tag Herr Keller,")
    assert "Entwurf" not in command.text


@pytest.mark.parametrize(
    "remark",
    ["ok, aber bitte ändere den zweiten Satz", "Bitte freundlicher formulieren, danke!"],
)
def test_a_remark_to_the_bot_is_never_an_edited_text(remark: str) -> None:
    assert parse_command(remark, today=TODAY).kind is CommandKind.UNKNOWN


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Urlaub bis 06.01.", "", date(2027, 1, 6)),
        ("", "urlaub bis zum 06.01.2027\n\nBis dann!", date(2027, 1, 6)),
        ("Notiz", "Urlaub 6.1.", date(2027, 1, 6)),
    ],
)
def test_vacation_request(subject: str, body: str, expected: date) -> None:
    today = date(2026, 12, 18)
    command = parse_owner_request(subject, body, today=today)
    assert command is not None and command.kind is CommandKind.VACATION
    assert command.until == expected


def test_status_request_and_ordinary_mail() -> None:
    assert parse_owner_request("Status", "", today=TODAY).kind is CommandKind.STATUS
    assert parse_owner_request("Einkaufsliste", "Milch, Brot", today=TODAY) is None


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        (["mx.test; dkim=pass header.d=berger.de; spf=pass smtp.mailfrom=berger.de"], None),
        (["mx.test; dmarc=fail (p=none) header.from=berger.de"], "dmarc=fail"),
        (["mx.test; spf=fail smtp.mailfrom=berger.de; dkim=none"], "spf=fail"),
        (["mx.test; dkim=fail header.d=other.example"], None),
        ([], None),
    ],
)
def test_authentication_results(results: list[str], expected: str | None) -> None:
    assert authentication_failed(results, "berger.de") == expected


# --- the owner's own text: cut cleanly from the quoted draft, or not at all ---------------

CORPUS = Path(__file__).parent / "corpus"
PENDING = tomllib.loads((CORPUS / "context.toml").read_text(encoding="utf-8"))["pending_draft"]
EDITED_REPLIES = sorted(path.name for path in CORPUS.glob("owner_edit_*.eml"))
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "de"


def _normalized(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(text.translate(str.maketrans("„“”", '"""')).split())


def test_every_notice_phrase_still_stands_in_a_template() -> None:
    """NOTICE_PHRASES find the quoted notice only while the templates say them."""
    templates = " ".join(
        _normalized((TEMPLATES / name).read_text(encoding="utf-8"))
        for name in ("owner_draft.txt", "owner_not_understood.txt")
    )
    assert [p for p in NOTICE_PHRASES if _normalized(p) not in templates] == []


@pytest.mark.parametrize("name", EDITED_REPLIES)
def test_edited_reply_of_each_mail_program_is_cut_to_the_new_text(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    command = parse_command(
        plain_text(raw), today=TODAY, draft_body=PENDING["body"], token=PENDING["token"]
    )
    assert command.kind is CommandKind.EDIT
    assert command.text == labelled_own_text(name)
    assert command.text.startswith("Guten Tag Herr Keller,")
    assert command.text.endswith("Viele Grüße\nAnna Berger")
    assert "[NF-" not in command.text and PENDING["token"] not in command.text


NEW_TEXT = (
    "Guten Tag Herr Keller,\n\npasst Ihnen ein kurzes Telefonat am Donnerstag um 10 Uhr? "
    "Dann gehen wir die offenen Punkte gemeinsam durch.\n\nViele Grüße\nAnna Berger"
)
TAG = f"[NF-{PENDING['token']}]"
NOTICE = (
    "Hallo,\n\nfür Jonas Keller (jonas.keller@keller-bau.de) ist der nächste Schritt fällig "
    "(Angebot, Schritt 1, Vorgang 1). Unten steht mein Entwurf.\n\n"
    "Antworte einfach auf diese Mail:\n- „ok“, „ja“ oder „senden“: Der Entwurf geht so raus, "
    f"wie er unten steht.\nEs zählen nur die ersten Zeilen über dem zitierten Text. "
    f"Kennzeichen: {TAG}\n\n----- Entwurf -----\nBetreff: Kurze Nachfrage\n\n{PENDING['body']}"
)


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _parse(body: str) -> Command:
    return parse_command(body, today=TODAY, draft_body=PENDING["body"], token=PENDING["token"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"{NEW_TEXT}\n\n{NOTICE}", id="notice-follows-without-marks"),
        pytest.param(f"{NEW_TEXT}\nHallo,\n\n{NOTICE[8:]}", id="notice-greeting-glued-on"),
        pytest.param(f"{NEW_TEXT}\n\n{PENDING['body']}", id="draft-follows"),
        pytest.param(
            f"{NEW_TEXT}\n\nAm 11.03.26 um 10:30 schrieb nachfass-bot:\n{_quoted(NOTICE)}\n\n"
            "-- \nAnna Berger",
            id="signature-below-the-quote",
        ),
    ],
)
def test_clean_cuts_give_exactly_the_new_text(body: str) -> None:
    assert _parse(body) == Command(CommandKind.EDIT, text=NEW_TEXT)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            f"{NEW_TEXT}\n\nAm 11.03.26 um 10:30 schrieb nachfass-bot:\n{_quoted(NOTICE[:200])}\n"
            f"Und bitte noch den Termin nennen.\n{_quoted(NOTICE[200:])}",
            id="written-into-the-quote",
        ),
        pytest.param(
            f"Am 11.03.26 um 10:30 schrieb nachfass-bot:\n{_quoted(NOTICE)}\n\n{NEW_TEXT}",
            id="written-below-the-quote",
        ),
        pytest.param(f"{NEW_TEXT}\n{NOTICE[8:]}", id="notice-glued-to-the-signature"),
        pytest.param(
            f"{NEW_TEXT}\nKennzeichen: {TAG}\n\n{NOTICE}",
            id="token-inside-the-own-text",
        ),
        pytest.param(
            f"{NEW_TEXT}\n\n{PENDING['body']}\nVon meinem iPhone gesendet",
            id="draft-copy-not-at-the-end",
        ),
        pytest.param(
            f"{NEW_TEXT[:-24]}\n\nAm Montag schrieb mir der Architekt:\nDie Pläne kommen "
            "Freitag.\nDie Fotos auch.\nDann reden wir über die Startseite.\nUnd über die "
            "Referenzen.\nUnd über das Budget.\nUnd über den Termin.\n\nViele Grüße\nAnna",
            id="own-text-that-looks-like-an-attribution",
        ),
        pytest.param(
            NEW_TEXT.replace("durch.", "durch. Antworte einfach auf\ndiese Mail."),
            id="wrapped-instruction-in-the-own-text",
        ),
        pytest.param(
            f"{NEW_TEXT}\nNF-{PENDING['token']}",
            id="bare-token-below-the-signature",
        ),
    ],
)
def test_unclean_cuts_send_nothing_and_ask_for_only_the_new_text(body: str) -> None:
    command = _parse(body)
    assert command.kind is CommandKind.UNKNOWN
    assert command.unclear_cut


def test_a_command_word_above_an_unmarked_notice_still_counts() -> None:
    assert _parse(f"ok\n\n{NOTICE}").kind is CommandKind.APPROVE
    assert _parse(f"später 7\n{NOTICE}") == Command(CommandKind.LATER, days=7)


def test_a_reply_to_the_not_understood_mail_is_cut_at_its_text() -> None:
    notice = (
        "Hallo,\n\nDeinen neuen Text zum Entwurf „Kurze Nachfrage“ konnte ich nicht sicher vom "
        "zitierten Entwurf trennen, also: nicht verstanden – bitte nur den neuen Text "
        "schicken.\n\nEs wurde nichts gesendet; der Entwurf wartet weiter auf Dich."
    )
    assert _parse(f"{NEW_TEXT}\n\n{notice}") == Command(CommandKind.EDIT, text=NEW_TEXT)


# --- who may command: the token, the sender, the authentication -------------------------

OTHER = "00000000000000000000"


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        (f"Re: [NF-{TOKEN}] Entwurf", "ok", TOKEN),
        (f"Re: [NF-{TOKEN}] Entwurf", f"ok\n\n> Kennzeichen: [NF-{TOKEN}]", TOKEN),
        ("Re: Entwurf", f"ok\n[NF-{TOKEN}]", None),  # the token in the body only
        (f"Re: [NF-{TOKEN}] Entwurf", f"ok\n[NF-{OTHER}]", None),  # subject and body differ
        (f"Re: [NF-{TOKEN}] [NF-{OTHER}]", "ok", None),  # two in the subject
    ],
)
def test_command_token(subject: str, body: str, expected: str | None) -> None:
    assert command_token(subject, body) == expected


OWNER = "erika@studio.test"


def _owner_mail(
    *,
    from_fields: tuple[str, ...] = (f"Erika Muster <{OWNER}>",),
    subject: str = f"Re: [NF-{TOKEN}] Entwurf",
    body: str = "ok",
    extra: tuple[str, ...] = (),
) -> bytes:
    head = [*extra, *(f"From: {value}" for value in from_fields), f"To: {OWNER}"]
    head += [f"Subject: {subject}", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


def test_check_reply_lets_the_owner_command() -> None:
    assert check_reply(_owner_mail(), OWNER) == ReplyCheck(TOKEN, None)
    assert check_reply(_owner_mail(from_fields=(OWNER.upper(),)), OWNER).refusal is None


@pytest.mark.parametrize(
    "from_fields",
    [
        pytest.param((f"{OWNER}, mallory@evil.test",), id="two-addresses"),
        pytest.param((f"mallory@evil.test, {OWNER}",), id="two-addresses-owner-second"),
        pytest.param((f'"{OWNER}" <mallory@evil.test>',), id="owner-as-display-name"),
        pytest.param((f'"mallory@evil.test" <{OWNER}>',), id="foreign-display-name"),
        pytest.param((f"=?utf-8?q?mallory=40evil.test?= <{OWNER}>",), id="encoded-display-name"),
        pytest.param((f"{OWNER} (mallory@evil.test)",), id="address-in-comment"),
        pytest.param((f"<{OWNER}",), id="unparsable"),
        pytest.param((f"{OWNER} <mallory@evil.test>",), id="unquoted-address-as-name"),
        pytest.param((f"Team: {OWNER};",), id="group"),
        pytest.param((f"Erika <{OWNER}>", "Mallory <mallory@evil.test>"), id="two-from-fields"),
        pytest.param((), id="no-from"),
    ],
)
def test_check_reply_refuses_any_other_sender(from_fields: tuple[str, ...]) -> None:
    check = check_reply(_owner_mail(from_fields=from_fields), OWNER)
    assert check.refusal is not None
    assert "Absender" in check.refusal


def test_check_reply_names_no_token_from_the_body_or_a_second_subject() -> None:
    assert (
        check_reply(_owner_mail(subject="Re: Entwurf", body=f"ok [NF-{TOKEN}]"), OWNER).token
        is None
    )
    twice = _owner_mail(extra=(f"Subject: Re: [NF-{OTHER}]",))
    assert check_reply(twice, OWNER).token is None


def test_check_reply_refuses_a_failed_authentication() -> None:
    stamp = "Authentication-Results: mx.studio.test; dmarc=fail header.from=studio.test"
    check = check_reply(_owner_mail(extra=(stamp,)), OWNER)
    assert check.token == TOKEN
    assert check.refusal == "die Prüfung des Absenders ist gescheitert (dmarc=fail)"


PROVIDER = "mx.studio.test"


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param(
            [f"{PROVIDER}; dkim=fail (sig; from x) header.d=studio.test"],
            "dkim=fail",
            id="semicolon-in-a-comment",
        ),
        pytest.param(
            [f"{PROVIDER}; dkim=pass (no dkim=fail here; honest) header.d=studio.test"],
            None,
            id="a-result-named-in-a-comment",
        ),
        pytest.param(
            ["MX.Studio.TEST; SPF=SoftFail smtp.mailfrom=Erika@STUDIO.TEST"],
            "spf=softfail",
            id="upper-case",
        ),
        pytest.param(
            [f"{PROVIDER}; dkim=fail header.i=@mail.studio.test"], "dkim=fail", id="subdomain"
        ),
        pytest.param([f"{PROVIDER}; dkim=fail header.d=notstudio.test"], None, id="another-domain"),
        pytest.param(
            [f'{PROVIDER}; dkim=permerror reason="bad; key" header.d="studio.test"'],
            "dkim=permerror",
            id="quoted-values",
        ),
        pytest.param(
            [
                "spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=studio.test; dkim=none "
                "(message not signed) header.d=none;dmarc=fail action=oreject "
                "header.from=studio.test;compauth=fail reason=000"
            ],
            "spf=fail",
            id="microsoft-without-authserv-id",
        ),
        pytest.param(
            [f"{PROVIDER}; dmarc=fail header.from=studio.test", f"{PROVIDER}; dmarc=pass"],
            "dmarc=fail",
            id="a-forged-pass-below-cannot-hide-a-failure",
        ),
        pytest.param(
            [f"{PROVIDER}; dmarc=pass header.from=studio.test", "relay.test; dmarc=fail"],
            None,
            id="another-hop-below-is-not-trusted",
        ),
        pytest.param(
            [
                f"{PROVIDER}; dkim=pass header.d=studio.test",
                f"{PROVIDER}; spf=fail smtp.mailfrom=studio.test",
            ],
            "spf=fail",
            id="several-fields-of-the-trusted-server",
        ),
        pytest.param(
            ["garbage without any structure", f"{PROVIDER}; dmarc=fail"],
            "dmarc=fail",
            id="an-unreadable-field-is-skipped",
        ),
        pytest.param([f"{PROVIDER}; none"], None, id="none"),
    ],
)
def test_authentication_results_trust_rule(results: list[str], expected: str | None) -> None:
    assert authentication_failed(results, "studio.test") == expected


def test_authentication_results_are_unfolded_and_read_top_down() -> None:
    raw = (
        b"Authentication-Results: mx.studio.test;\r\n"
        b"\tdkim=fail (signature did not verify;\r\n"
        b"\t body changed) header.d=STUDIO.test;\r\n"
        b"\tspf=pass smtp.mailfrom=studio.test\r\n"
        b"Authentication-Results: relay.evil.test; dkim=pass header.d=studio.test\r\n"
        b"From: erika@studio.test\r\n\r\nok\r\n"
    )
    results = authentication_results(raw)
    assert len(results) == 2 and results[0].startswith("mx.studio.test; dkim=fail")
    assert authentication_failed(results, "studio.test") == "dkim=fail"

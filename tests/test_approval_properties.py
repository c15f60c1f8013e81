"""Properties of approval by reply, over generated mails (hypothesis).

* No approval without exactly the owner as sender and exactly the draft's token in the
  subject: whatever else the From, Subject and body hold (mail.approval.check_reply).
* No token and no sentence of the bot's notice ever ends up in a text to send, however
  the owner's mail program quotes, and wherever the owner writes into the quote
  (mail.approval.parse_command).
"""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from mailstrategies import budget, header_text, hex_token
from nachfass_bot.domain.models import CommandKind
from nachfass_bot.mail.approval import check_reply, parse_command
from nachfass_bot.mail.owntext import NOTICE_PHRASES
from ownerreplies import TOP_POSTS, Original, new_texts, owner_froms
from ownerreplies import foreign_from_fields as foreign_from_fields_of

OWNER = "erika@studio.test"
TOKEN = "5c1e0a9b7d3f2468ace0"
TODAY = date(2026, 3, 11)
SETTINGS = budget(150)  # deadline and health checks: the profile in tests/conftest.py

OWNER_FROMS = owner_froms(OWNER)


def foreign_from_fields() -> st.SearchStrategy[tuple[str, ...]]:
    """From fields that must never count as the owner alone (shared with the cycle tests)."""
    return foreign_from_fields_of(OWNER)


@st.composite
def subjects(draw: st.DrawFn) -> tuple[str, set[str]]:
    """A reply subject with zero to three token tags, and the tokens in it."""
    tokens = draw(st.lists(st.one_of(st.just(TOKEN), hex_token), max_size=3))
    words = [draw(header_text) for _ in tokens] + [draw(header_text)]
    subject = draw(st.sampled_from(["Re: ", "AW: ", "WG: Re: ", ""]))
    for word, token in zip(words, tokens, strict=False):
        subject += f"{word} [NF-{draw(st.sampled_from([token, token.upper()]))}] "
    return subject + words[-1], set(tokens)


def mail(from_fields: tuple[str, ...], subject: str, body: str) -> bytes:
    head = [*(f"From: {value}" for value in from_fields), f"To: {OWNER}", f"Subject: {subject}"]
    head.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode("utf-8", "surrogatepass")


def approves(raw: bytes) -> bool:
    check = check_reply(raw, OWNER)
    return check.refusal is None and check.token == TOKEN


@SETTINGS
@given(foreign_from_fields(), subjects(), st.text(max_size=60))
def test_a_foreign_or_doubtful_sender_never_approves(
    from_fields: tuple[str, ...], subject: tuple[str, set[str]], body: str
) -> None:
    assert not approves(mail(from_fields, subject[0], f"ok\n{body}"))


@SETTINGS
@given(st.sampled_from(OWNER_FROMS), subjects(), st.text(max_size=60))
def test_without_exactly_the_token_in_the_subject_nothing_is_approved(
    owner: str, subject: tuple[str, set[str]], body: str
) -> None:
    text, tokens = subject
    if tokens != {TOKEN}:
        assert not approves(mail((owner,), text, f"ok\n{body}"))


@SETTINGS
@given(st.sampled_from(OWNER_FROMS), hex_token, st.sampled_from(["subject", "body"]))
def test_a_second_token_anywhere_approves_nothing(owner: str, other: str, where: str) -> None:
    subject, body = f"Re: [NF-{TOKEN}] Entwurf", "ok"
    if where == "subject":
        subject += f" [NF-{other}]"
    else:
        body += f"\n\nSiehe auch [NF-{other}]"
    assert approves(mail((owner,), subject, body)) is (other == TOKEN)


@SETTINGS
@given(st.sampled_from(OWNER_FROMS), header_text)
def test_the_owner_with_the_token_is_approved(owner: str, words: str) -> None:
    """The properties above are not vacuous: the real thing goes through."""
    assert approves(mail((owner,), f"Re: [NF-{TOKEN}] {words}", "ok"))


# --- nothing of the notice reaches a client -------------------------------------------

DRAFT = (
    "Guten Tag Herr Keller,\n\nam 2. März 2026 habe ich Ihnen mein Angebot geschickt. Ist es "
    "gut bei Ihnen angekommen?\n\nViele Grüße\nAnna Berger"
)
NOTICE = (
    "Hallo,\n\nfür Jonas Keller (jonas@keller.test) ist der nächste Schritt fällig (Angebot, "
    "Schritt 1, Vorgang 1). Unten steht mein Entwurf.\nNach Deinem Ok geht er frühestens am "
    "Mittwoch, 11. März 2026 um 10:30 Uhr raus.\n\nAntworte einfach auf diese Mail:\n"
    "- „ok“, „ja“ oder „senden“: Der Entwurf geht so raus, wie er unten steht.\n"
    "- „stop“ oder „nein“: Dieser Schritt entfällt, und der Vorgang wird geschlossen.\n"
    f"Es zählen nur die ersten Zeilen über dem zitierten Text. Kennzeichen: [NF-{TOKEN}]\n\n"
    f"----- Entwurf -----\nBetreff: Kurze Nachfrage\n\n{DRAFT}"
)
# The owner's mail programs (shared with the cycle tests): each puts the new text on top.
STYLES = {
    name: (lambda new, notice, f=style: f(new, Original(notice, f"[NF-{TOKEN}] Entwurf", DRAFT)))
    for name, style in TOP_POSTS.items()
}


def no_trace(text: str) -> bool:
    folded = " ".join(text.casefold().split()).replace("„", '"').replace("“", '"')
    phrases = [" ".join(phrase.casefold().split()) for phrase in NOTICE_PHRASES]
    return "nf-" not in folded and TOKEN not in folded and not any(p in folded for p in phrases)


@SETTINGS
@given(new_texts(), st.sampled_from(sorted(STYLES)))
def test_each_quoting_style_gives_exactly_the_new_text(new: str, style: str) -> None:
    command = parse_command(STYLES[style](new, NOTICE), today=TODAY, draft_body=DRAFT, token=TOKEN)
    assert command.kind is CommandKind.EDIT
    assert command.text == new


@SETTINGS
@given(
    new_texts(),
    st.sampled_from(sorted(STYLES)),
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(["\n", " ", "\n\n", ""])), max_size=4
    ),
    st.text(max_size=40),
)
def test_whatever_the_owner_does_to_the_quote_no_trace_of_it_is_sent(
    new: str, style: str, edits: list[tuple[int, str]], noise: str
) -> None:
    """Break lines, join lines, insert stray text anywhere: an EDIT never carries a token
    or a notice sentence, and anything else sends nothing."""
    body = STYLES[style](new, NOTICE)
    for position, insert in edits:
        at = position % (len(body) + 1)
        body = body[:at] + insert + noise + body[at:]
    command = parse_command(body, today=TODAY, draft_body=DRAFT, token=TOKEN)
    if command.kind is CommandKind.EDIT:
        assert no_trace(command.text), command.text

"""Hypothesis strategies for the owner's answers to draft mails, as mail programs write
them: command words with any quoting, edited texts, top-posts and bottom-posts, the
layouts of Thunderbird, Outlook, Apple Mail, Gmail and GMX, HTML-only mails — and the
forged and token-less answers that must never approve anything.

A :class:`ReplyRecipe` is drawn before the draft exists (a cycle test draws its whole
story first); :meth:`ReplyRecipe.build` turns it into the raw mail once the draft mail it
answers is known. ``may_approve`` is False for every recipe that docs/DESIGN.md,
*Forged and stray approvals*, says must not approve.
"""

from __future__ import annotations

import base64
import hashlib
import html
import quopri
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from hypothesis import strategies as st

from mailstrategies import header_text, mime_bodies

__all__ = [
    "LAYOUTS",
    "TOP_POSTS",
    "Original",
    "ReplyRecipe",
    "command_texts",
    "edited_replies",
    "foreign_from_fields",
    "forged_replies",
    "new_texts",
    "owner_froms",
    "owner_replies",
]

# --- who writes ------------------------------------------------------------------------

OTHER_ADDRESSES = ("mallory@evil.test", "x@evil.test")


def owner_froms(owner: str) -> list[str]:
    """From fields that name the owner alone."""
    local = owner.partition("@")[0]
    return [
        owner,
        f"<{owner}>",
        f"Erika Muster <{owner}>",
        f'"Muster, Erika" <{owner}>',
        f'"{owner}" <{owner}>',
        f"=?utf-8?q?Erika_M=C3=BCller?= <{owner.upper()}>",
        f"{local.capitalize()} <{owner}>",
    ]


@st.composite
def foreign_from_fields(draw: st.DrawFn, owner: str) -> tuple[str, ...]:
    """From fields that must never count as the owner alone."""
    local, _, domain = owner.partition("@")
    other = draw(
        st.sampled_from(
            [*OTHER_ADDRESSES, f"{owner}.evil.test", f"{local}@evil.test", f"x@{domain}"]
        )
    )
    named = draw(st.sampled_from(owner_froms(owner)))
    return draw(
        st.sampled_from(
            [
                (f"{named}, {other}",),
                (f"{other}, {named}",),
                (f'"{owner}" <{other}>',),
                (f'"{other}" <{owner}>',),
                (f"{owner} <{other}>",),
                (f"Erika ({other}) <{owner}>",),
                (other,),
                (named, other),
                (named, named),
                (),
                (f"<{owner}",),
                (f"{owner}>",),
                (f"Team: {named};",),
                (f"{draw(header_text)}{other}{draw(header_text)}<{owner}>",),
            ]
        )
    )


# --- what the owner writes ---------------------------------------------------------------

WORDS = st.sampled_from(
    ("passt", "Ihnen", "Donnerstag", "ein", "Telefonat", "Angebot", "gern", "Punkte", "offen",
     "Termin", "danke", "bitte", "Rückmeldung", "Woche", "kurz")
)  # fmt: skip


@st.composite
def new_texts(draw: st.DrawFn) -> str:
    """An edited draft text: a greeting, two to four sentences, a closing."""
    sentences = draw(st.lists(st.lists(WORDS, min_size=3, max_size=9), min_size=2, max_size=4))
    body = "\n".join(" ".join(words).capitalize() + "." for words in sentences)
    return f"Guten Tag Herr Keller,\n\n{body}\n\nViele Grüße\nAnna"


APPROVALS = ("ok", "OK", "Ok!", "okay", "o.k.", "ja", "Ja, bitte", "senden", "yes", "ok 👍")
COMMAND_WORDS = (
    "ok danke", "stop", "Stopp", "nein", "später 7", "später 2 Wochen", "Später 12.01.",
    "bezahlt", "erledigt", "ok, aber ändere den Termin", "> ok", "", "status",
    "urlaub bis 06.01.",
)  # fmt: skip
QUOTE_MARKS = (("", ""), ("„", "“"), ('"', '"'), ("'", "'"), ("*", "*"), ("  ", "  "), ("»", "«"))


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    """A command word in any quoting and case, maybe with more lines, or an edited text."""
    choice = draw(st.integers(0, 7))
    if choice < 2:
        return draw(new_texts())
    if choice < 5:
        word = draw(st.sampled_from(APPROVALS))
    elif choice < 7:
        word = draw(st.sampled_from(COMMAND_WORDS))
    else:
        word = draw(header_text)
    left, right = draw(st.sampled_from(QUOTE_MARKS))
    more = draw(st.sampled_from(("", "\n\nDanke!", "\nAnna", "\n\n-- \nAnna Berger")))
    return f"{left}{word}{right}{more}"


# --- how the mail program lays it out ------------------------------------------------------


@dataclass(frozen=True)
class Original:
    """The draft mail as the owner's program quotes it."""

    body: str  # the whole notice, draft included
    subject: str  # with the token tag
    draft: str = ""  # the draft's own text, for replies that repeat only it


def quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _html(text: str) -> str:
    return "<br>\n".join(html.escape(line) for line in text.splitlines())


Layout = Callable[[str, Original], tuple[str, str]]  # (new text, original) → (subtype, body)

TOP_POSTS: dict[str, Callable[[str, Original], str]] = {
    "thunderbird": lambda new, o: (
        f"{new}\n\nAm 11.03.26 um 10:30 schrieb nachfass-bot:\n" + quoted(o.body)
    ),
    "outlook": lambda new, o: (
        f"{new}\n\nVon: Anna <a@b.test>\nGesendet: Mittwoch, 11. März 2026 10:30\n"
        f"An: a@b.test\nBetreff: {o.subject}\n\n{o.body}"
    ),
    "apple": lambda new, o: (
        f"{new}\n\n> Am 11.03.2026 um 10:30 schrieb Anna <a@b.test>:\n>\n{quoted(o.body)}"
    ),
    "gmail": lambda new, o: (
        f"{new}\n\nOn Wed, Mar 11, 2026 at 10:30 AM Anna <a@b.test>\nwrote:\n\n{quoted(o.body)}"
    ),
    "french": lambda new, o: (
        f"{new}\n\nLe mer. 11 mars 2026 à 10:30, Anna <a@b.test> a écrit :\n\n{quoted(o.body)}"
    ),
    "no-marks": lambda new, o: f"{new}\n\n{o.body}",
    "draft-follows": lambda new, o: f"{new}\n\n{o.draft}",
}

LAYOUTS: dict[str, Layout] = {
    **{name: (lambda new, o, f=style: ("plain", f(new, o))) for name, style in TOP_POSTS.items()},
    "gmx": lambda new, o: (
        "plain",
        f"{new}\n\n \n\nGesendet: Mittwoch, 11. März 2026 um 10:30 Uhr\n"
        f'Von: "Anna Berger" <a@b.test>\nAn: a@b.test\nBetreff: {o.subject}\n\n{o.body}',
    ),
    "bottom-post": lambda new, o: (
        "plain",
        f"Am 11.03.26 um 10:30 schrieb nachfass-bot:\n{quoted(o.body)}\n\n{new}",
    ),
    "interleaved": lambda new, o: (
        "plain",
        "Am 11.03.26 um 10:30 schrieb nachfass-bot:\n"
        + quoted(o.body[: len(o.body) // 2])
        + f"\n\n{new}\n\n"
        + quoted(o.body[len(o.body) // 2 :]),
    ),
    "html-thunderbird": lambda new, o: (
        "html",
        f"<html><body><p>{_html(new)}</p><div class=moz-cite-prefix>Am 11.03.26 um 10:30 "
        f"schrieb nachfass-bot:<br></div><blockquote type=cite><pre>{html.escape(o.body)}"
        "</pre></blockquote></body></html>",
    ),
    "html-outlook": lambda new, o: (
        "html",
        f"<html><body><div>{_html(new)}</div><div id=divRplyFwdMsg><hr><b>Von:</b> Anna "
        "&lt;a@b.test&gt;<br><b>Gesendet:</b> Mittwoch, 11. März 2026 10:30<br><b>An:</b> "
        f"a@b.test<br><b>Betreff:</b> {html.escape(o.subject)}</div><div>{_html(o.body)}"
        "</div></body></html>",
    ),
    "html-gmail": lambda new, o: (
        "html",
        f'<div dir="ltr">{_html(new)}</div><br><div class="gmail_quote"><div dir="ltr" '
        'class="gmail_attr">Am Mi., 11. März 2026 um 10:30 Uhr schrieb Anna &lt;a@b.test'
        '&gt;:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        f"{_html(o.body)}</blockquote></div>",
    ),
    "html-apple": lambda new, o: (
        "html",
        f'<div>{_html(new)}</div><div><br><blockquote type="cite"><div>Am 11.03.2026 um '
        f"10:30 schrieb Anna:</div><br><div>{_html(o.body)}</div></blockquote></div>",
    ),
}

# --- the whole reply ---------------------------------------------------------------------

# Subjects: "{subject}" is the draft mail's subject, "{bare}" the same without its tag,
# "{tag}" the tag alone, "{other}" another draft's token. True: the subject carries
# exactly the draft's token (may approve).
SUBJECTS: tuple[tuple[str, bool], ...] = (
    ("Re: {subject}", True),
    ("AW: {subject}", True),
    ("Re: AW: {subject}", True),
    ("{subject}", True),
    ("Re: {upper}", True),
    ("Re: {subject} {tag}", True),
    ("Re: {bare}", False),
    ("Re: [NF-{other}] {bare}", False),
    ("Re: {subject} [NF-{other}]", False),
    ("Re: [NF-{other}] {subject}", False),
    ("Re: Entwurf", False),
    ("Re: NF-{token} {bare}", False),
)


@dataclass(frozen=True)
class ReplyRecipe:
    """An answer to whichever draft mail ``target`` picks, built once it exists."""

    target: int
    from_fields: tuple[str, ...]
    sender_is_owner: bool
    subject: str
    subject_has_token: bool
    text: str
    layout: str
    edits: tuple[tuple[int, str], ...]
    in_reply_to: bool
    dmarc: str  # "" (no Authentication-Results), "pass" or "fail"
    charset: str
    encoding: str
    subject_encoding: str = "raw"  # "raw" 8-bit, or RFC 2047 "b", "q", "b-split" words
    mime: bytes | None = None  # a generated MIME entity instead of the layout's text

    @property
    def may_approve(self) -> bool:
        """Only the owner alone, with exactly the draft's token, unless DMARC failed."""
        return self.sender_is_owner and self.subject_has_token and self.dmarc != "fail"

    def build(
        self, *, owner: str, subject: str, body: str, message_id: str, now: datetime
    ) -> bytes:
        """The raw reply to the draft mail with ``subject``, ``body`` and ``message_id``."""
        token = _token_in(subject)
        tag = f"[NF-{token}]"
        bare = " ".join(subject.replace(tag, " ").split())
        draft = body.partition("----- Entwurf -----")[2].partition("\n\n")[2]
        line = self.subject.format(
            subject=subject, upper=subject.replace(token, token.upper()), bare=bare, tag=tag,
            other="0" * 20 if token != "0" * 20 else "1" * 20, token=token,
        )  # fmt: skip
        subtype, text = LAYOUTS[self.layout](self.text, Original(body, subject, draft))
        for position, insert in self.edits:
            at = position % (len(text) + 1)
            text = text[:at] + insert + text[at:]
        head = [f"From: {value}" for value in self.from_fields]
        head += [f"To: {owner}", f"Subject: {_encoded(line, self.subject_encoding)}"]
        head.append(f"Date: {format_datetime(now)}")
        digest = hashlib.sha256(repr((self, message_id, now)).encode()).hexdigest()[:16]
        head.append(f"Message-ID: <reply-{digest}@{owner.partition('@')[2]}>")
        if self.in_reply_to:
            head += [f"In-Reply-To: {message_id}", f"References: {message_id}"]
        if self.dmarc:
            domain = owner.partition("@")[2]
            head.insert(0, f"Authentication-Results: mx.{domain}; dmarc={self.dmarc} "
                           f"header.from={domain}")  # fmt: skip
        head.append("MIME-Version: 1.0")
        if self.mime is not None:  # the entity brings its own Content-* fields
            return "\r\n".join(head).encode("utf-8") + b"\r\n" + self.mime
        head.append(f'Content-Type: text/{subtype}; charset="{self.charset}"')
        head.append(f"Content-Transfer-Encoding: {self.encoding}")
        data = text.replace("\n", "\r\n").encode(self.charset, "replace")
        if self.encoding == "quoted-printable":
            data = quopri.encodestring(data)
        elif self.encoding == "base64":
            data = base64.encodebytes(data)
        return "\r\n".join(head).encode("utf-8") + b"\r\n\r\n" + data


def _encoded(line: str, how: str) -> str:
    """The subject as mail programs write it: raw UTF-8 or RFC 2047 encoded words; a
    "b-split" subject is cut in two words mid-token, as folding encoders do."""
    if how == "raw":
        return line
    if how == "q":
        return "=?utf-8?q?" + _q(line.encode()) + "?="
    cut = len(line) // 2 if how == "b-split" else len(line)
    words = [line[:cut], line[cut:]] if line[cut:] else [line]
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(word.encode()).decode() + "?=" for word in words
    )


def _q(data: bytes) -> str:
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/"
    return "".join(chr(byte) if byte in safe else f"={byte:02X}" for byte in data)


def _token_in(subject: str) -> str:
    start = subject.find("[NF-")
    return subject[start + 4 : subject.find("]", start)] if start >= 0 else "f" * 20


_edits = st.lists(
    st.tuples(st.integers(min_value=0), st.sampled_from(["\n", " ", "\n\n", "", "> ", "x"])),
    max_size=3,
)


@st.composite
def _recipe(
    draw: st.DrawFn,
    owner: str,
    *,
    genuine_sender: bool | None,
    genuine_subject: bool | None,
    texts: st.SearchStrategy[str] | None = None,
) -> ReplyRecipe:
    if genuine_sender is None:
        genuine_sender = draw(st.integers(0, 3)) > 0
    if genuine_sender:
        from_fields: tuple[str, ...] = (draw(st.sampled_from(owner_froms(owner))),)
    else:
        from_fields = draw(foreign_from_fields(owner))
    if genuine_subject is None:
        genuine_subject = draw(st.integers(0, 2)) > 0
    subject, has_token = draw(st.sampled_from([s for s in SUBJECTS if s[1] == genuine_subject]))
    return ReplyRecipe(
        target=draw(st.integers(0, 10)),
        from_fields=from_fields,
        sender_is_owner=genuine_sender,
        subject=subject,
        subject_has_token=has_token,
        text=draw(texts if texts is not None else command_texts()),
        layout=draw(st.sampled_from(sorted(LAYOUTS))),
        edits=tuple(draw(_edits)) if draw(st.integers(0, 3)) == 0 else (),
        in_reply_to=draw(st.booleans()),
        dmarc=draw(st.sampled_from(("", "", "", "pass", "pass", "fail"))),
        charset=draw(st.sampled_from(("utf-8", "iso-8859-1", "windows-1252"))),
        encoding=draw(st.sampled_from(("8bit", "quoted-printable", "base64"))),
        subject_encoding=draw(st.sampled_from(("raw", "raw", "b", "q", "b-split"))),
        mime=draw(mime_bodies()) if draw(st.integers(0, 7)) == 0 else None,
    )


def owner_replies(owner: str) -> st.SearchStrategy[ReplyRecipe]:
    """Answers to draft mails: mostly the owner's own, some forged or without the token."""
    return _recipe(owner, genuine_sender=None, genuine_subject=None)


def forged_replies(owner: str) -> st.SearchStrategy[ReplyRecipe]:
    """Answers that must never approve: a foreign sender, no exact token, or DMARC fail."""
    return st.one_of(
        _recipe(owner, genuine_sender=False, genuine_subject=None),
        _recipe(owner, genuine_sender=None, genuine_subject=False),
    ).filter(lambda recipe: not recipe.may_approve)


def edited_replies(owner: str) -> st.SearchStrategy[ReplyRecipe]:
    """The owner's own answers with an edited text, in every layout, often mangled."""
    return _recipe(owner, genuine_sender=True, genuine_subject=True, texts=new_texts()).filter(
        lambda recipe: recipe.dmarc != "fail"
    )

"""Ask the server first: IMAP ``SEARCH`` programs that find every mail a sync may need
to look at closely (docs/DESIGN.md, "The cycle", the first look). Pure, no I/O.

A first sync of a big folder judges most mails unrelated at a first look
(:mod:`nachfass_bot.mail.firstlook`) and ``InboxReader._candidate`` picks the few that
need the full parse. Of those, only the ones ``InboxReader._may_act`` keeps can change a
thread, start one or be a command: every candidate but machine mail that names nothing
known and shows no bounce sign — an auto-reply to nobody tracked, whose verdict changes
nothing, and which a thread created later reads again by its header when it looks back.
:func:`search_programs` turns what ``_may_act`` tests into ``UID SEARCH`` criteria (RFC
3501 §6.4.4) whose union of hits is a *superset* of those mails, so a sync need fetch
only the hits. A key may find too much, never too little: IMAP search is
case-insensitive substring matching on the decoded field, so each rule becomes one or a
few short words.

What makes ``_may_act`` say yes, and the key that finds it:

* a bounce's sign of the look (``bounce_sign``): one of
  :data:`~nachfass_bot.mail.firstlook.REPORT_FIELDS` that the sync fetches (``HEADER
  X-Failed-Recipients ""``: the field is there), a Content-Type naming a report or a
  delivery status (a bare ``message/delivery-status`` is read as one too), or a
  From that names a mail system
  (:func:`~nachfass_bot.mail.bounces.names_delivery_system`: FROM "delivery");
* a bounce subject (:func:`~nachfass_bot.mail.bounces.is_bounce_subject`: "deliver",
  "returned", "failure", "delayed", "zustell", "zugestellt") or a delivery-system
  sender (:func:`~nachfass_bot.mail.bounces.is_delivery_system`: FROM "daemon",
  "postmaster");
* a draft's token in the subject (:func:`~nachfass_bot.mail.approval.find_token`):
  ``[`` and ``NF`` both in the subject, whatever blanks lie between; and a subject the
  server could not decode (it still shows ``=?``), where it cannot tell;
* the owner's address in From;
* ``ThreadIndex.may_concern``: a tracked sender or company domain in From, a known
  Message-ID in In-Reply-To or References, one of the bot's own as the Message-ID (see
  below); a draft's id, which ``_may_act`` tests in In-Reply-To, is one of the bot's.

The signs of an auto-reply alone (``Auto-Submitted``, the vendor fields, a Precedence
other than bulk, list or junk, the null Return-Path, an out-of-office subject) are no
key: in a mixed inbox they name every shop's and service's notification, and reading
those was most of a first sync.

Values are matched as ASCII substrings. A value is cut into the pieces a quoted string
can carry and that the server sees unchanged: at every character that is not printable
ASCII, and at every ``ss`` (a casefolded ``ß`` reads ``ss`` here but stays ``ß`` on the
server); the key asks for all pieces (an AND). A value with no piece left becomes the
broadest key of its field (``HEADER <field> ""``).

Message-IDs come in two kinds. The bot's own (roles sent, draft, notice) are all made by
``texts.compose.new_message_id`` (``make_msgid(idstring="nachfass")``) and carry
``.nachfass@``: however many there are, three keys find them, always given (``HEADER Message-ID``,
``In-Reply-To`` and ``References`` ``".nachfass@"``). An id without that mark is a
thread's other id (the tracked mail's, the owner's, a client's answer):
``may_concern`` tests a mail's *own* Message-ID only against the bot's own ids, so such
an id counts only where a mail references it, two keys each (In-Reply-To, References).
More of them than ``max_id_keys`` allows become "any reply" (``HEADER In-Reply-To ""``,
``HEADER References ""``) instead of more keys: on Dovecot 2.3 each key costs about
10 ms per 20,000 mails once the header fields are cached (up to three times that on a
cold cache), about what fetching the header fields of 1-2 % of the range costs, so an
exact key pays only while it spares more fetches than that. Senders and domains are
spread over several programs (each key is one cheap FROM test).

A mail whose header the first look cannot read (None) is a candidate today, whatever it
says; the server cannot know which mails those are. Such a mail still matters only
through what the full parse and the rule chain read from it, and those are the very
fields tested here (From, the three id fields, the subject, the report fields): the
look gives up only so that the full parse decides, not because an unreadable header is
a trigger of its own. So such a mail is found when its fields, as the server decodes
them, carry a trigger (tests/test_prefilter.py checks that over the corpus and generated
hostile mails, judging a mail the look gives up on by its full parse).

Known gaps, where the server's reading may differ from ours: a malformed header the
server splits into fields otherwise than the ``email`` package; an encoded word with a
token that the server decodes otherwise than Python; compatibility characters (``ﬁ``)
that casefold to ASCII in an address or Message-ID; and a bot's own Message-ID not made
by ``new_message_id``. And one the rule chain sees that the header does not: a delivery
report nested inside another part (a bounce forwarded as an attachment) of a mail that
shows only an auto-reply's sign and names nothing known; it would be judged a bounce of
the addresses it names and is not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import message_from_bytes

from nachfass_bot.mail.bounces import field_value
from nachfass_bot.mail.firstlook import REPORT_FIELDS
from nachfass_bot.mail.headers import address, decode_words
from nachfass_bot.mail.inbound import HEADER_FIELDS

__all__ = [
    "DEFAULT_MAX_ID_KEYS",
    "DEFAULT_MAX_KEYS",
    "Wanted",
    "answer_programs",
    "probe_program",
    "quote",
    "search_programs",
]

# Keys per program: Dovecot's command line limit is 64 kB (imap_max_line_length), and a
# key is at most a field name and a 254-character address; 200 keep well under it.
DEFAULT_MAX_KEYS = 200
DEFAULT_MAX_ID_KEYS = 40  # 20 threads' ids before "any reply" (module docstring)
_MAX_CHARS = 32_000  # a second bound per program, in case values are long
_BOUNCE_WORDS = ("deliver", "returned", "failure", "delayed", "zustell", "zugestellt")
# bounces._MACHINE_SENDERS and the names of bounces._MACHINE_SENDER_RE (single words:
# any blanks between "Mail" and "Delivery")
_DELIVERY_SENDERS = ("daemon", "postmaster", "delivery")
_ID_FIELDS = ("Message-ID", "In-Reply-To", "References")
# A field the sync does not fetch never reaches the first look, so it makes no candidate;
# asking the server for it would make it open every mail file (its cache holds only the
# fields clients fetch: a cold X-MDDSN-Message key took 5.9 s of a 6.3 s search at
# 20,000 mails).
_FETCHED = frozenset(name.lower() for name in HEADER_FIELDS)
_REFERENCE_FIELDS = _ID_FIELDS[1:]
_OWN_ID_MARK = ".nachfass@"  # make_msgid(idstring="nachfass") in texts.compose
# What a quoted string carries unchanged: printable ASCII (RFC 3501 §9 QUOTED-CHAR, with
# escapes for the two quoted-specials); the rest separates pieces.
_PIECE_RE = re.compile(r"[\x20-\x7e]+")
_WORD_RE = re.compile(r"[A-Za-z0-9]{5,}")


@dataclass(frozen=True)
class Wanted:
    """What a mail must show to be worth a closer look, all folded (``casefold``)."""

    owner: str  # the owner's address
    senders: frozenset[str] = frozenset()  # tracked clients' and assistants' addresses
    domains: frozenset[str] = frozenset()  # tracked company domains
    message_ids: frozenset[str] = frozenset()  # "<…>": the bot's own and threads' ids


def quote(value: str) -> str:
    """An RFC 3501 quoted string; ValueError for what it cannot carry (CR, LF,
    non-ASCII, control characters): the caller cuts such values into pieces first."""
    if not _PIECE_RE.fullmatch(value) and value:
        raise ValueError(f"not quotable as an IMAP quoted string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_programs(
    wanted: Wanted, *, max_keys: int = DEFAULT_MAX_KEYS, max_id_keys: int = DEFAULT_MAX_ID_KEYS
) -> list[str]:
    """``UID SEARCH`` criteria whose hits together cover every mail ``_may_act`` may
    take (module docstring), each an OR tree of at most ``max_keys`` keys; threads' ids
    take at most ``max_id_keys`` keys before they fall back to "any reply"."""
    if max_keys < 2:
        raise ValueError("max_keys must be at least 2")
    fixed = [*_sign_keys(), *_from_keys([wanted.owner])]
    ids = _id_keys(wanted.message_ids, min(max_id_keys, max_keys - len(fixed)))
    keys = [*fixed, *ids, *_sender_keys(wanted)]
    return [_or_tree(chunk) for chunk in _chunks(keys, max_keys)]


def answer_programs(
    wanted: Wanted, *, max_keys: int = DEFAULT_MAX_KEYS, max_id_keys: int = DEFAULT_MAX_ID_KEYS
) -> list[str]:
    """``UID SEARCH`` criteria whose hits cover every mail that may answer a thread with
    these keys (``Store.synced_mails``, ``may_answer``): one of ``wanted.message_ids``
    in In-Reply-To or References (past ``max_id_keys`` keys: any reply), or From one of
    the senders or domains. No sign and no owner: the look back counts neither machine
    mail nor the owner's, so asking for them would only fetch what it drops."""
    if max_keys < 2:
        raise ValueError("max_keys must be at least 2")
    ids = [one for one in (_inner(one) for one in sorted(wanted.message_ids)) if one]
    if len(ids) * len(_REFERENCE_FIELDS) <= min(max_id_keys, max_keys):
        keys = [_field_key(f"HEADER {f}", one) for one in ids for f in _REFERENCE_FIELDS]
    else:
        keys = [f"HEADER {field} {quote('')}" for field in _REFERENCE_FIELDS]
    keys += _sender_keys(wanted)
    return [_or_tree(chunk) for chunk in _chunks(keys, max_keys)]


def probe_program(header: bytes) -> str | None:
    """A search that a server matching substrings (RFC 3501 §6.4.4) must answer with the
    mail whose header this is: a piece from the inside of a word of its From address,
    its subject and its Message-ID, all three asked. A word index, or one that matches
    only the start of words, finds none of them. None when the mail has no word of at
    least five ASCII letters or digits in any of the three."""
    msg = message_from_bytes(header)
    values = (
        ("FROM", address(field_value(msg, "From") or "") or ""),
        ("SUBJECT", decode_words(field_value(msg, "Subject") or "")),
        ("HEADER Message-ID", field_value(msg, "Message-ID") or ""),
    )
    keys = [f"{prefix} {quote(piece)}" for prefix, value in values if (piece := _inside(value))]
    return " ".join(keys) if keys else None


def _inside(value: str) -> str | None:
    """The longest ASCII word of ``value`` (five or more letters or digits) without its
    first and last character; None without such a word."""
    words = sorted(_WORD_RE.findall(value), key=len, reverse=True)
    return words[0][1:-1] if words else None


def _sign_keys() -> list[str]:
    """The keys of every sign that makes a mail worth a closer look whoever sent it: a
    bounce's and a draft's token (module docstring)."""
    keys = [f"HEADER {name} {quote('')}" for name in sorted(REPORT_FIELDS & _FETCHED)]
    keys.extend(f"HEADER Content-Type {quote(word)}" for word in ("report", "delivery-status"))
    keys.extend(f"SUBJECT {quote(word)}" for word in _BOUNCE_WORDS)
    keys.append(f"(SUBJECT {quote('[')} SUBJECT {quote('nf')})")  # "[ NF - …]", any blanks
    keys.append(f"SUBJECT {quote('=?')}")  # left encoded: the server cannot tell
    keys.extend(f"FROM {quote(word)}" for word in _DELIVERY_SENDERS)
    return keys


def _id_keys(message_ids: frozenset[str], budget: int) -> list[str]:
    """The bot's own ids by their mark (always: a draft's id may be missing from
    ``message_ids``), the others in In-Reply-To and References; when those would take
    more than ``budget`` keys, any reply (module docstring)."""
    inner = [_inner(one) for one in sorted(message_ids)]
    keys = [f"HEADER {field} {quote(_OWN_ID_MARK)}" for field in _ID_FIELDS]
    others = [one for one in inner if one and _OWN_ID_MARK not in one]
    if len(others) * len(_REFERENCE_FIELDS) <= budget:
        keys += [_field_key(f"HEADER {f}", one) for one in others for f in _REFERENCE_FIELDS]
    else:
        keys += [f"HEADER {field} {quote('')}" for field in _REFERENCE_FIELDS]
    return keys


def _sender_keys(wanted: Wanted) -> list[str]:
    domains = [f"@{domain.strip()}" for domain in sorted(wanted.domains) if domain.strip()]
    return _from_keys([*sorted(wanted.senders), *domains])


def _from_keys(values: Iterable[str]) -> list[str]:
    """FROM keys of addresses (or ``@domain``); an empty value names nobody."""
    return [_field_key("FROM", value) for value in values if value.strip()]


def _inner(message_id: str) -> str:
    """A msg-id without its brackets: the server may see blanks inside them."""
    return message_id.strip().removeprefix("<").removesuffix(">").strip()


def _field_key(prefix: str, value: str) -> str:
    """``prefix "value"`` as the AND of the value's pieces (module docstring); the
    field's broadest key when no piece is left."""
    pieces = _pieces(value)
    if not pieces:
        return f"{prefix} {quote('')}"
    keys = [f"{prefix} {quote(piece)}" for piece in pieces]
    return keys[0] if len(keys) == 1 else "(" + " ".join(keys) + ")"


def _pieces(value: str) -> list[str]:
    """The printable ASCII runs of ``value``, cut at each ``ss`` too."""
    return [
        piece
        for run in _PIECE_RE.findall(value.strip())
        for piece in run.split("ss")
        if piece.strip()
    ]


def _chunks(keys: Sequence[str], max_keys: int) -> Iterable[list[str]]:
    """``keys`` in order, at most ``max_keys`` and about ``_MAX_CHARS`` per chunk."""
    chunk: list[str] = []
    size = 0
    for key in keys:
        if chunk and (len(chunk) >= max_keys or size + len(key) > _MAX_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(key)
        size += len(key) + 4
    if chunk:
        yield chunk


def _or_tree(keys: Sequence[str]) -> str:
    """One search key that is true when any of ``keys`` is: a balanced tree of ORs
    (RFC 3501 ``OR key1 key2``), so its depth grows with the log of the count."""
    if len(keys) == 1:
        return keys[0]
    middle = len(keys) // 2
    return f"OR {_or_tree(keys[:middle])} {_or_tree(keys[middle:])}"

"""Exactly one plain mail address, as the owner types it for a client or an assistant
(docs/DESIGN.md, "Input at the door"). Pure: no DNS, no sockets.

The bot sends to this address and matches answers by it, so it must be one
``local@domain`` (RFC 5322 addr-spec) and nothing else: no list (``,`` ``;``), no display
name or angle brackets that could carry a second address, no control characters and no
bidirectional overrides that make an address read differently from what it is. The
syntax is checked by ``email-validator`` (without deliverability, so without DNS); the
result is the ASCII form (an IDN domain as Punycode, as mail headers carry it), lower-case.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from nachfass_bot.errors import InvalidAddress

# Characters that turn how an address is shown: embeddings and overrides (U+202A–U+202E),
# isolates (U+2066–U+2069), the left-to-right and right-to-left marks (U+200E, U+200F).
BIDI_CONTROLS = frozenset(
    {chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
)
_LIST_SEPARATORS = (",", ";")
_SHOWN = 60  # characters of the input quoted in a message


def parse_address(text: str) -> str:
    """The one address in ``text`` (outer spaces ignored), in ASCII and lower-case;
    InvalidAddress with a German message for anything else."""
    value = text.strip(" ")
    if any(_is_control(char) for char in value):  # also a trailing line break
        raise InvalidAddress(
            f"„{_shown(value)}“ enthält Steuer- oder Richtungszeichen: bitte die Adresse "
            "von Hand eintippen"
        )
    if any(separator in value for separator in _LIST_SEPARATORS):
        raise InvalidAddress(f"„{_shown(value)}“: bitte genau eine Adresse angeben, keine Liste")
    if "<" in value or ">" in value or '"' in value:
        raise InvalidAddress(
            f"„{_shown(value)}“: bitte nur die Adresse angeben, ohne Namen, spitze "
            "Klammern oder Anführungszeichen (z. B. jonas.keller@firma.de)"
        )
    try:
        checked = validate_email(
            value,
            check_deliverability=False,  # syntax only: no DNS
            allow_smtputf8=False,  # an ASCII local part every mail server accepts
            test_environment=True,  # also *.test addresses, for tests and the demo
        )
    except EmailNotValidError:
        raise InvalidAddress(
            f"„{_shown(value)}“ ist keine gültige E-Mail-Adresse (wie jonas.keller@firma.de)"
        ) from None
    return str(checked.ascii_email).lower()


def _is_control(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cf")


def _shown(text: str) -> str:
    """The input quoted in a message, its invisible characters made visible."""
    visible = "".join(f"<U+{ord(char):04X}>" if _is_control(char) else char for char in text)
    return visible if len(visible) <= _SHOWN else visible[: _SHOWN - 1] + "…"

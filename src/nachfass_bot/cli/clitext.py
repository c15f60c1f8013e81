"""Click's own texts (help headings, usage errors) in German.

Click looks its texts up through ``gettext``; it ships no German catalog, so the
command line swaps in this small table when it starts. Texts not in the table stay as
they are.
"""

from __future__ import annotations

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.types

GERMAN: dict[str, str] = {
    "Usage:": "Aufruf:",
    "Options": "Optionen",
    "Commands": "Befehle",
    "Show this message and exit.": "Diese Hilfe zeigen.",
    "Aborted!": "Abgebrochen.",
    "Missing command.": "Es fehlt ein Befehl.",
    "Missing argument": "Es fehlt das Argument",
    "Missing option": "Es fehlt die Option",
    "Missing parameter": "Es fehlt die Angabe",
    "No such option {name!r}.": "Die Option {name!r} gibt es nicht.",
    "No such command {name!r}.": "Den Befehl {name!r} gibt es nicht.",
    "Invalid value for {param_hint}: {message}": "Ungültiger Wert für {param_hint}: {message}",
    "Invalid value: {message}": "Ungültiger Wert: {message}",
    "Error: {message}": "Fehler: {message}",
    "Try '{command} {option}' for help.": "Hilfe: {command} {option}",
    "{value!r} is not a valid {number_type}.": "{value!r} ist keine gültige Zahl.",
    "{value!r} is not {choice}.": "{value!r} ist nicht {choice}.",
    "{value!r} is not one of {choices}.": "{value!r} ist keiner von {choices}.",
    "Option {name!r} requires an argument.": "Die Option {name!r} braucht einen Wert.",
    "Option {name!r} requires {nargs} arguments.": "Die Option {name!r} braucht {nargs} Werte.",
    "Got unexpected extra argument ({args})": "Unerwartetes Argument ({args})",
    "Got unexpected extra arguments ({args})": "Unerwartete Argumente ({args})",
    "Option {name!r} does not take a value.": "Die Option {name!r} nimmt keinen Wert.",
}


def german(message: str) -> str:
    return GERMAN.get(message, message)


def german_plural(singular: str, plural: str, count: int) -> str:
    return german(singular if count == 1 else plural)


def use_german() -> None:
    """Let click speak German (idempotent)."""
    for module in (
        click.core,
        click.decorators,
        click.exceptions,
        click.formatting,
        click.parser,
        click.types,
    ):
        if hasattr(module, "_"):
            module._ = german  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = german_plural  # type: ignore[attr-defined]

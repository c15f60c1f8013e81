"""German mail texts: a sandboxed Jinja2 environment, Babel filters and rendering.

A template is a UTF-8 text file ``<name>.txt``. Its first line is ``Betreff: <subject>``,
the second line is empty, the rest is the plain-text body. Subject and body are compiled
as two templates from the same file, so error messages name the real file and line.

Templates are looked up in the owner's override directory first (config
``templates_dir``), then in the built-in directory. An override that exists but is
broken raises :class:`TemplateError`; it is never silently replaced by the built-in.

Every string in the context is cleaned before rendering: control characters and line
breaks become a single space, so a value such as a client name can never add a header
line (RFC 5322 §2.2: a header field ends at CRLF). Only the keys in ``MULTILINE_KEYS``
keep their line breaks, and only in the body.

Filters for templates: ``datum`` ("Montag, 12. Januar 2026"), ``datum_mittel``
("12. Januar 2026"), ``datum_kurz`` ("12.01.2026"), ``uhrzeit`` ("09:00"), ``geld``
("1.190,00 €"), ``prozent`` ("10,27 %"), ``aufzaehlung`` ("A, B und C") and
``kuerzen(n)``. Every template and the context keys it uses are listed in
``templates/de/README.md``.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel.dates import format_date, get_month_names
from babel.numbers import format_currency, format_decimal
from jinja2.sandbox import SandboxedEnvironment

from nachfass_bot.errors import ConfigError, TemplateError
from nachfass_bot.resources import bundled_path

LOCALE = "de_DE"
TEMPLATE_SUFFIX = ".txt"
SUBJECT_PREFIX = "Betreff:"
# Context keys whose line breaks survive in the body (never in the subject).
MULTILINE_KEYS = frozenset({"signature", "draft_body"})

_SUBJECT_PART = "betreff"
_BODY_PART = "text"
_PART_SEPARATOR = "#"
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]+")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")
# Unicode's control characters (Cc) and the line and paragraph separators (Zl, Zp): a
# fixed set (tests/test_texts.py checks it against unicodedata), matched by one regex
# instead of a category look-up per character (the digest cleans ~3 million characters
# at 10,000 threads).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # not \t, \n
# Words in a name that are neither a first name nor part of a greeting we may guess.
_NAME_PREFIXES = frozenset({"herr", "frau", "hr.", "fr.", "dr.", "prof.", "dipl.-ing."})
# Words that are a form of address, not part of the name: dropped before "Frau"/"Herr".
_FORM_WORDS = frozenset({"herr", "herrn", "frau", "hr.", "fr."})
_FORMS_OF_ADDRESS = {"frau": "Frau", "herr": "Herr"}
# Lower-case particles that belong to the last name ("Frau von der Leyen").
_NAME_PARTICLES = frozenset(
    {"von", "vom", "zu", "zum", "zur", "der", "den", "van", "de", "da", "di", "del", "ten", "ter"}
)


@dataclass(frozen=True)
class RenderedMail:
    """One rendered mail: a single-line subject and a plain-text body.

    ``body`` uses ``"\\n"`` line ends and ends with exactly one ``"\\n"``.
    """

    subject: str
    body: str


def builtin_template_dir() -> Path:
    """Return the directory of the built-in German templates.

    The installed wheel carries them as package data (``nachfass_bot/templates/de``);
    in a source checkout they live at ``<repo>/templates/de``.
    """
    return bundled_path("templates", "de")


def salutation(name: str | None, du: bool, anrede: str | None = None) -> str:
    """Return the opening line of a mail, without guessing a gender.

    Sie with a known form of address (``anrede`` ``"frau"`` or ``"herr"``): the last name
    with any titles, ``"Guten Tag Frau Dr. Weiß,"``. Sie without one:
    ``"Guten Tag Jonas Keller,"``. Du: ``"Hallo Jonas,"`` (first name only, whatever the
    form of address). Without a usable name ``"Guten Tag,"`` or ``"Hallo,"``. A name
    written as ``"Keller, Jonas"`` is turned round; an e-mail address is not used as a
    name; an unknown ``anrede`` counts as none.
    """
    display = display_name(name)
    if not display:
        return "Hallo," if du else "Guten Tag,"
    if du:
        return f"Hallo {_first_name(display)},"
    form = _FORMS_OF_ADDRESS.get((anrede or "").strip().lower())
    formal = _formal_name(display) if form else ""
    if form and formal:
        return f"Guten Tag {form} {formal},"
    return f"Guten Tag {display},"


def dative_name(name: str | None, du: bool, anrede: str | None = None) -> str:
    """The client named after "mit": "Herrn Weiß", "Frau Dr. Weiß", "Jürgen" (Du),
    "Jürgen Weiß" without a form of address; "" without a usable name."""
    display = display_name(name)
    if not display:
        return ""
    if du:
        return _first_name(display)
    form = {"frau": "Frau", "herr": "Herrn"}.get((anrede or "").strip().lower())
    formal = _formal_name(display) if form else ""
    return f"{form} {formal}" if form and formal else display


def display_name(name: str | None) -> str:
    """Return ``name`` cleaned for a greeting, or ``""`` when it is not usable."""
    if name is None:
        return ""
    clean = one_line(name).strip("\"' ")
    if not clean or "@" in clean:
        return ""
    last, comma, first = clean.partition(",")
    if comma and "," not in first and last.strip() and first.strip():
        clean = f"{first.strip()} {last.strip()}"
    return clean


def _first_name(display: str) -> str:
    """Return the first word of a name that is not a title or "Herr"/"Frau"."""
    words = display.split()
    for word in words:
        if word.lower() not in _NAME_PREFIXES and not word.endswith("."):
            return word
    return display


def _formal_name(display: str) -> str:
    """Return titles and last name for "Frau …"/"Herr …": ``"Dr. Ursula von der Leyen"``
    → ``"Dr. von der Leyen"``; ``""`` when no last name is left.

    The last name is the last word plus any lower-case particles before it ("von der");
    a double name written with a space ("García López") keeps only its last part.
    """
    words = [word for word in display.split() if word.lower() not in _FORM_WORDS]
    titles = [word for word in words[:-1] if _is_title(word)]
    core = [word for word in words if not _is_title(word)]
    if not core or _is_title(words[-1]):
        return ""
    start = len(core) - 1
    while start > 0 and core[start - 1] in _NAME_PARTICLES:
        start -= 1
    return " ".join([*titles, *core[start:]])


def _is_title(word: str) -> bool:
    return word.lower() in _NAME_PREFIXES or word.endswith(".")


def one_line(text: str) -> str:
    """Collapse line breaks, control characters and runs of whitespace to one space."""
    return _WHITESPACE.sub(" ", _CONTROLS.sub(" ", text)).strip()


def _clean_block(text: str) -> str:
    """Normalise line breaks to ``"\\n"`` and drop other control characters (tab stays)."""
    return _CONTROLS_BUT_LINES.sub("", _LINE_BREAKS.sub("\n", text))


def format_date_long(value: date | datetime, zone: ZoneInfo) -> str:
    """Format a date as ``"Dienstag, 12. Januar 2027"``; datetimes are moved to ``zone``."""
    return _long_day(_local_date(value, zone))


@lru_cache(maxsize=1024)  # a digest names the same few weeks for thousands of threads
def _long_day(day: date) -> str:
    return format_date(day, "EEEE, d. MMMM y", locale=LOCALE)


def deadline_in(text: str) -> date | None:
    """The first date written as ``datum`` writes it ("bis Freitag, 10. April 2026") that
    follows "bis" in ``text``: the deadline a sent mail named; None when there is none."""
    months = {
        name.lower(): number for number, name in get_month_names("wide", locale=LOCALE).items()
    }
    for match in _DEADLINE_RE.finditer(text):
        month = months.get(match["month"].lower())
        if month is None:
            continue
        try:
            return date(int(match["year"]), month, int(match["day"]))
        except ValueError:
            continue
    return None


_DEADLINE_RE = re.compile(
    r"\bbis\s+(?:[A-Za-zÄÖÜäöü]+,\s+)?(?P<day>\d{1,2})\.\s+(?P<month>[A-Za-zÄÖÜäöü]+)\s+"
    r"(?P<year>\d{4})\b"
)


def format_date_medium(value: date | datetime, zone: ZoneInfo) -> str:
    """Format a date as ``"12. Januar 2027"``; datetimes are moved to ``zone``."""
    return format_date(_local_date(value, zone), "d. MMMM y", locale=LOCALE)


def format_date_short(value: date | datetime, zone: ZoneInfo) -> str:
    """Format a date as ``"12.01.2027"``; datetimes are moved to ``zone``."""
    return format_date(_local_date(value, zone), "dd.MM.y", locale=LOCALE)


def format_time_short(value: datetime, zone: ZoneInfo) -> str:
    """Format the wall-clock time of an aware datetime in ``zone`` as ``"09:00"``."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("uhrzeit: ein Zeitpunkt mit Zeitzone wird erwartet")
    return value.astimezone(zone).strftime("%H:%M")


def _local_date(value: date | datetime, zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datum: der Zeitpunkt hat keine Zeitzone")
        return value.astimezone(zone).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"datum: ein Datum wird erwartet, nicht {type(value).__name__}")


def format_money(amount: Decimal | int) -> str:
    """Format an amount in euro the German way: ``Decimal("1190")`` → ``"1.190,00 €"``.

    Floats are refused: money is never a binary fraction.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"geld: ein Decimal-Betrag wird erwartet, nicht {type(amount).__name__}")
    text = format_currency(amount, "EUR", locale=LOCALE)
    return text.replace("\xa0", " ").replace("\u202f", " ")


def format_percent(value: Decimal | int) -> str:
    """Format a rate in percent the German way: ``Decimal("10.27")`` → ``"10,27 %"``.

    Always two decimals, a space before the sign (DIN 5008); floats are refused.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"prozent: ein Decimal-Wert wird erwartet, nicht {type(value).__name__}")
    return format_decimal(value, format="#,##0.00", locale=LOCALE) + " %"


def join_words(items: Iterable[object]) -> str:
    """Join items the German way: ``["A", "B", "C"]`` → ``"A, B und C"``."""
    words = [str(item) for item in items]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " und " + words[-1]


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word break, ending in "…"."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    head, space, _ = cut.rpartition(" ")
    return (head if space and head else cut).rstrip(" ,;:-–") + "…"


# "Re: Ihr Angebot: Website-Relaunch" → "Website-Relaunch": the subject as a topic that
# reads well after "mein Angebot zu …" (no "Angebot zu „Angebot …“").
_TOPIC_PREFIX_RE = re.compile(
    r"^(?:(?:re|aw|wg|fwd?)\s*:\s*)*(?:(?:ihr|unser|mein|das)\s+)?"
    r"(?:angebot|kostenvoranschlag|auftrag|auftragsbestätigung|unterlagen|rechnung)"
    r"(?:\s*(?:[:\-–]|für|zu|zum|zur|über))?\s+",
    re.IGNORECASE,
)


def topic(subject: str) -> str:
    """The thread's subject without reply prefixes and a leading kind word."""
    stripped = _TOPIC_PREFIX_RE.sub("", subject, count=1).strip()
    return stripped or subject


class _SplitLoader(jinja2.BaseLoader):
    """Serve the subject line and the body of one template file as two templates.

    ``"angebot_1.txt#betreff"`` is the subject, ``"angebot_1.txt#text"`` the body. The
    body keeps the subject's two lines as empty lines so line numbers stay right.
    """

    def __init__(self, search_path: list[Path]) -> None:
        self._files = jinja2.FileSystemLoader([str(path) for path in search_path])

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        file_name, _, part = template.partition(_PART_SEPARATOR)
        try:
            source, filename, uptodate = self._files.get_source(environment, file_name)
        except UnicodeDecodeError as exc:
            raise TemplateError(f"Vorlage „{file_name}“ ist nicht in UTF-8 gespeichert.") from exc
        except OSError as exc:  # exists but unreadable: report it, never fall back silently
            raise TemplateError(f"Vorlage „{file_name}“ kann nicht gelesen werden: {exc}") from exc
        subject, body = split_source(source, filename or file_name)
        return (subject if part == _SUBJECT_PART else body), filename, uptodate


def split_source(source: str, filename: str) -> tuple[str, str]:
    """Split a template file into the subject template and the body template.

    The body template keeps two leading empty lines in place of the header, so a line
    number in it is the line number in the file.
    """
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = lines[0].lstrip("\ufeff")
    if not first.startswith(SUBJECT_PREFIX):
        raise TemplateError(
            f"Vorlage {filename}, Zeile 1: Die erste Zeile muss mit „{SUBJECT_PREFIX}“ beginnen."
        )
    if len(lines) < 2 or lines[1].strip():
        raise TemplateError(
            f"Vorlage {filename}, Zeile 2: Nach der Betreff-Zeile muss eine leere Zeile folgen."
        )
    return first[len(SUBJECT_PREFIX) :].strip(), "\n\n" + "\n".join(lines[2:])


class Texts:
    """Renders the German mail templates for one configuration."""

    def __init__(
        self, *, timezone: str = "Europe/Berlin", override_dir: Path | None = None
    ) -> None:
        """Build the environment; raise ConfigError for a bad time zone or override dir."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"Unbekannte Zeitzone „{timezone}“.") from exc
        search_path = [builtin_template_dir()]
        if override_dir is not None:
            if not override_dir.is_dir():
                raise ConfigError(f"Das Vorlagen-Verzeichnis {override_dir} gibt es nicht.")
            search_path.insert(0, override_dir)
        self.search_path: tuple[Path, ...] = tuple(search_path)
        self._env = _build_environment(search_path, zone)

    def render(self, name: str, **context: object) -> RenderedMail:
        """Render template ``name`` (without ``.txt``) with ``context``.

        Raises TemplateError with a German message naming file and line when the
        template is missing or broken, a variable is undefined, or the sandbox
        refuses an access.
        """
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(f"Ungültiger Vorlagenname „{name}“.")
        file_name = name + TEMPLATE_SUFFIX
        # Load both parts first, so a syntax error anywhere is reported before rendering.
        subject_template = self._load(file_name, _SUBJECT_PART)
        body_template = self._load(file_name, _BODY_PART)
        subject = one_line(_fill(subject_template, _clean_context(context, multiline=False)))
        if not subject:
            raise TemplateError(
                f"Vorlage {subject_template.filename}, Zeile 1: Der Betreff ist leer."
            )
        body = _fill(body_template, _clean_context(context, multiline=True))
        return RenderedMail(subject=subject, body=_finish_body(body))

    def render_html(self, name: str, **context: object) -> str:
        """Render the HTML template ``<name>.html`` with ``context``; returns the page.

        Same search path, sandbox and filters as :meth:`render`, but every value is
        HTML-escaped (autoescape) and strings are reduced to one line. Raises
        TemplateError with a German message like :meth:`render`.
        """
        if not _TEMPLATE_NAME.fullmatch(name):
            raise TemplateError(f"Ungültiger Vorlagenname „{name}“.")
        file_name = name + ".html"
        env: SandboxedEnvironment | None = getattr(self, "_html_env", None)
        if env is None:
            env = SandboxedEnvironment(
                loader=jinja2.FileSystemLoader([str(path) for path in self.search_path]),
                undefined=jinja2.StrictUndefined,
                autoescape=True,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(self._env.filters)
            self._html_env = env
        try:
            template = env.get_template(file_name)
        except jinja2.TemplateNotFound as exc:
            places = ", ".join(str(path) for path in self.search_path)
            raise TemplateError(
                f"Vorlage {file_name} nicht gefunden (gesucht in: {places})."
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or file_name
            raise TemplateError(
                f"Vorlage {where}, Zeile {exc.lineno}: Syntaxfehler ({exc.message})."
            ) from exc
        return _fill(template, _clean_context(context, multiline=False))

    def _load(self, file_name: str, part: str) -> jinja2.Template:
        try:
            return self._env.get_template(f"{file_name}{_PART_SEPARATOR}{part}")
        except jinja2.TemplateNotFound as exc:
            places = ", ".join(str(path) for path in self.search_path)
            raise TemplateError(
                f"Vorlage {file_name} nicht gefunden (gesucht in: {places})."
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or file_name
            raise TemplateError(
                f"Vorlage {where}, Zeile {exc.lineno}: Syntaxfehler ({exc.message})."
            ) from exc


def _fill(template: jinja2.Template, context: Mapping[str, object]) -> str:
    """Render one compiled template, translating every failure into TemplateError."""
    try:
        return template.render(context)
    except TemplateError:
        raise
    except Exception as exc:  # a template may fail in any way; the engine needs ours
        raise _runtime_error(exc, template.filename or template.name or "?") from exc


def _build_environment(search_path: list[Path], zone: ZoneInfo) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=_SplitLoader(search_path),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datum"] = _strict(partial(format_date_long, zone=zone))
    env.filters["datum_mittel"] = _strict(partial(format_date_medium, zone=zone))
    env.filters["datum_kurz"] = _strict(partial(format_date_short, zone=zone))
    env.filters["uhrzeit"] = _strict(partial(format_time_short, zone=zone))
    env.filters["geld"] = _strict(format_money)
    env.filters["prozent"] = _strict(format_percent)
    env.filters["aufzaehlung"] = _strict(join_words)
    env.filters["kuerzen"] = _strict(shorten)
    env.filters["thema"] = _strict(topic)
    return env


def _strict(func: Callable[..., str]) -> Callable[..., str]:
    """Make a filter report an undefined input as UndefinedError, not as a type error."""

    def checked(value: object, *args: object) -> str:
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises UndefinedError naming the variable
        return func(value, *args)

    return checked


def _runtime_error(exc: Exception, filename: str) -> TemplateError:
    """Translate an exception raised while rendering into a German TemplateError."""
    line = _template_line(exc, filename)
    where = f"Vorlage {filename}" + (f", Zeile {line}" if line else "")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        detail = "Zugriff in der Sandbox nicht erlaubt"
    elif isinstance(exc, jinja2.UndefinedError):
        detail = "Variable nicht definiert"
    else:
        detail = "Fehler beim Ausfüllen"
    return TemplateError(f"{where}: {detail} ({str(exc).rstrip('.')}).")


def _template_line(exc: BaseException, filename: str) -> int | None:
    """Find the template line in a traceback (Jinja2 rewrites frames to template lines)."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == filename and frame.lineno
    ]
    return lines[-1] if lines else None


def _clean_context(context: Mapping[str, object], *, multiline: bool) -> dict[str, object]:
    """Return a copy of ``context`` with every string cleaned (see module docstring)."""
    return {
        key: _clean_value(value, keep_lines=multiline and key in MULTILINE_KEYS)
        for key, value in context.items()
    }


def _clean_value(value: object, *, keep_lines: bool) -> object:
    if isinstance(value, str):
        return _clean_block(value) if keep_lines else one_line(value)
    if isinstance(value, list):
        return [_clean_value(item, keep_lines=keep_lines) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):  # leave namedtuples be
        return tuple(_clean_value(item, keep_lines=keep_lines) for item in value)
    if isinstance(value, dict):
        return {key: _clean_value(item, keep_lines=keep_lines) for key, item in value.items()}
    return value


def _finish_body(text: str) -> str:
    """Normalise line ends; no leading empty lines; end with exactly one newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.lstrip("\n").rstrip() + "\n"

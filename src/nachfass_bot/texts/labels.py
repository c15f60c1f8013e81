"""German words for states and kinds, and how a thread and a moment are named to the
owner: shared by owner mails, the digest and the command line."""

from __future__ import annotations

from datetime import datetime

from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import DraftState, Kind, State, Thread
from nachfass_bot.texts.render import format_date_long, format_time_short, topic

STATE_LABELS = {
    State.OPEN: "offen",
    State.ANSWERED: "beantwortet",
    State.PAUSED: "pausiert",
    State.RESTING: "ruht",
    State.PARKED: "beiseitegelegt",
    State.PAID: "bezahlt",
    State.CLOSED: "geschlossen",
}
DRAFT_LABELS = {
    DraftState.NEW: "Entwurf wird zugestellt",
    DraftState.PENDING: "Entwurf wartet auf Dein Ok",
    DraftState.APPROVED: "freigegeben, Versand im nächsten Sendefenster",
    DraftState.SENDING: "wird gesendet",
}
KIND_LABELS = {Kind.ANGEBOT: "Angebot", Kind.AUFTRAG: "Auftrag", Kind.RECHNUNG: "Rechnung"}


def client_label(thread: Thread | None) -> str:
    """How the owner knows the client: the name, else the address."""
    if thread is None:
        return "ohne Vorgang"
    return thread.client.name or thread.client.email


def local_text(moment: datetime | None, window: SendingWindow) -> str:
    """``Di 12.01.2027 09:00`` in the owner's time zone, or ``–``."""
    if moment is None:
        return "–"
    local = moment.astimezone(window.zone)
    weekday = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")[local.weekday()]
    return f"{weekday} {local:%d.%m.%Y %H:%M}"


def moment_text(moment: datetime, window: SendingWindow) -> str:
    """``Dienstag, 10. März 2026, 09:00 Uhr`` in the owner's time zone: a time in a
    sentence, where :func:`local_text` is a time in a table."""
    return f"{format_date_long(moment, window.zone)}, {format_time_short(moment, window.zone)} Uhr"


def steps_text(count: int) -> str:
    """German counts of steps: "noch kein Schritt", "1 Schritt", "3 Schritte"."""
    if count <= 0:
        return "noch kein Schritt"
    return f"{count} Schritt" if count == 1 else f"{count} Schritte"


def thread_name(kind: Kind, subject: str) -> str:
    """The kind and the topic, without saying the kind twice: "Angebot „Website-Relaunch“"
    for the subject "Angebot Website-Relaunch"."""
    return f"{KIND_LABELS[kind]} „{topic(subject)}“"

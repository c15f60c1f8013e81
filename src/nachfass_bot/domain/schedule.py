"""The three follow-up playbooks (docs/DESIGN.md, "Playbooks") and when a step is due. Pure.

A playbook is a tuple of steps; ``thread.step`` counts the steps already done, so the next
step is ``playbook[thread.step]``. Each delay counts from the step before it (the first
from the tracked mail; for an invoice from its due date). ``next_step`` only computes the
due time: comparing it with the current time is the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Protocol

from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import Action, Kind, State, Thread


@dataclass(frozen=True)
class Delay:
    """How long to wait after the step before: calendar days or business days."""

    amount: int
    business_days: bool = False

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"Eine Wartezeit darf nicht negativ sein: {self.amount}")

    @cached_property
    def span(self) -> timedelta:
        """``amount`` calendar days, built once per delay rather than once per thread."""
        return timedelta(days=self.amount)


@dataclass(frozen=True)
class Step:
    """One step of a playbook, numbered as the tables in docs/DESIGN.md ("Playbooks") are.

    MAIL steps need a ``template``, TASK steps a German ``task`` text (``{name}`` is replaced
    by the client's name or address). A MAIL step with ``to_assistant`` goes to the known
    assistant; without one it becomes a TASK with ``fallback_task``.
    """

    number: int
    action: Action
    delay: Delay
    template: str | None
    task: str | None = None
    to_assistant: bool = False
    fallback_task: str | None = None
    # A few words for the task mail's subject ("anrufen"), after "Aufgabe zu <client>:".
    task_label: str | None = None
    fallback_label: str | None = None

    def __post_init__(self) -> None:
        if self.action is Action.MAIL and not self.template:
            raise ValueError(f"Schritt {self.number}: eine Mail braucht eine Vorlage.")
        if self.action is Action.TASK and not self.task:
            raise ValueError(f"Schritt {self.number}: eine Aufgabe braucht einen Text.")
        if self.to_assistant and (self.action is not Action.MAIL or not self.fallback_task):
            raise ValueError(
                f"Schritt {self.number}: eine Mail an die Assistenz braucht eine Ersatzaufgabe."
            )


Playbook = tuple[Step, ...]


class Timed(Protocol):
    """What the time of a thread's next step depends on: a :class:`Thread`, or the
    lighter :class:`~nachfass_bot.domain.models.ThreadFacts` that ``list`` reads."""

    @property
    def kind(self) -> Kind: ...
    @property
    def state(self) -> State: ...
    @property
    def step(self) -> int: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def last_step_at(self) -> datetime | None: ...
    @property
    def due_date(self) -> date | None: ...
    @property
    def paused_until(self) -> datetime | None: ...
    @property
    def first_delay_days(self) -> int | None: ...


@dataclass(frozen=True)
class DueStep:
    """The next step of a thread as it will actually happen."""

    index: int  # position in the playbook (== thread.step)
    step: Step
    action: Action  # effective action (assistant step without an assistant -> TASK)
    template: str | None  # effective template (None for tasks)
    task: str | None  # effective task text, already filled with the client's name
    due_at: datetime  # aware UTC; MAIL and TASK already moved into the sending window
    task_label: str | None = None  # the task in a few words, for a subject line


# Where the brief gives a range, the value chosen is noted next to the step
# (docs/DESIGN.md, "Playbooks").
_ANGEBOT: Playbook = (
    Step(1, Action.MAIL, Delay(8), "angebot_1"),  # range 7–10 days after the offer: 8
    Step(2, Action.MAIL, Delay(7), "angebot_2"),
    Step(3, Action.REST, Delay(7), None),
)

_AUFTRAG: Playbook = (
    # range 1–2 business days after the documents: 1
    Step(
        0,
        Action.TASK,
        Delay(1, business_days=True),
        None,
        task="{name} anrufen und fragen, ob die Unterlagen gut angekommen sind.",
        task_label="anrufen",
    ),
    # range 7–10 days after the documents: 1 business day + 7 days, so 8–10 days
    Step(1, Action.MAIL, Delay(7), "auftrag_1"),
    Step(
        2,
        Action.TASK,
        Delay(3, business_days=True),
        None,
        task="{name} noch einmal anrufen und nach dem Stand fragen (ein Anruf genügt).",
        task_label="noch einmal anrufen",
    ),
    Step(
        3,
        Action.MAIL,
        Delay(5),
        "auftrag_3_assistent",
        to_assistant=True,
        fallback_task=(
            "Eine Assistenz oder „gute Seele“ im Umfeld von {name} ausfindig machen und "
            "freundlich um einen Telefontermin oder einen kurzen Stand bitten."
        ),
        fallback_label="Assistenz finden",
    ),
    Step(4, Action.MAIL, Delay(7), "auftrag_4"),
    # The brief gives no delay for parking; one more week after the final-clarity mail.
    Step(5, Action.PARK, Delay(7), None),
)

_RECHNUNG: Playbook = (
    Step(1, Action.MAIL, Delay(3), "rechnung_1"),  # counted from the due date
    Step(2, Action.MAIL, Delay(14), "rechnung_2"),
    Step(3, Action.MAIL, Delay(14), "rechnung_3"),
    # The brief gives no delay for the decision; the same 14 days as the last deadline.
    Step(
        4,
        Action.TASK,
        Delay(14),
        None,
        task=(
            "Die Rechnung an {name} ist weiter offen: bitte über rechtliche Schritte "
            "entscheiden (Mahnbescheid, Inkasso oder weiter abwarten)."
        ),
        task_label="über rechtliche Schritte entscheiden",
    ),
)

DEFAULT_PLAYBOOKS: Mapping[Kind, Playbook] = MappingProxyType(
    {Kind.ANGEBOT: _ANGEBOT, Kind.AUFTRAG: _AUFTRAG, Kind.RECHNUNG: _RECHNUNG}
)


def playbook_for(kind: Kind, delay_overrides: Mapping[int, Delay] | None = None) -> Playbook:
    """Return the default playbook of ``kind`` with delays replaced by step number.

    Raises ValueError (German message) for an override of a step number the playbook
    does not have, which is most likely a typo in the configuration.
    """
    playbook = DEFAULT_PLAYBOOKS[kind]
    overrides = dict(delay_overrides or {})
    unknown = sorted(set(overrides) - {step.number for step in playbook})
    if unknown:
        numbers = ", ".join(str(number) for number in unknown)
        raise ValueError(f"Unbekannte Schrittnummer für „{kind.value}“: {numbers}")
    return tuple(
        replace(step, delay=overrides[step.number]) if step.number in overrides else step
        for step in playbook
    )


def next_step(thread: Thread, playbook: Playbook, window: SendingWindow) -> DueStep | None:
    """Return the next step of ``thread`` and when it is due, or None if nothing is left.

    None when the thread is not OPEN or ``thread.step >= len(playbook)``. The delay counts
    from ``thread.last_step_at`` (from ``started_at`` for the first step, or when no step
    time is recorded); an invoice's first step counts from 00:00 local time on its due
    date. A ``last_step_at`` later than that (the owner wrote to the client by hand)
    restarts the count. Calendar-day delays keep the local wall-clock time. MAIL and TASK
    steps are moved to the next slot of ``window``; REST and PARK stay at the raw time,
    because they only change our own state and reach nobody. A step that would fall
    after the year 9999 (a date typed as 9999-12-31) is never due: None.
    """
    step = _next(thread, playbook)
    due_at = _step_due_at(thread, step, window) if step is not None else None
    if step is None or due_at is None:
        return None
    action, template, task = _effective(step, thread)
    label = step.fallback_label if action is not step.action else step.task_label
    return DueStep(thread.step, step, action, template, task, due_at, label)


def next_due_at(thread: Timed, playbook: Playbook, window: SendingWindow) -> datetime | None:
    """``due_step(thread, window, playbook).due_at`` (None where that is None), without
    building the step: the time depends only on the facts :class:`Timed` names (the
    client's settings choose the effective action, and a MAIL and its TASK fallback
    both wait for the sending window). For views over many threads."""
    step = _next(thread, playbook)
    due_at = _step_due_at(thread, step, window) if step is not None else None
    if due_at is None or thread.paused_until is None:
        return due_at
    return _after_pause(due_at, thread, window)


# The actions whose steps wait for the sending window (they reach the client or the owner).
_IN_WINDOW = (Action.MAIL, Action.TASK)
_MIDNIGHT = time(0)


def _next(thread: Timed, playbook: Playbook) -> Step | None:
    """The playbook's step the thread waits for; None when it is not OPEN or none is left."""
    if thread.state is not State.OPEN or thread.step >= len(playbook):
        return None
    if thread.step < 0:
        raise ValueError(f"Ungültiger Schrittzähler: {thread.step}")
    return playbook[thread.step]


def _step_due_at(thread: Timed, step: Step, window: SendingWindow) -> datetime | None:
    """When ``step`` is due, in the sending window unless it reaches nobody; None beyond
    the year 9999. An assistant's MAIL that falls back to a TASK waits for the window
    just the same, so the step's own action decides."""
    try:
        due_at = _add_delay(_base_time(thread, window), _delay(thread, step), window)
        if step.action in _IN_WINDOW:
            due_at = window.next_slot(due_at)
    except OverflowError:  # beyond datetime.max: one such thread must not stop the cycle
        return None
    return due_at


def not_yet_due(thread: Timed, playbook: Playbook, window: SendingWindow, now: datetime) -> bool:
    """True only when the thread's next step surely is not due at ``now``: its delay
    counted as whole days from the moment it counts from, less a day, ends after ``now``.
    A cheap test before :func:`due_step` for a cycle over many threads; exact where it
    says True, because business days, the sending window and a pause only move a step
    later, and a calendar day is 24 hours give or take a DST shift. False (ask
    :func:`due_step`) whenever the thread is not a plain open one or has a pause (whose
    date :func:`due_step` checks)."""
    if thread.state is not State.OPEN or not 0 <= thread.step < len(playbook):
        return False
    if thread.paused_until is not None:
        return False
    days = _delay(thread, playbook[thread.step]).amount - 1
    try:
        return _base_time(thread, window) + timedelta(days=days) > now
    except OverflowError:
        return False


def _delay(thread: Timed, step: Step) -> Delay:
    """The step's delay; the first one as the owner's tag asked (``+10tage``)."""
    if thread.step == 0 and thread.first_delay_days is not None:
        return Delay(thread.first_delay_days)
    return step.delay


def due_step(
    thread: Thread, window: SendingWindow, playbook: Playbook | None = None
) -> DueStep | None:
    """The thread's next step with the owner's pause ("später") applied: nothing is due
    before ``thread.paused_until``. ``playbook`` defaults to the kind's defaults."""
    due = next_step(thread, playbook or playbook_for(thread.kind), window)
    if due is None:
        return None
    due_at = _after_pause(due.due_at, thread, window)
    return due if due_at == due.due_at else replace(due, due_at=due_at)


def _after_pause(due_at: datetime, thread: Timed, window: SendingWindow) -> datetime:
    """``due_at``, or the first slot at the end of the owner's pause when that is later."""
    if thread.paused_until is None or due_at >= thread.paused_until:
        return due_at
    return window.next_slot(thread.paused_until)


def _base_time(thread: Timed, window: SendingWindow) -> datetime:
    """The moment the next delay counts from: the step before, or the tracked mail (an
    invoice: its due date) — whichever is later, so that a mail the owner wrote by hand
    (recorded as ``last_step_at``) restarts the count."""
    first = thread.started_at
    if thread.step == 0 and thread.kind is Kind.RECHNUNG and thread.due_date is not None:
        first = datetime.combine(thread.due_date, _MIDNIGHT, window.zone)
    if thread.last_step_at is None:
        return first
    return thread.last_step_at if thread.step > 0 else max(first, thread.last_step_at)


def _add_delay(base: datetime, delay: Delay, window: SendingWindow) -> datetime:
    if delay.business_days:
        return window.add_business_days(base, delay.amount)
    # Add days on the local calendar so that 10:15 stays 10:15 across a DST change.
    zone = window.zone
    local = base.astimezone(zone)
    # combine's tzinfo given by position: by keyword it costs three times as much.
    return datetime.combine(local.date() + delay.span, local.time(), zone).astimezone(UTC)


def _effective(step: Step, thread: Thread) -> tuple[Action, str | None, str | None]:
    name = thread.client.name or thread.client.email
    if step.to_assistant and not thread.client.assistant_email:
        return Action.TASK, None, _fill(step.fallback_task, name)
    return step.action, step.template, _fill(step.task, name)


def _fill(text: str | None, name: str) -> str | None:
    # Plain replacement instead of str.format: a brace in a configured text must not crash.
    return None if text is None else text.replace("{name}", name)

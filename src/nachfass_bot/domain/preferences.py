"""The owner's rules in the config: schedule per kind, per-client settings, payments.

```toml
[schedule]
auto_reply_wait_days = 7
[schedule.angebot]
step_1 = "10 Tage"            # or 10; business days: "3 Werktage"
auto_send = [1]               # these steps go out without asking (default: none)
[clients."jonas@keller-bau.de"]
du = true
anrede = "herr"               # "frau" | "herr"; without it nobody's gender is guessed
type = "b2c"                  # "b2b" (default) | "b2c"
assistant = "empfang@keller-bau.de"
assistant_name = "Petra Lange"  # greets the assistant by name (always with Sie)
[clients."jonas@keller-bau.de".schedule.rechnung]
step_1 = "7 Tage"
[payment]
reminder_days = 10
interest = false
flat_fee = false
base_rate = 1.27
final_step = "mahnbescheid"  # "mahnbescheid" | "inkasso" | "anwalt"
```
Every value is checked at start-up; a step number a playbook does not have is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from nachfass_bot.domain.models import Action, Kind, Thread
from nachfass_bot.domain.schedule import Delay, Playbook, playbook_for
from nachfass_bot.domain.tomlsection import Section

_DELAY_RE = re.compile(r"^\s*(\d{1,3})\s*(tag|tage|werktag|werktage)?\s*$", re.IGNORECASE)
_STEP_KEY_RE = re.compile(r"^step_(\d)$")
_DELAY_HINT = 'muss eine Zahl von Tagen sein, z. B. 8, "8 Tage" oder "3 Werktage"'
_ANREDEN = ("frau", "herr")
_CUSTOMER_TYPES = ("b2b", "b2c")
# What the last reminder may announce: a fixed choice, so no improper threat is configured.
FINAL_STEPS = ("mahnbescheid", "inkasso", "anwalt")


@dataclass(frozen=True)
class KindSchedule:
    """Delays by step number, and the steps that are sent without asking."""

    delays: Mapping[int, Delay] = field(default_factory=lambda: MappingProxyType({}))
    auto_send: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ScheduleConfig:
    kinds: Mapping[Kind, KindSchedule] = field(default_factory=lambda: MappingProxyType({}))
    auto_reply_wait_days: int = 7

    def for_kind(self, kind: Kind) -> KindSchedule:
        return self.kinds.get(kind, KindSchedule())


@dataclass(frozen=True)
class ClientConfig:
    """Per-client settings; None means "as stored by ``track``" (or the default)."""

    du: bool | None = None
    anrede: str | None = None
    customer_type: str | None = None
    assistant: str | None = None
    assistant_name: str | None = None
    delays: Mapping[Kind, Mapping[int, Delay]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class PaymentConfig:
    reminder_days: int = 10  # the new date a reminder sets (docs/DESIGN.md, "Interest and fees")
    interest: bool = False  # mention §288 BGB late-payment interest in reminders
    flat_fee: bool = False  # mention the 40 € flat fee (§288 (5) BGB, B2B only)
    base_rate: Decimal | None = None  # None: the built-in dated table
    final_step: str | None = None  # one of FINAL_STEPS: what the owner will do after the last date
    default_terms_days: int = 14  # an invoice that names no due date: issue date + this


@dataclass(frozen=True)
class Preferences:
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    clients: Mapping[str, ClientConfig] = field(default_factory=lambda: MappingProxyType({}))
    payment: PaymentConfig = field(default_factory=PaymentConfig)
    # Playbooks by (kind, configured client or None): the values above never change, and
    # building a playbook per thread was a third of planning 10,000 threads.
    _playbooks: dict[tuple[Kind, str | None], Playbook] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def client(self, email: str) -> ClientConfig:
        return self.clients.get(email.lower(), ClientConfig())

    def delays(self, kind: Kind, client_email: str) -> dict[int, Delay]:
        """The kind's delays, with the client's own overrides on top."""
        merged = dict(self.schedule.for_kind(kind).delays)
        merged.update(self.client(client_email).delays.get(kind, {}))
        return merged

    def playbook(self, thread: Thread) -> Playbook:
        """The thread's playbook with the configured delays."""
        return self.playbook_of(thread.kind, thread.client.email)

    def playbook_of(self, kind: Kind, client_email: str) -> Playbook:
        """The playbook of ``kind`` for the client at ``client_email``."""
        email = client_email.lower()
        key = (kind, email if email in self.clients else None)
        playbook = self._playbooks.get(key)
        if playbook is None:
            delays = self.delays(kind, client_email)
            playbook = self._playbooks[key] = playbook_for(kind, delays)
        return playbook

    def auto_sends(self, thread: Thread, step_number: int) -> bool:
        return step_number in self.schedule.for_kind(thread.kind).auto_send

    def refine(self, thread: Thread) -> Thread:
        """The thread with the client's config settings on top of what ``track`` stored."""
        if thread.client.email.lower() not in self.clients:
            return thread  # nothing configured for this client: the defaults change nothing
        settings = self.client(thread.client.email)
        client = replace(
            thread.client,
            du=thread.client.du if settings.du is None else settings.du,
            anrede=settings.anrede or thread.client.anrede,
            customer_type=settings.customer_type or thread.client.customer_type,
            assistant_email=settings.assistant or thread.client.assistant_email,
            assistant_name=settings.assistant_name or thread.client.assistant_name,
        )
        return replace(thread, client=client)


def parse_preferences(top: Section, problems: list[str]) -> tuple[Preferences, list[Section]]:
    """Read ``[schedule]``, ``[clients]`` and ``[payment]``; returns the sections read so
    that unknown keys in them are reported as typos."""
    read: list[Section] = []
    schedule = _parse_schedule(_sub(top, "schedule", problems, read), problems, read)
    clients = _parse_clients(_sub(top, "clients", problems, read), problems, read)
    payment = _parse_payment(_sub(top, "payment", problems, read))
    return Preferences(schedule=schedule, clients=clients, payment=payment), read


def _sub(parent: Section, key: str, problems: list[str], read: list[Section]) -> Section:
    parent.known.add(key)
    name = f"{parent.name}.{key}" if parent.name else key
    section = Section(name, parent.data.get(key), problems)
    read.append(section)
    return section


def _parse_schedule(section: Section, problems: list[str], read: list[Section]) -> ScheduleConfig:
    wait = section.integer("auto_reply_wait_days", 7, 1, 60)
    kinds = {}
    for kind in Kind:
        sub = _sub(section, kind.value, problems, read)
        kinds[kind] = KindSchedule(
            delays=MappingProxyType(_parse_delays(sub, kind)),
            auto_send=_parse_auto_send(sub, kind),
        )
    return ScheduleConfig(kinds=MappingProxyType(kinds), auto_reply_wait_days=wait or 7)


def _parse_delays(section: Section, kind: Kind) -> dict[int, Delay]:
    numbers = {step.number for step in playbook_for(kind)}
    delays: dict[int, Delay] = {}
    for key, value in section.data.items():
        match = _STEP_KEY_RE.match(key)
        if not match:
            continue
        section.known.add(key)
        number = int(match[1])
        if number not in numbers:
            known = ", ".join(f"step_{n}" for n in sorted(numbers))
            section.problem(key, f"gibt es bei „{kind.value}“ nicht (es gibt {known})")
            continue
        delay = _delay(value)
        if delay is None:
            section.problem(
                key, 'muss eine Zahl von Tagen sein, z. B. 8, "8 Tage" oder "3 Werktage"'
            )
            continue
        delays[number] = delay
    return delays


def _delay(value: object) -> Delay | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return Delay(value) if 0 <= value <= 365 else None
    if not isinstance(value, str):
        return None
    match = _DELAY_RE.match(value)
    if not match:
        return None
    unit = (match[2] or "tage").lower()
    return Delay(int(match[1]), business_days=unit.startswith("werktag"))


def _parse_auto_send(section: Section, kind: Kind) -> frozenset[int]:
    section.known.add("auto_send")
    value = section.data.get("auto_send", [])
    mail_steps = {step.number for step in playbook_for(kind) if step.action is Action.MAIL}
    valid = isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n in mail_steps for n in value
    )
    if not valid:
        allowed = ", ".join(str(n) for n in sorted(mail_steps))
        section.problem(
            "auto_send", f"muss eine Liste von Mail-Schritten sein (möglich: {allowed})"
        )
        return frozenset()
    return frozenset(value)


def _parse_clients(
    section: Section, problems: list[str], read: list[Section]
) -> Mapping[str, ClientConfig]:
    clients = {}
    for address in list(section.data):
        sub = _sub(section, address, problems, read)
        if "@" not in address:
            section.problem(address, "ist keine E-Mail-Adresse")
            continue
        clients[address.lower()] = _parse_client(sub, problems, read)
    return MappingProxyType(clients)


def _parse_client(section: Section, problems: list[str], read: list[Section]) -> ClientConfig:
    du = section.boolean("du", False) if "du" in section.data else None
    anrede = _choice(section, "anrede", _ANREDEN)
    customer_type = _choice(section, "type", _CUSTOMER_TYPES)
    assistant = section.text("assistant")
    if assistant is not None and "@" not in assistant:
        section.problem("assistant", "ist keine E-Mail-Adresse")
        assistant = None
    assistant_name = section.text("assistant_name")
    schedule = _sub(section, "schedule", problems, read)
    delays = {
        kind: MappingProxyType(_parse_delays(_sub(schedule, kind.value, problems, read), kind))
        for kind in Kind
    }
    return ClientConfig(
        du=du,
        anrede=anrede,
        customer_type=customer_type,
        assistant=assistant.lower() if assistant else None,
        assistant_name=assistant_name.strip() if assistant_name else None,
        delays=MappingProxyType(delays),
    )


def _choice(section: Section, key: str, allowed: tuple[str, ...]) -> str | None:
    value = section.text(key)
    if value is None:
        return None
    if value.strip().lower() not in allowed:
        quoted = [f"„{a}“" for a in allowed]
        section.problem(key, f"muss {', '.join(quoted[:-1])} oder {quoted[-1]} sein")
        return None
    return value.strip().lower()


def _parse_payment(section: Section) -> PaymentConfig:
    days = section.integer("reminder_days", 10, 7, 30)
    interest = section.boolean("interest", False)
    flat_fee = section.boolean("flat_fee", False)
    final_step = _choice(section, "final_step", FINAL_STEPS)
    terms = section.integer("default_terms_days", 14, 0, 120)
    return PaymentConfig(
        reminder_days=days or 10,
        interest=bool(interest),
        flat_fee=bool(flat_fee),
        base_rate=_base_rate(section),
        final_step=final_step,
        default_terms_days=14 if terms is None else terms,
    )


def _base_rate(section: Section) -> Decimal | None:
    section.known.add("base_rate")
    value = section.data.get("base_rate")
    if value is None:
        return None
    try:
        rate = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        rate = Decimal("NaN")
    if isinstance(value, bool) or not rate.is_finite() or not Decimal(-10) < rate < Decimal(20):
        section.problem("base_rate", "muss ein Prozentsatz sein, z. B. 1.27")
        return None
    return rate

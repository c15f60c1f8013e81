"""Retrying an action that failed on a passing problem (a dropped IMAP connection).

A retry repeats the whole action. That is safe for :meth:`Engine.tick` because the UID
sync commits each batch together with its effects (:mod:`nachfass_bot.app.sync`) and every
handled mail is marked as seen: the next attempt resumes after the last committed batch.

The number of attempts is fixed: a problem that outlasts them ends the cycle with the
last error, and the next cycle tries again (no retry-forever loop).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from nachfass_bot.errors import LoginFailed, MailboxError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Hidden setting for the test suite: the first delay in seconds (0 = retry at once).
RETRY_DELAY_ENV = "NACHFASS_RETRY_DELAY"
DEFAULT_FIRST_DELAY = 2.0


def run_with_retry(
    action: Callable[[], T],
    *,
    attempts: int = 4,
    first_delay: float = DEFAULT_FIRST_DELAY,
    factor: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    retry_on: tuple[type[BaseException], ...] = (MailboxError,),
    give_up_on: tuple[type[BaseException], ...] = (LoginFailed,),
) -> T:
    """Return ``action()``; after an error of ``retry_on`` wait and call it again.

    At most ``attempts`` calls; the waits are ``first_delay``, then each ``factor`` times
    the one before (2, 4, 8 s by default). Each retry is logged at WARNING with its
    attempt number. Errors of ``give_up_on`` (a refused login) and errors not in
    ``retry_on`` are raised at once; after the last attempt its error is raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    waits = backoff_delays(first_delay, factor)
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except give_up_on:
            raise
        except retry_on as exc:
            if attempt == attempts:
                raise
            delay = next(waits)
            log.warning(
                "attempt %d of %d failed: %s; retrying in %.0f s", attempt, attempts, exc, delay
            )
            sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def backoff_delays(
    first_delay: float, factor: float = 2.0, maximum: float | None = None
) -> Iterator[float]:
    """``first_delay``, ``first_delay * factor``, … endlessly, each capped at ``maximum``."""
    delay = first_delay
    while True:
        yield delay if maximum is None else min(delay, maximum)
        delay *= factor


def first_delay_from_env(default: float = DEFAULT_FIRST_DELAY) -> float:
    """The first retry delay: ``$NACHFASS_RETRY_DELAY`` (seconds, for tests) or ``default``."""
    text = os.environ.get(RETRY_DELAY_ENV, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", RETRY_DELAY_ENV, text, default)
        return default
    return max(value, 0.0)

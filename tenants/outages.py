"""One log line when a service (Redis) stops answering and one when it answers again, per process,
instead of a line and a traceback for every request that could not queue, publish or count meanwhile.

What could not be queued is not lost: readings are stored and the sweep scores them, journal
deliveries are rows the send sweep picks up (triage.tasks, journaling.services). So the log only needs
to say when the outage began and ended, and how many attempts failed in between. An error that is
not about reaching the service (a bug) is not an outage: the caller logs it every time, as before.
"""

from __future__ import annotations

import logging
import threading
import time

from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What a client raises when the server does not answer: a refused or broken connection, a timeout.
UNREACHABLE = (OSError, OperationalError, RedisConnectionError, RedisTimeoutError)

_lock = threading.Lock()
_down: dict[str, tuple[float, int]] = {}  # service → (down since, monotonic; failed attempts)


def unreachable(error: BaseException) -> bool:
    """Whether the error (or what it was raised from) says the service did not answer."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, UNREACHABLE):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def failed(service: str, what: str, error: BaseException) -> None:
    """An attempt to reach `service` failed; logged only when it is the first since it last answered.
    `what` says what was not done and who does it later."""
    with _lock:
        since, count = _down.get(service, (time.monotonic(), 0))
        _down[service] = (since, count + 1)
    if count == 0:
        log.warning("%s svarer ikke (%s: %s): %s. Neste linje når den svarer igjen.", service,
                    type(error).__name__, error, what)  # fmt: skip


def succeeded(service: str) -> None:
    """An attempt to reach `service` succeeded: logged when it ends an outage."""
    if service not in _down:  # the common case: no lock taken
        return
    with _lock:
        since, count = _down.pop(service, (None, 0))
    if since is not None:
        log.warning("%s svarer igjen etter %.0f s (%s forsøk feilet i mellomtiden).", service,
                    time.monotonic() - since, count)  # fmt: skip


def is_down(service: str) -> bool:
    return service in _down

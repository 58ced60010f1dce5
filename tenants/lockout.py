"""Lock-out that an attacker cannot turn against the user.

A wrong password is counted three ways (django-axes records each failure; this module decides):

- **per (username, address) pair**: after DHO_LOGIN_PAIR_FREE_FAILURES failures the pair waits 1, 2,
  4 … seconds (at most DHO_LOGIN_PAIR_MAX_DELAY_SECONDS) after its last failure before its next try
  is even checked; until then the answer is 429 with Retry-After (`pair_wait`). The pair is axes'
  `AccessAttempt` (AXES_LOCKOUT_PARAMETERS); it is forgotten a window after its last failure, and a
  success clears it. Someone guessing from their own address slows only themselves.
- **per username**, from any address, and **per address**, whatever usernames, in a window of
  DHO_LOGIN_WINDOW_MINUTES that starts at the window's first failure (`LoginWindow`). At
  DHO_LOGIN_USER_LIMIT failures for a username, or DHO_LOGIN_ADDRESS_LIMIT from an address
  (DHO_LOGIN_NAT_ADDRESS_LIMIT inside DHO_LOGIN_NAT_RANGES, where a kommune's staff share one
  address), a `LoginLock` starts: until the window ends, never later, a login for that username or
  from that address needs the second factor together with the password (a **step-up**, checked by
  tenants.login.LoginBackend). The right password with the right code always gets in; the lock is
  audited and listed for the centre admin, who may lift it.

A try refused before its password was checked (a pair that must wait, a step-up without a code) is
recorded nowhere, so it extends nothing. A success clears only its own pair: one account the
attacker owns would otherwise reset the count of a whole address.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
from functools import lru_cache

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, Q, Sum
from django.utils import timezone
from django.utils.translation import ngettext

from tenants.models import AuditAction, LoginLock, LoginWindow, LoginWindowKind
from tenants.services import audit_record, client_address

# Set on a request whose refusal was not a guess (a step-up without a code): recorded nowhere.
NOT_A_GUESS = "dho_login_not_a_guess"
# The exponent stops growing long before this; the cap (DHO_LOGIN_PAIR_MAX_DELAY_SECONDS) rules.
_MAX_DOUBLINGS = 30


def window() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.DHO_LOGIN_WINDOW_MINUTES)


def pair_memory(request=None) -> datetime.timedelta:
    """AXES_COOLOFF_TIME: a pair's failures are forgotten a window after its last one."""
    return window()


# --- the pair: growing delays -------------------------------------------------------------------


def pair_delay(failures: int) -> int:
    """Seconds a pair waits after its last failure: none for the first free ones, then 1, 2, 4 …"""
    free = settings.DHO_LOGIN_PAIR_FREE_FAILURES
    if failures == 0 or failures < free:
        return 0
    return min(2 ** min(failures - free, _MAX_DOUBLINGS), settings.DHO_LOGIN_PAIR_MAX_DELAY_SECONDS)


def pair_wait(request, username: str | None) -> int:
    """Whole seconds before this (username, address) pair's next try is checked; 0: now."""
    now = timezone.now()
    found = AccessAttempt.objects.filter(
        username=username, ip_address=client_address(request), attempt_time__gte=now - pair_memory()
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    delay = pair_delay(found["failures"] or 0)
    if not delay:
        return 0
    return max(0, math.ceil((found["last"] + datetime.timedelta(seconds=delay) - now).total_seconds()))


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return ngettext("{n} sekund", "{n} sekunder", seconds).format(n=seconds)
    minutes = math.ceil(seconds / 60)
    return ngettext("{n} minutt", "{n} minutter", minutes).format(n=minutes)


# --- the username and the address: windows and locks ----------------------------------------------


@lru_cache(maxsize=8)
def _networks(ranges: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(r, strict=False) for r in ranges)


def shared_address(ip: str | None) -> bool:
    """Is this address inside DHO_LOGIN_NAT_RANGES (many people behind it)?"""
    if not ip:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in network for network in _networks(tuple(settings.DHO_LOGIN_NAT_RANGES)))


def address_limit(ip: str | None) -> int:
    return settings.DHO_LOGIN_NAT_ADDRESS_LIMIT if shared_address(ip) else settings.DHO_LOGIN_ADDRESS_LIMIT


_COUNT_SQL = """
INSERT INTO {table} AS w (kind, key, started_at, failures) VALUES (%(kind)s, %(key)s, %(now)s, 1)
ON CONFLICT (kind, key) DO UPDATE SET
    failures = CASE WHEN w.started_at > %(open_since)s THEN w.failures + 1 ELSE 1 END,
    started_at = CASE WHEN w.started_at > %(open_since)s THEN w.started_at ELSE EXCLUDED.started_at END
RETURNING started_at, failures
"""
# Windows that ended; SKIP LOCKED: never wait for (or deadlock with) a login counting one right now.
_PURGE_SQL = """
DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE started_at <= %s FOR UPDATE SKIP LOCKED)
"""


def _count(kind: str, key: str, now: datetime.datetime) -> tuple[datetime.datetime, int]:
    """One more failure in the window of (kind, key), a new window if the last one ended: one
    statement, so concurrent failures count one after the other. → (window start, failures)."""
    table = connection.ops.quote_name(LoginWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNT_SQL.format(table=table), {"kind": kind, "key": key, "now": now, "open_since": now - window()}
        )
        return cursor.fetchone()


def _purge(now: datetime.datetime) -> None:
    table = connection.ops.quote_name(LoginWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_PURGE_SQL.format(table=table), [now - window()])


def _lock_start(request, *, kind: str, username: str, ip: str | None, started_at, failures: int) -> LoginLock:
    user = get_user_model().objects.filter(username=username).first() if username else None
    lock = LoginLock.objects.create(
        kind=kind,
        username=username,
        user=user,
        ip=ip,
        started_at=started_at,
        ends_at=started_at + window(),
        failures=failures,
    )
    audit_record(
        action=AuditAction.CREATE, object_type="login_lock", object_id=lock.pk, request=request, system="lockout"
    )
    return lock


def failure_count(request, username: str | None) -> list[LoginLock]:
    """Counts a failed login (the pair is axes' record) for its username and its address; the locks
    that start with this failure (exactly one request reaches a limit: the count is serialised)."""
    now = timezone.now()
    ip = client_address(request)
    _purge(now)
    counted = []
    if username and settings.DHO_LOGIN_USER_LIMIT > 0:
        counted.append((LoginWindowKind.USER, username, settings.DHO_LOGIN_USER_LIMIT))
    if ip and address_limit(ip) > 0:
        counted.append((LoginWindowKind.ADDRESS, ip, address_limit(ip)))
    started = []
    for kind, key, limit in counted:
        window_start, failures = _count(kind, key, now)
        if failures == limit:
            name = key if kind == LoginWindowKind.USER else ""
            started.append(
                _lock_start(request, kind=kind, username=name, ip=ip, started_at=window_start, failures=failures)
            )
    return started


def active_locks():
    return LoginLock.objects.filter(ends_at__gt=timezone.now(), lifted_at__isnull=True)


def step_up_lock(request, username: str | None) -> LoginLock | None:
    """The lock that makes this login need the second factor with the password, if any: the
    username's, or the address's."""
    ip = client_address(request)
    which = Q(kind=LoginWindowKind.USER, username=username or "")
    if ip:
        which |= Q(kind=LoginWindowKind.ADDRESS, ip=ip)
    return active_locks().filter(which).order_by("-locked_at").first()


def lift(*, by, request=None, usernames=(), addresses=()) -> int:
    """The admin's «Opphev sperren»: ends the active locks of these usernames (and addresses), and
    forgets their failures, the pairs' waits included. → how many locks ended."""
    usernames, addresses = [u for u in usernames if u], [a for a in addresses if a]
    which = Q(kind=LoginWindowKind.USER, username__in=usernames) | Q(kind=LoginWindowKind.ADDRESS, ip__in=addresses)
    locks = list(active_locks().filter(which))
    now = timezone.now()
    for lock in locks:
        lock.lifted_at, lock.lifted_by = now, by.get_username()
        lock.save(update_fields=["lifted_at", "lifted_by"])
        audit_record(
            action=AuditAction.UPDATE,
            object_type="login_lock",
            object_id=lock.pk,
            request=request,
            user=by,
            role="admin",
        )
    windows = Q(kind=LoginWindowKind.USER, key__in=usernames) | Q(kind=LoginWindowKind.ADDRESS, key__in=addresses)
    LoginWindow.objects.filter(windows).delete()
    AccessAttempt.objects.filter(Q(username__in=usernames) | Q(ip_address__in=addresses)).delete()
    return len(locks)


# --- django-axes: records the pairs, refuses a pair that must wait ---------------------------------


class LockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER. axes' backend asks `is_allowed` before any password is checked (a refusal is its
    429, tenants.login.lockout_response); every failed login comes to `user_login_failed`."""

    def is_allowed(self, request, credentials: dict | None = None) -> bool:
        return pair_wait(request, get_client_username(request, credentials)) == 0

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is None or getattr(request, NOT_A_GUESS, False):
            return
        # Records the pair's failure, unless axes refused this try before the password (then nothing).
        super().user_login_failed(sender, credentials, request, **kwargs)
        if not request.axes_locked_out:
            failure_count(request, get_client_username(request, credentials))

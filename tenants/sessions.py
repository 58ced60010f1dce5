"""Sessions that end: 30 minutes without a user action, and 8 hours after the login at the most.

The session keeps two timestamps (seconds since the epoch): when the user logged in (`LOGIN_AT`,
stamped by the `user_logged_in` receiver below) and their last action (`LAST_ACTION`).
`SessionLimitsMiddleware` ends a session past either limit before the view runs, so the view sees
an anonymous user: a page redirects to the login (which says why), the worklist's live refresh
gets its HX-Redirect, the API its 403.

What is a user action: every request except the ones a page makes by itself (`is_user_action`):
htmx GETs (the worklist's 5-second refresh is the only kind there is) and the session warning's
status check. Those neither extend the session nor write it. Every other request is something the
user did; it moves `LAST_ACTION` (written at most every `TOUCH_SECONDS`, not on every click).
A page that someday makes an htmx GET on the user's behalf (search as you type) must send another
header than `HX-Request` or count as passive.

A form sent after the session ended is not saved; the login leads back to the page it was on, not
to the form's POST-only address, and says the form was not saved (`form_lost`).

An ended session is flushed (a new, empty session replaces it) without Django's logout signal: an
idle screen ends that one login, where a logout ends every session and token of the user
(tenants/tokens.py). The session's own expiry is set to the absolute limit at login, so the cookie
and the stored row end then too. A login of the same user in a running session (the password
posted again on the admin's login form) keeps the session's stamps: its 8 hours are not renewed.

Pages extending base.html show a warning a minute before the end, with «Fortsett innlogget»
(templates/tenants/_session_warning.html, static/js/session-timeout.js).

Settings (seconds): DHO_SESSION_IDLE_SECONDS (1800), DHO_SESSION_MAX_SECONDS (8 h),
DHO_SESSION_WARNING_SECONDS (60).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

LOGIN_AT = "dho_login_at"
# How this session logged in (tenants.models.LoginMethod): the audit log records it with every event.
# An identity provider's callback sets `dho_login_method` on the user before django's login().
LOGIN_METHOD = "dho_login_method"
LAST_ACTION = "dho_last_action"
# Why the last session ended, for the login page: "idle", "absolute" or "expired" (no stamps).
ENDED_REASON = "dho_session_ended"
# A form came in after the session had ended: nothing of it was saved, and the login page says so.
FORM_LOST = "dho_form_lost"
# The last action is written at most this often: a burst of clicks is one write.
TOUCH_SECONDS = 10


def idle_seconds() -> int:
    return int(getattr(settings, "DHO_SESSION_IDLE_SECONDS", 30 * 60))


def max_seconds() -> int:
    return int(getattr(settings, "DHO_SESSION_MAX_SECONDS", 8 * 3600))


def warning_seconds() -> int:
    return int(getattr(settings, "DHO_SESSION_WARNING_SECONDS", 60))


@dataclass(frozen=True)
class Limits:
    """When this session ends (epoch seconds), and which limit comes first."""

    idle_deadline: float
    absolute_deadline: float

    @property
    def deadline(self) -> float:
        return min(self.idle_deadline, self.absolute_deadline)

    @property
    def reason(self) -> str:
        return "absolute" if self.absolute_deadline <= self.idle_deadline else "idle"

    def as_json(self, now: float) -> dict:
        return {
            "authenticated": True,
            "now": round(now, 3),
            "idle_deadline": round(self.idle_deadline, 3),
            "absolute_deadline": round(self.absolute_deadline, 3),
            "warning_seconds": warning_seconds(),
        }


def limits(session) -> Limits | None:
    """The session's deadlines; None for a session without the login stamps (not ours: ended)."""
    login_at = session.get(LOGIN_AT)
    if not isinstance(login_at, int | float):
        return None
    last = session.get(LAST_ACTION)
    last = last if isinstance(last, int | float) else login_at
    return Limits(idle_deadline=last + idle_seconds(), absolute_deadline=login_at + max_seconds())


def is_user_action(request) -> bool:
    """Did the user do this, or did a page do it by itself (a live refresh, a status check)?"""
    if request.method not in ("GET", "HEAD"):
        return True
    if request.headers.get("HX-Request") == "true":
        return False
    return request.path_info != reverse("session-status")


def touch(session, now: float | None = None, *, force: bool = False) -> None:
    """Records a user action (at most every TOUCH_SECONDS unless forced)."""
    now = time.time() if now is None else now
    last = session.get(LAST_ACTION)
    if force or not isinstance(last, int | float) or now - last >= TOUCH_SECONDS:
        session[LAST_ACTION] = now


def end(request, reason: str) -> None:
    """Ends this session only (not the user's others): a fresh empty session that remembers why."""
    request.session.flush()
    request.session[ENDED_REASON] = reason
    request.user = AnonymousUser()

    async def auser():
        return AnonymousUser()

    request.auser = auser


def _logged_in_by_session(request) -> bool:
    # The session names a user; reading it needs no query (request.user would load the user).
    return SESSION_KEY in request.session and HASH_SESSION_KEY in request.session


class SessionLimitsMiddleware:
    """Ends a session past its idle or absolute limit; a user action moves the idle one. Between
    AuthenticationMiddleware and django_otp's OTPMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _logged_in_by_session(request):
            now = time.time()
            found = limits(request.session)
            if found is None or now >= found.deadline:
                end(request, found.reason if found else "expired")
            elif is_user_action(request):
                touch(request.session, now)
        response = self.get_response(request)
        if request.method == "POST" and _sent_to_login(request, response):
            form_lost(request, response)
        return response


def _sent_to_login(request, response) -> bool:
    """Did a view send this request to the login to come back to its own address (Django's
    `redirect_to_login`, as every LoginRequiredMixin does for someone not logged in)?"""
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    return location.path == reverse(settings.LOGIN_URL) and parse_qs(location.query).get("next") == [
        request.get_full_path()
    ]


def form_lost(request, response) -> None:
    """A form sent after the session ended (idle, 8 hours, a logout in another tab): its address takes
    only a POST, so the login's way back to it would be a 405 and the form gone. The login leads
    back to the page the form was on (its Referer, when it is this site's) and says the form was
    not saved."""
    referer = request.META.get("HTTP_REFERER", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    page = urlsplit(referer) if safe else None
    back = (page.path + (f"?{page.query}" if page.query else "")) if page else reverse(settings.LOGIN_REDIRECT_URL)
    response["Location"] = redirect_to_login(back)["Location"]
    request.session[FORM_LOST] = True


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's, except that a request a page made by itself (not `is_user_action`) never deletes the
    session cookie. At a session's end the live refresh and the warning's status check can be on
    their way at once: the first to arrive ends the session and sets the new session's cookie, which
    remembers why it ended; the other was sent with the old cookie, finds no session, and Django
    would answer it by deleting the cookie — the new one, by then — so the login page the browser
    goes to next could not say why the user was logged out."""

    def process_response(self, request, response):
        session = getattr(request, "session", None)
        stale_cookie = (
            session is not None
            and settings.SESSION_COOKIE_NAME in request.COOKIES
            and not session.modified
            and session.is_empty()
        )
        if stale_cookie and not is_user_action(request):
            patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)


@receiver(user_logged_in, dispatch_uid="tenants.sessions.stamp_login")
def _stamp_login(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is None:
        return
    if isinstance(session.get(LOGIN_AT), int | float):
        # Django's login() keeps the session of the same user (a new key, the same data): the user
        # gave the password again in a running session (Django's admin shows its login form to a
        # logged-in user). That proves nothing the session did not have, so its 8 hours go on; a
        # login by an identity provider in it (HelseID) is still recorded as the session's method.
        session[LOGIN_METHOD] = getattr(user, "dho_login_method", "") or session.get(LOGIN_METHOD) or "password"
        return
    now = time.time()
    session[LOGIN_AT] = now
    session[LAST_ACTION] = now
    session[LOGIN_METHOD] = getattr(user, "dho_login_method", "") or "password"
    session.pop(ENDED_REASON, None)
    session.pop(FORM_LOST, None)
    # The stored row and the cookie end at the absolute limit too (a datetime: fixed, not renewed).
    session.set_expiry(timezone.now() + datetime.timedelta(seconds=max_seconds()))

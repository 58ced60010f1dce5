"""The session engine (settings.SESSION_ENGINE): Django's database sessions, the session row read
through a query compiled once per process (tenants/compiled.py). Every request of a logged-in user
reads its session first, and Django compiling that one queryset cost as much CPU as PostgreSQL took
to answer it. What is stored, when it expires and how a logout ends it are Django's, unchanged."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from tenants.compiled import LONG_AGO, CompiledQuery

_SESSION = CompiledQuery(
    lambda _key, session_key, now: Session.objects.filter(session_key=session_key, expire_date__gt=now),
    session_key="<no session key>",  # a key is 32 letters and digits
    now=LONG_AGO,
)


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        """The session's row if it exists and has not expired, else None (the key then forgotten),
        as Django's own: `session_key` is validated before it is set, so no key here is suspicious."""
        found = _SESSION.first(None, session_key=self.session_key, now=timezone.now())
        if found is None:
            self._session_key = None
        return found

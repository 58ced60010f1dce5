"""The database scope of a request: which municipalities' rows PostgreSQL shows
while it runs (tenants/rls.py). Here, above every app, because a user's reach crosses them: the
memberships (tenants) and the fastlege's and specialist's object permissions (patients).

The scope is the organisations' reach, one step coarser than the pages' own filters, which still
decide what a user sees: a user sees rows only of the municipalities their memberships name, the
municipalities a centre of theirs serves or has served (its register, its finance months), and the
municipalities of the patients they were given by object permission. Another centre's kommune, or a
kommune the user has nothing to do with, is outside the wall whatever a query asks for. A session
that chose one organisation («Velg virksomhet», tenants/organisations.py) counts only the memberships
at it (and the object permissions, which are personal).
"""

from __future__ import annotations

from django.db import connection

from tenants import rls
from tenants.configuration import acting_as, actor
from tenants.tokens import TokenAuthentication

REACH_SQL = """
SELECT municipality_id FROM tenants_membership WHERE user_id = %s AND municipality_id IS NOT NULL
UNION
SELECT a.municipality_id FROM tenants_agreement a JOIN tenants_membership m ON m.centre_id = a.centre_id
 WHERE m.user_id = %s
UNION
SELECT c.host_id FROM tenants_centre c JOIN tenants_membership m ON m.centre_id = c.id WHERE m.user_id = %s
UNION
SELECT unnest(dho_permitted_municipalities(%s))
"""
# A session that chose an organisation (tenants/organisations.py): the memberships at it only. The
# fastlege's reach is personal (object permissions, the last line) whatever is chosen.
CHOSEN_REACH_SQL = """
SELECT municipality_id FROM tenants_membership WHERE user_id = %s AND municipality_id = %s
UNION
SELECT a.municipality_id FROM tenants_agreement a JOIN tenants_membership m ON m.centre_id = a.centre_id
 WHERE m.user_id = %s AND m.centre_id = %s
UNION
SELECT c.host_id FROM tenants_centre c JOIN tenants_membership m ON m.centre_id = c.id
 WHERE m.user_id = %s AND m.centre_id = %s
UNION
SELECT unnest(dho_permitted_municipalities(%s))
"""
NOTHING_SQL = "SELECT NULL::bigint WHERE false"
EVERY_MUNICIPALITY_SQL = "SELECT id FROM tenants_municipality"  # Django's admin for the platform's operators


def reach_query(user) -> tuple[str, list]:
    """The query for the municipalities whose rows this user's requests may touch, and its parameters."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING_SQL, []
    if user.is_superuser:
        return EVERY_MUNICIPALITY_SQL, []
    chosen = getattr(user, "_dho_organisation", None)
    if chosen is not None:
        kind, pk = chosen
        municipality, centre = (pk, None) if kind == "municipality" else (None, pk)
        return CHOSEN_REACH_SQL, [user.pk, municipality, user.pk, centre, user.pk, centre, user.pk]
    return REACH_SQL, [user.pk] * 4


def municipality_ids_for(user) -> list[int]:
    """The user's reach as a list (what the requests' SET LOCAL holds)."""
    with connection.cursor() as cursor:
        cursor.execute(*reach_query(user))
        return sorted(row[0] for row in cursor.fetchall())


def _actor(user) -> str:
    return getattr(user, "username", "") or "anonym"


def scope_set_for(user) -> None:
    """SET LOCAL this user's reach in the open transaction: worked out and set in one round trip."""
    rls.scope_set_to_query(*reach_query(user))


# /healthz reads no scoped row and must answer while PostgreSQL does not: its own checks catch the
# database's error (dho/health.py); a transaction opened here failed before it, a 500 page.
UNSCOPED_PATHS = frozenset({"/healthz"})


class ScopeMiddleware:
    """Every request in one transaction whose SET LOCAL scope is the user's (none for an anonymous
    request: an API client authenticates inside the view, and its authentication class sets the
    scope then, see ScopedTokenAuthentication and measurements.api.IntegrationAuthentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info in UNSCOPED_PATHS:
            return self.get_response(request)
        # The scope's statement also clears a session-wide scope a reused connection might carry.
        with rls.scoped_to_query(*reach_query(request.user), session_clear=True), acting_as(_actor(request.user)):
            return self.get_response(request)


class ScopedTokenAuthentication(TokenAuthentication):
    """knox's API token (tenants.tokens), then the token's user's scope for the rest of the request."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is not None:
            scope_set_for(found[0])
            actor.set(_actor(found[0]))  # inside the request's acting_as: reset with it
        return found

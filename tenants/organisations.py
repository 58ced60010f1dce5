"""Which organisation a session acts for: «Velg virksomhet».

A user with roles at several centres or kommuner (a koordinator in Gjerdrum and in Nannestad, a
nurse at a centre who is also a kommune's koordinator) picks one per session, right after the login,
on `/virksomhet/`. The session's scope follows the choice: the memberships of the chosen centre or
kommune are the only ones `tenants.selectors.chosen_memberships` gives (which `user_scope`, insight's,
billing's and the admin's readings of the user's roles start from) and the database's wall
(`dho.scope`) counts, so the pages, the API by session, the audit log's «role used» and row-level
security all see one organisation. Switching is a click on the same page (no new password: the login stands), and every
choice is audited (`organisation`, the chosen one's id). HelseID's multi-tenant rule says the same:
the client itself must make sure a person acts only for an organisation they belong to.

A fastlege's roles are not organisations to choose between: the kommuner a fastlege role names are
where they practise (the henvisning's lists), and their patients are theirs by object permission,
whatever kommune they live in. Fastlege roles count whichever organisation is chosen.

Who must choose: a session that logged in through `/login/` or HelseID (`after_login`) with two or
more organisations; until then `OrganisationMiddleware` sends every page there (the API by session
gets a 403). Sessions made otherwise (the admin's own login, the tests' `force_login`) and API tokens
keep the scope of all the user's roles, as before.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from tenants.models import AuditAction, Membership, Role
from tenants.services import audit_record

CHOSEN = "dho_organisation"  # "centre:<id>" or "municipality:<id>"
CHOSEN_NAME = "dho_organisation_name"  # for the header, without a query
CHOICES = "dho_organisation_choices"  # how many there were at the choice (the header's «Bytt» link)
PENDING = "dho_organisation_pending"
USER_ATTRIBUTE = "_dho_organisation"  # (kind, id) on request.user: what the scope reads (tenants.selectors, dho.scope)

# Reachable before the choice: the choice itself, the login pages, the session's own endpoints.
OPEN_BEFORE_CHOICE = frozenset({
    "organisation-choose", "login", "logout", "two-factor-verify", "two-factor-setup", "healthz",
    "session-status", "session-keepalive", "helseid-start", "helseid-callback",
})  # fmt: skip


@dataclass(frozen=True)
class Organisation:
    key: str
    kind: str  # "centre" or "municipality"
    pk: int
    name: str
    roles: tuple[str, ...]

    @property
    def roles_text(self) -> str:
        return ", ".join(str(Role(r).label) for r in self.roles)


def organisations_of(user) -> list[Organisation]:
    """The centres and kommuner the user holds a role at (fastlege roles aside), by name."""
    found: dict[str, tuple[str, int, str, set[str]]] = {}
    memberships = Membership.objects.filter(user=user).exclude(role=Role.GP).select_related("centre", "municipality")
    for m in memberships:
        if m.centre is not None:
            kind, pk, name = "centre", m.centre.pk, m.centre.name
        else:
            assert m.municipality is not None  # a membership is at a centre or a kommune (its constraint)
            kind, pk, name = "municipality", m.municipality.pk, f"{m.municipality.name} kommune"
        found.setdefault(f"{kind}:{pk}", (kind, pk, name, set()))[3].add(m.role)
    organisations = [
        Organisation(key=key, kind=kind, pk=pk, name=name, roles=tuple(sorted(roles)))
        for key, (kind, pk, name, roles) in found.items()
    ]
    return sorted(organisations, key=lambda o: (o.name, o.key))


def parse_key(key) -> tuple[str, int] | None:
    kind, _sep, pk = str(key or "").partition(":")
    if kind in ("centre", "municipality") and pk.isdigit():
        return kind, int(pk)
    return None


def after_login(request) -> None:
    """At the end of a login through the platform's pages: one organisation is simply the session's;
    two or more must be chosen before anything else."""
    session = request.session
    for key in (CHOSEN, CHOSEN_NAME, CHOICES, PENDING):
        session.pop(key, None)
    organisations = organisations_of(request.user)
    if len(organisations) > 1:
        session[PENDING] = True


def choose(request, key: str) -> Organisation | None:
    """The session acts for this organisation from now on (audited); None when it is not one of the
    user's."""
    organisations = organisations_of(request.user)
    chosen = next((o for o in organisations if o.key == key), None)
    if chosen is None:
        return None
    session = request.session
    session[CHOSEN], session[CHOSEN_NAME], session[CHOICES] = chosen.key, chosen.name, len(organisations)
    session.pop(PENDING, None)
    with contextlib.suppress(AttributeError):
        del request.user._dho_scope  # computed for the old choice, if at all
    setattr(request.user, USER_ATTRIBUTE, (chosen.kind, chosen.pk))
    audit_record(
        action=AuditAction.UPDATE,
        object_type="organisation",
        object_id=chosen.key,
        request=request,
        role=chosen.roles[0] if len(chosen.roles) == 1 else "",
        municipality_id=chosen.pk if chosen.kind == "municipality" else None,
    )
    return chosen


def chosen_of(session) -> tuple[str, int] | None:
    return parse_key(session.get(CHOSEN))


def _url_name(request) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None


def _open(request) -> bool:
    name = _url_name(request)
    return name is None or name in OPEN_BEFORE_CHOICE  # a 404 shows nothing


def _choosing(request) -> bool:
    """The choice itself runs with every organisation's scope: it names them all, and its audit entry
    is filed under the one chosen, which the old choice's scope may not reach."""
    return _url_name(request) == "organisation-choose"


class OrganisationMiddleware:
    """Puts the session's chosen organisation on the user before the scope is worked out
    (dho.scope.ScopeMiddleware), and sends a session that must still choose to «Velg virksomhet».
    After the second factor's middleware, before the scope's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and (CHOSEN in session or PENDING in session) and request.user.is_authenticated:
            chosen = chosen_of(session)
            if chosen is not None and not _choosing(request):
                setattr(request.user, USER_ATTRIBUTE, chosen)
            elif chosen is None and session.get(PENDING) and not _open(request):
                return self._choose_first(request)
        return self.get_response(request)

    @staticmethod
    def _choose_first(request) -> HttpResponse:
        if request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            detail = _("Velg hvilken virksomhet du handler for (Velg virksomhet) før du går videre.")
            return JsonResponse({"detail": detail}, status=403)
        url = f"{reverse('organisation-choose')}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=200)
            response["HX-Redirect"] = url
            return response
        return redirect(url)

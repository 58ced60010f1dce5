"""«Logg inn med HelseID», «Velg virksomhet» and the logout that ends the HelseID session too.
Thin views: the protocol is tenants/oidc.py, the mapping to users tenants/helseid_login.py and
tenants/persons.py, the organisation tenants/organisations.py."""

from __future__ import annotations

import logging
import time

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from tenants import helseid_login, oidc, organisations, persons, two_factor
from tenants.helseid import HelseIdError
from tenants.views import _next_url, safe_next

log = logging.getLogger(__name__)

REFUSED_TEMPLATE = "tenants/login_refused.html"


def _refused(request, reason: str, *, status: int):
    return render(request, REFUSED_TEMPLATE, {"reason": reason}, status=status)


def _pending_all(session) -> dict:
    """The logins this browser started and has not finished, by state, the stale ones dropped."""
    pending = session.get(helseid_login.PENDING_KEY)
    if not isinstance(pending, dict):
        return {}
    now = time.time()
    return {
        state: data
        for state, data in pending.items()
        if isinstance(data, dict) and now - float(data.get("started_at") or 0) < helseid_login.PENDING_SECONDS
    }


def _pending_keep(session, pending: oidc.Pending) -> None:
    kept = _pending_all(session)
    kept[pending.state] = pending.as_dict()
    newest = sorted(kept.items(), key=lambda item: item[1].get("started_at") or 0)[-helseid_login.PENDING_KEPT :]
    session[helseid_login.PENDING_KEY] = dict(newest)


def _pending_take(session, state: str) -> oidc.Pending | None:
    kept = _pending_all(session)
    data = kept.pop(state, None) if state else None
    session[helseid_login.PENDING_KEY] = kept
    return oidc.Pending.from_dict(data) if data else None


def _auth_time(claims: dict) -> float | None:
    value = claims.get("auth_time")  # present and checked by tenants/oidc.py
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@method_decorator(never_cache, name="dispatch")
class HelseIdStartView(View):
    """The login page's «Logg inn med HelseID» (a POST: it pushes an authorization request)."""

    def dispatch(self, request, *args, **kwargs):
        if not helseid_login.enabled():
            raise Http404(_("Innlogging med HelseID er ikke slått på."))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return redirect("login")

    def post(self, request):
        # «Bekreft med HelseID» (the API-nøkler page): the same login, with HelseID told to
        # authenticate the person anew (prompt=login), so its auth_time opens the step-up window.
        step_up = request.POST.get("reauthenticate") == "1"
        try:
            provider = helseid_login.provider()
            extra = helseid_login.start_parameters(request.POST.get("orgnr", ""))
            if step_up:
                extra["prompt"] = "login"
            url, pending = oidc.authorization_start(
                provider, redirect_uri=request.build_absolute_uri(reverse("helseid-callback")), extra=extra
            )
        except helseid_login.LoginRefused as refused:
            return _refused(request, refused.reason, status=400)
        except (oidc.OidcError, HelseIdError) as failed:
            log.warning("HelseID-innlogging kunne ikke starte: %s", failed)
            reason = failed.reason
            return _refused(request, reason, status=503)
        pending = oidc.Pending(**{**pending.as_dict(), "extra": {"next": _next_url(request), "step_up": step_up}})
        _pending_keep(request.session, pending)
        return HttpResponseRedirect(url)


@method_decorator(never_cache, name="dispatch")
class HelseIdCallbackView(View):
    """Where HelseID sends the browser back: the answer checked, the person found, logged in."""

    def get(self, request):
        if not helseid_login.enabled():
            raise Http404(_("Innlogging med HelseID er ikke slått på."))
        pending = _pending_take(request.session, str(request.GET.get("state", ""))[:200])
        if pending is None:
            return _refused(request, _(
                "Svaret fra HelseID hører ikke til en innlogging som ble startet i denne nettleseren de siste ti "
                "minuttene (state). Start innloggingen på nytt."
            ), status=400)  # fmt: skip
        try:
            provider = helseid_login.provider()
            claims, id_token = oidc.authorization_finish(provider, pending, request.build_absolute_uri())
            person = helseid_login.identity(claims)
            user = helseid_login.user_for(person, issuer=provider.issuer, request=request)
        except helseid_login.LoginRefused as refused:
            return _refused(request, refused.reason, status=403)
        except (oidc.OidcError, HelseIdError) as failed:
            log.warning("HelseID-innlogging avvist: %s", failed)
            return _refused(request, failed.reason, status=400)
        # A step-up by the session's own user keeps the session's organisation; anyone else starts over.
        same_person = bool(pending.extra.get("step_up")) and request.user.pk == user.pk
        user.dho_login_method = provider.name  # the session's login method (tenants.sessions)
        login(request, user, backend=helseid_login.BACKEND)
        # HelseID's level 4 is multi-factor; when it authenticated the person opens the step-up window.
        two_factor.mark_strong_login(request, issuer=provider.issuer, auth_time=_auth_time(claims))
        helseid_login.id_token_keep(request.session, id_token)
        helseid_login.helseid_session_keep(request.session, claims)  # for HelseID's back-channel logout
        persons.logged_in(user)
        if not same_person:
            organisations.after_login(request)
        return redirect(safe_next(request, str(pending.extra.get("next") or "")))


@method_decorator(never_cache, name="dispatch")
class OrganisationChooseView(View):
    """«Velg virksomhet»: the centre or kommune this session acts for (audited), and switching it."""

    template_name = "tenants/organisation_choose.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self._page(request)

    def post(self, request):
        chosen = organisations.choose(request, str(request.POST.get("organisation", "")))
        if chosen is None:
            return self._page(request, _("Velg en av virksomhetene i listen."), status=400)
        return redirect(_next_url(request))

    def _page(self, request, error: str = "", status: int = 200):
        context = {
            "organisations": organisations.organisations_of(request.user),
            "chosen": request.session.get(organisations.CHOSEN, ""),
            "next": _next_url(request),
            "error": error,
        }
        return render(request, self.template_name, context, status=status)


@method_decorator(csrf_exempt, name="dispatch")  # HelseID's server posts it, no browser: no CSRF token
@method_decorator(never_cache, name="dispatch")
class BackchannelLogoutView(View):
    """OpenID Connect Back-Channel Logout 1.0: HelseID POSTs `logout_token` (a form) when a person logs
    out there; the sessions it names end (tenants.helseid_login.backchannel_logout). 200 with an empty
    body when done (also when there was nothing left to end), 400 with an OAuth-style error otherwise;
    never cached. No login: the token's signature is the caller's credential."""

    http_method_names = ["post"]

    def post(self, request):
        if not helseid_login.enabled():
            raise Http404(_("Innlogging med HelseID er ikke slått på."))
        logout_token = request.POST.get("logout_token", "")
        if not logout_token or len(request.POST.getlist("logout_token")) != 1:
            return _backchannel_refused("logout_token mangler (eller er gitt mer enn én gang).")
        try:
            helseid_login.backchannel_logout(logout_token, request=request)
        except (oidc.OidcError, HelseIdError) as failed:
            log.warning("Utlogging fra HelseID avvist: %s", failed)
            return _backchannel_refused(failed.reason)
        response = HttpResponse(status=200)
        response["Cache-Control"] = "no-store"
        return response


def _backchannel_refused(description: str) -> JsonResponse:
    response = JsonResponse({"error": "invalid_request", "error_description": description}, status=400)
    response["Cache-Control"] = "no-store"
    return response


class LogoutView(auth_views.LogoutView):
    """Django's logout (every session and API token of the user ends, tenants/tokens.py); after a
    HelseID login the browser goes on to HelseID's end_session_endpoint with the ID token as
    `id_token_hint`, and HelseID sends it back to the platform's front page."""

    def post(self, request, *args, **kwargs):
        id_token = helseid_login.id_token_kept(request.session)
        response = super().post(request, *args, **kwargs)
        if id_token and helseid_login.enabled():
            try:
                provider = helseid_login.provider()
            except HelseIdError:
                return response
            url = oidc.end_session_url(
                provider, id_token=id_token, post_logout_redirect_uri=request.build_absolute_uri(reverse("home"))
            )
            if url:
                return HttpResponseRedirect(url)
        return response

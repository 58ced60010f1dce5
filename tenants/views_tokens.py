"""The «API-nøkler» page: the signed-in user's API tokens, a new one (its secret shown this once, after
a fresh code of the second factor, or a HelseID login of the last minutes) and revoking one. The
rules are in tenants/tokens.py."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from knox.settings import knox_settings

from tenants import helseid_login, two_factor
from tenants.tokens import TokenLimitReached, live_tokens, session_ends_at, token_create, token_revoke


@method_decorator(never_cache, name="dispatch")  # the page with a new secret must not be kept by any cache
class ApiTokensView(LoginRequiredMixin, View):
    template_name = "tenants/tokens.html"

    def get(self, request):
        return self._page(request)

    def post(self, request):
        if "revoke" in request.POST:
            return self._revoke(request, request.POST["revoke"])
        refusal = two_factor.reauthentication_refusal(request, request.POST.get("otp"))
        if refusal:
            return self._page(request, otp_error=refusal, status=400)
        try:
            # It ends when this session must end at the latest (and, like any token, on logout).
            token, secret = token_create(user=request.user, ends_by=session_ends_at(request.session))
        except TokenLimitReached as refused:
            messages.error(request, str(refused))
            return redirect("api-tokens")
        # Rendered in the answer to the POST, never stored or redirected: the secret exists only here.
        return self._page(request, created=token, secret=secret)

    def _revoke(self, request, token_key: str):
        if token_revoke(user=request.user, token_key=token_key):
            messages.success(request, _("API-nøkkelen som begynner med %(key)s er slettet.") % {"key": token_key})
        else:
            messages.error(
                request,
                _("Fant ingen API-nøkkel som begynner med %(key)s; den kan allerede være slettet eller utløpt.")
                % {"key": token_key},
            )
        return redirect("api-tokens")

    def _page(self, request, created=None, secret: str = "", otp_error: str = "", status: int = 200):
        ttl = knox_settings.TOKEN_TTL
        required = two_factor.required()
        step_up_open = required and two_factor.strong_login_recent(request.session)
        helseid_session = two_factor.strong_login_session(request.session)
        context = {
            "tokens": live_tokens(request.user),
            "created": created,
            "secret": secret,
            "ttl_hours": round(ttl.total_seconds() / 3600, 1) if ttl else None,
            # What proves it is the user (tenants.two_factor.reauthentication_refusal): a HelseID login
            # of the last minutes, else the app's code, else (a HelseID user without the app) HelseID again.
            "step_up_open": step_up_open,
            "step_up_minutes": two_factor.STEP_UP_SECONDS // 60,
            "otp_required": required and not step_up_open and (two_factor.has_app(request.user) or not helseid_session),
            "helseid_step_up": required and not step_up_open and helseid_session and helseid_login.enabled(),
            "otp_error": otp_error,
        }
        return TemplateResponse(request, self.template_name, context, status=status)

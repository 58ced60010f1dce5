"""The «API-nøkler» page: the signed-in user's API tokens, a new one (its secret shown this once, after
a fresh code of the second factor) and revoking one. The rules are in tenants/tokens.py."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from knox.settings import knox_settings

from tenants import two_factor
from tenants.tokens import TokenLimitReached, live_tokens, session_ends_at, token_create, token_revoke


@method_decorator(never_cache, name="dispatch")  # the page with a new secret must not be kept by any cache
class ApiTokensView(LoginRequiredMixin, View):
    template_name = "tenants/tokens.html"

    def get(self, request):
        return self._page(request)

    def post(self, request):
        if "revoke" in request.POST:
            return self._revoke(request, request.POST["revoke"])
        refusal = two_factor.reauthentication_refusal(request.user, request.POST.get("otp"))
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
        context = {
            "tokens": live_tokens(request.user),
            "created": created,
            "secret": secret,
            "ttl_hours": round(ttl.total_seconds() / 3600, 1) if ttl else None,
            "otp_required": two_factor.required(),
            "otp_error": otp_error,
        }
        return TemplateResponse(request, self.template_name, context, status=status)

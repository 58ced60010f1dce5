from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.views.generic import TemplateView

from tenants.models import Role
from tenants.selectors import user_scope


class BillingHomeView(LoginRequiredMixin, TemplateView):
    """Finance's landing page; the monthly allocation arrives with the billing issue."""

    template_name = "billing/home.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not (
            user_scope(request.user).has(Role.FINANCE) or user_scope(request.user).has(Role.ADMIN)
        ):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

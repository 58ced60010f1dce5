"""The project's own pages: where each role lands. Here and not in an app because the landing
depends on several layers (the fastlege's approval queue is ebp's, the roles are tenants')."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.views.generic import TemplateView

from ebp.selectors import approvals_waiting
from tenants.models import Role
from tenants.selectors import user_scope


class HomeView(LoginRequiredMixin, TemplateView):
    """Each role lands where its work is."""

    template_name = "home_no_role.html"

    def get(self, request, *args, **kwargs):
        scope = user_scope(request.user)
        if scope.has(Role.NURSE):
            return redirect("triage:worklist")
        if scope.has(Role.COORDINATOR):
            return redirect("patients:board")  # the municipality's forløp
        if scope.has(Role.GP) and approvals_waiting(request.user):
            return redirect("ebp:approvals")  # plans wait for this fastlege's approval
        if scope.uses_object_permissions:
            return redirect("patients:list")
        if scope.has(Role.LEDER):
            return redirect("insight:home")  # figures only: the leder reaches no patient
        if scope.has(Role.FINANCE):
            return redirect("billing:home")
        if scope.has(Role.ADMIN) and request.user.is_staff:
            return redirect("admin:index")
        return super().get(request, *args, **kwargs)

"""The login forms (`/login/` and the admin's): username and password, and while the username or
the address is under attack the second factor in the same form (tenants/login.py, LoginBackend)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tenants.login import step_up, step_up_message, step_up_refused_message


class StepUpLogin:
    """Hands the `otp` field to authenticate() beside the password, and says what a step-up wants."""

    def _add_code_field(self) -> None:
        self.fields["otp"] = forms.CharField(
            label=_("Kode fra autentiseringsappen, reservekode eller aktiveringskode"),
            required=False,
            max_length=64,
            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
        )

    @property
    def step_up(self) -> bool:
        """Does this login need the second factor with the password (show the code field)?"""
        return step_up(self.request) is not None or bool(self.data.get("otp"))

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            code = self.cleaned_data.get("otp") or None
            self.user_cache = authenticate(self.request, username=username, password=password, otp=code)
            if self.user_cache is None:
                raise self._refusal(code)
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def _refusal(self, code) -> ValidationError:
        if step_up(self.request) is None:
            return self.get_invalid_login_error()
        if not code:
            return ValidationError(step_up_message(), code="step_up")
        return ValidationError(step_up_refused_message(), code="invalid_login")


class LoginForm(StepUpLogin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Feil brukernavn eller passord. Prøv igjen."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self._add_code_field()


class AdminLoginForm(StepUpLogin, AdminAuthenticationForm):
    """The admin site's login_form (tenants/admin.py)."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self._add_code_field()

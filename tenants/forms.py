"""The login forms (`/login/` and the admin's): username and password, and while the username or
the address is under attack the second factor in the same form (tenants/login.py, LoginBackend)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tenants.login import password_login_refusal, step_up, step_up_message, step_up_refused_message


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

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)  # an inactive user: Django's refusal
        refusal = password_login_refusal(user)
        if refusal:
            raise ValidationError(refusal, code="password_login_off")

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


class CodePasswordForm(forms.Form):
    """/login/code/: the username, the code from the centre admin and a new password, checked by
    Django's password validators (tenants.activation.password_code_check checks the code)."""

    username = forms.CharField(label=_("Brukernavn"), max_length=150)
    code = forms.CharField(label=_("Kode fra administratoren"), max_length=64)
    new_password1 = forms.CharField(label=_("Nytt passord"), strip=False, widget=forms.PasswordInput)
    new_password2 = forms.CharField(label=_("Nytt passord en gang til"), strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, user_for=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_for = user_for
        self.code = None
        self.code_refused = False

    def clean(self):
        from django.contrib.auth import password_validation

        from tenants.activation import password_code_check

        data = super().clean()
        if "username" not in data or "code" not in data:
            return data
        user = self.user_for(data["username"])
        self.code, error = password_code_check(user, data["code"])
        if self.code is None:
            self.code_refused = True
            raise ValidationError(error, code="code")
        first, second = data.get("new_password1"), data.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", _("De to passordene er ikke like. Skriv det samme passordet to ganger."))
        elif first:
            try:
                password_validation.validate_password(first, self.code.user)
            except ValidationError as invalid:
                self.add_error("new_password1", invalid)
        return data

"""The centre admin's side of HelseID login (tenants/helseid_login.py): binding a user to the person
HelseID logs in (on the user's page, «HelseID-kobling»: by fødselsnummer, HPR number or both, audited
by tenants/persons.py), and which refused HelseID logins an admin reads (an unknown person is the
admin's to bind, if they should have access; the list is `LoginRefusalAdmin` in tenants/admin.py)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from tenants import persons
from tenants.login import accounts_managed_by
from tenants.models import LoginRefusal
from tenants.norwegian import datetime_text


class BindingForm(forms.Form):
    fnr = forms.CharField(
        label=_("Fødselsnummer"),
        required=False,
        max_length=20,
        help_text=_("11 sifre. Lagres bare som en nøkkelhash: det kan ikke leses ut igjen, bare sammenlignes."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    hpr_number = forms.CharField(
        label=_("HPR-nummer"),
        required=False,
        max_length=12,
        help_text=_("For helsepersonell i Helsepersonellregisteret. En fastlege kjennes igjen på HPR-nummeret alene."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )


def binding_summary(user) -> str:
    """What the user's page says about their binding, with the link to change it."""
    binding = persons.binding_of(user)
    url = reverse("admin:tenants_user_helseid", args=[user.pk])
    if binding is None:
        state = _("Ikke koblet: kan ikke logge inn med HelseID.")
    else:
        parts = []
        if binding.pid_digest:
            parts.append(str(_("fødselsnummer registrert")))
        if binding.hpr_number:
            parts.append(str(_("HPR-nummer {hpr}")).format(hpr=binding.hpr_number))
        when = datetime_text(binding.bound_at, kl=True)
        state = str(_("Koblet ({what}) av {by} {when}.")).format(what=", ".join(parts), by=binding.bound_by or "–",
                                                                 when=when)  # fmt: skip
    # The link in a paragraph of its own: beside the text it would be told from it by colour alone (axe).
    return format_html('<p>{}</p><p><a href="{}">{}</a></p>', state, url, _("Endre HelseID-kobling"))


def binding_view(model_admin, request, object_id):
    """«HelseID-kobling» for one of the admin's users: bind (fødselsnummer and/or HPR number) or
    remove the binding. A user outside the admin's centre is a 404, as everywhere in the admin."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    user = accounts_managed_by(request.user).filter(pk=object_id).first() if str(object_id).isdigit() else None
    if user is None:  # another centre's, none, or not a user's id at all («abc»)
        raise Http404
    back = reverse("admin:auth_user_change", args=[user.pk])
    form = BindingForm(request.POST or None)
    if request.method == "POST" and "unbind" in request.POST:
        if persons.person_unbind(user=user, by=request.user, request=request):
            model_admin.log_change(request, user, "HelseID-kobling fjernet")
            model_admin.message_user(request, _("HelseID-koblingen er fjernet."))
        return redirect(back)
    if request.method == "POST" and form.is_valid():
        try:
            persons.person_bind(user=user, fnr=form.cleaned_data["fnr"], hpr_number=form.cleaned_data["hpr_number"],
                                by=request.user, request=request)  # fmt: skip
        except persons.BindingRefused as refused:
            form.add_error(None, str(refused))
        else:
            model_admin.log_change(request, user, "HelseID-kobling lagret")
            done = _("{user} kan nå logge inn med HelseID.").format(user=user.get_username())
            model_admin.message_user(request, done, messages.SUCCESS)
            return redirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("HelseID-kobling for {user}").format(user=user.get_username()),
        "opts": model_admin.model._meta,
        "form": form,
        "subject": user,
        "binding": persons.binding_of(user),
        "back": back,
    }
    response = TemplateResponse(request, "admin/tenants/helseid_binding.html", context)
    add_never_cache_headers(response)
    return response


def visible_refusals(user):
    """A centre admin reads the refusals of their own users, and those of persons nobody knows (who
    may be theirs to bind); a superuser all."""
    refusals = LoginRefusal.objects.select_related("user")
    if user.is_superuser:
        return refusals
    from django.db.models import Q

    return refusals.filter(Q(user__in=accounts_managed_by(user)) | Q(user__isnull=True))

from collections import Counter

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static import admin as otp_static_admin
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from tenants import lockout
from tenants.activation import AlreadySetUp, activation_code_issue
from tenants.admin_helseid import binding_summary, binding_view, visible_refusals
from tenants.csv_input import read_upload
from tenants.errors import Refused
from tenants.forms import AdminLoginForm
from tenants.login import accounts_managed_by
from tenants.models import (
    ActivationCode,
    Agreement,
    AuditAction,
    AuditEvent,
    Centre,
    LoginLock,
    LoginMethod,
    LoginRefusal,
    LoginRefusalReason,
    Membership,
    Municipality,
    Population,
    Role,
    Staffing,
)
from tenants.norwegian import WholeNumberError, date_text, grouped, parse_whole
from tenants.reference import (
    CSV_COLUMNS,
    PopulationLine,
    overlap_message,
    population_refusal,
    population_set,
    populations_import_csv,
    staffing_overlap,
    staffing_save,
)
from tenants.selectors import (
    ACCESS_OBJECT_LABELS,
    admin_centres,
    agreement_municipalities,
    centre_served_municipalities,
    login_method_label,
    reference_centres,
    reference_municipalities,
    visible_audit_events,
)
from tenants.services import (
    MembershipRefused,
    UserRefused,
    agreement_refusal,
    agreement_save,
    audit_record,
    membership_end,
    membership_end_refusal,
    membership_give,
    membership_held_refusal,
    membership_place_refusal,
    period_refusal,
    user_create,
    user_deactivate,
    user_deactivate_refusal,
    user_update,
)
from tenants.tokens import admin_tokens
from tenants.two_factor import two_factor_reset

# The admin's login asks for the second factor beside the password while under attack, like /login/.
admin.site.login_form = AdminLoginForm


def titled(filter_class, title):
    """A list filter under a Norwegian title (Django's field filters take the field's name, which
    third-party models leave in English)."""

    class Titled(filter_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class NorwegianLabels:
    """Norwegian labels for fields a model (often a third party's, or another app's) leaves without
    one: `labels` maps a field to its label. Columns and read-only fields are shown through a
    callable under that label (Django would take the field's own name), form fields get it as their
    label. Model fields keep their names: nothing here changes a migration."""

    labels: dict[str, str] = {}

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        names = {f.name for f in model._meta.get_fields()}
        self.labels = {name: label for name, label in self.labels.items() if name in names}
        for name, label in self.labels.items():
            setattr(self, _shown_name(name), _shown(model, name, label))
        self.list_display = _relabelled(self.list_display, self.labels)
        self.readonly_fields = _relabelled(self.readonly_fields, self.labels)
        if self.fields:
            readonly = set(self.readonly_fields)
            self.fields = [_shown_name(f) if _shown_name(f) in readonly else f for f in self.fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        labels = {**self.labels, **kwargs.pop("labels", {})}
        return super().get_form(request, obj, change, labels=labels, **kwargs)

    def get_exclude(self, request, obj=None):
        # A read-only field shown under its Norwegian name stays out of the form under its own.
        readonly = set(self.get_readonly_fields(request, obj))
        hidden = [name for name in self.labels if _shown_name(name) in readonly]
        return [*(super().get_exclude(request, obj) or []), *hidden] or None

    def _view_only(self, request, obj) -> bool:
        return obj is not None and not self.has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return _relabelled(fields, self.labels) if self._view_only(request, obj) else fields

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if self._view_only(request, obj):
            return [*_relabelled(readonly, self.labels), *(_shown_name(n) for n in self.labels)]
        return readonly


def _shown_name(name: str) -> str:
    return f"{name}_shown_nb"


def _relabelled(names, labels) -> list:
    return [_shown_name(n) if isinstance(n, str) and n in labels else n for n in names]


def _shown(model, name: str, label: str):
    field = model._meta.get_field(name)
    boolean = field.get_internal_type() == "BooleanField"

    def shown(obj):
        if field.choices:
            return getattr(obj, f"get_{name}_display")()
        return getattr(obj, name)

    return admin.display(description=label, boolean=boolean, ordering=name)(shown)


def _is_centre_admin(request) -> bool:
    """A staff user who is a centre's admin (in a session acting for one organisation, that one's)."""
    user = request.user
    return user.is_active and user.is_staff and (user.is_superuser or admin_centres(user).exists())


class CentreAdminAccess:
    """Centre admins (staff with an admin membership) manage their centre's configuration without
    Django model permissions being handed out one by one; querysets narrow it to their centre."""

    def has_module_permission(self, request):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_centre_admin(request)


class CentreAdminManage(CentreAdminAccess):
    """What a centre admin also adds and deletes (their users' roles, their agreements): the model
    admin's queryset and form choices keep it to the admin's own centre."""

    def has_add_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_delete_permission(self, request, obj=None):
        return _is_centre_admin(request)


class CentreAdminReadOnly:
    """What a centre admin may only read (and act on through the admin's own actions): the log,
    the second factors, the lock-outs. No adding, editing or deleting through the forms."""

    def has_module_permission(self, request):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the centre: who may do what where -----------------------------------------------------------
# A centre admin manages their own centre(s) and the kommuner they serve (host and partners), never
# another centre's: every queryset and every choice below is narrowed to those, so another centre's
# row is a missing one (the admin's redirect or 404) and another centre's id fails the form.


def _municipalities(request):
    if request.user.is_superuser:
        return Municipality.objects.all()
    served: set[int] = set()
    for centre_id in admin_centres(request.user).values_list("pk", flat=True):
        served |= centre_served_municipalities(centre_id)
    return Municipality.objects.filter(pk__in=served)


def _centres(request):
    return Centre.objects.all() if request.user.is_superuser else admin_centres(request.user)


def _memberships(request):
    memberships = Membership.objects.select_related("user", "centre", "municipality")
    if request.user.is_superuser:
        return memberships
    return memberships.filter(Q(centre__in=_centres(request)) | Q(municipality__in=_municipalities(request)))


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "population"]
    search_fields = ["number", "name"]


@admin.register(Centre)
class CentreAdmin(CentreAdminAccess, admin.ModelAdmin):
    """The operators' centres; a centre admin opens their own to switch the password fallback off or
    on (the rest they only read). The change is audited (`centre`)."""

    list_display = ["name", "slug", "host", "password_login"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return _centres(request)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return []
        return [f.name for f in Centre._meta.fields if f.name not in ("id", "password_login")]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if request.user.is_superuser else {}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(action=AuditAction.UPDATE if change else AuditAction.CREATE, object_type="centre",
                     object_id=obj.pk, request=request, role="admin", municipality_id=obj.host_id)  # fmt: skip


class OneRowAtATime:
    """The admin's bulk delete of memberships and agreements: row by row through the model, which
    writes through the owner's audited function (tenants.configuration)."""

    def delete_queryset(self, request, queryset):
        for row in queryset:
            row.delete()


class AgreementForm(forms.ModelForm):
    class Meta:
        model = Agreement
        fields = ["centre", "municipality", "follow_up_by", "valid_from", "valid_to"]

    def clean(self):
        data = super().clean()
        municipality, start, centre = data.get("municipality"), data.get("valid_from"), data.get("centre")
        if start is not None and period_refusal(start, data.get("valid_to")):
            self.add_error("valid_to", period_refusal(start, data.get("valid_to")))
            return data
        if municipality is None or start is None or centre is None:
            return data
        # A kommune is followed up by one centre at a time: another centre's host, or its overlapping
        # agreement, would open its patients to this centre's nurses (the service refuses it too).
        refusal = agreement_refusal(centre=centre, municipality=municipality, valid_from=start,
                                    valid_to=data.get("valid_to"), apart_from=self.instance)  # fmt: skip
        if refusal:
            self.add_error("municipality", refusal)
        return data


@admin.register(Agreement)
class AgreementAdmin(OneRowAtATime, CentreAdminManage, admin.ModelAdmin):
    """The centre's samarbeidsavtaler with its partner kommuner: from and to, and who follows the
    kommune's patients up. Every write is logged by the owner's function (tenants.configuration)."""

    form = AgreementForm
    list_display = ["municipality", "centre", "follow_up_by", "valid_from", "valid_to"]
    list_filter = [("centre", admin.RelatedOnlyFieldListFilter), "follow_up_by"]

    def get_queryset(self, request):
        agreements = super().get_queryset(request).select_related("centre", "municipality")
        return agreements.filter(centre__in=_centres(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "centre":
            kwargs["queryset"] = _centres(request)
        elif db_field.name == "municipality":
            kwargs["queryset"] = agreement_municipalities(_centres(request))
            kwargs["error_messages"] = {"invalid_choice": _(
                "Velg en kommune i listen. Vertskommunen til et annet oppfølgingssenter kan ikke ha "
                "samarbeidsavtale med senteret ditt."
            )}  # fmt: skip
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        agreement_save(agreement=obj)


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "role", "centre", "municipality", "hpr_number"]

    def clean(self):
        data = super().clean()
        if data.get("role"):
            place = {"centre": data.get("centre"), "municipality": data.get("municipality")}
            refusal = membership_place_refusal(data["role"], **place)
            if refusal:
                raise forms.ValidationError(refusal)
            # On the user's page (inline) the user is the page's, set on the instance.
            user_id = data["user"].pk if data.get("user") else self.instance.user_id
            if user_id is not None:
                # Under the user's lock, held to the save (the admin checks and saves in one transaction):
                # a simultaneous submit of the same role is seen here, not at the save.
                refusal = membership_held_refusal(user_id=user_id, role=data["role"], apart_from=self.instance,
                                                  lock=True, **place)  # fmt: skip
                if refusal:
                    raise forms.ValidationError(refusal)
            refusal = membership_end_refusal(self.instance, role=data["role"], centre=data.get("centre"))
            if refusal:
                raise forms.ValidationError(refusal)
        return data


class MembershipFormSet(forms.BaseInlineFormSet):
    """The user's roles on their page: two new rows of the same role at the same place are one role."""

    def clean(self):
        super().clean()
        seen: set[tuple] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if data and data.get("DELETE") and membership_end_refusal(form.instance):
                raise forms.ValidationError(membership_end_refusal(form.instance))
            if not data or data.get("DELETE") or not data.get("role"):
                continue
            key = (data["role"], data.get("centre"), data.get("municipality"))
            if key in seen:
                place = (data.get("centre") or data.get("municipality")).name
                raise forms.ValidationError(
                    _("Rollen {role} i {place} står to ganger.").format(role=Role(data["role"]).label, place=place)
                )
            seen.add(key)


class MembershipRefusalShown:
    """A role refused at the save (`membership_give`, `membership_end`: say a writer outside the admin
    stored the same role after the form's check) is said on the page it was sent from, with nothing
    of the submit stored, never a server error."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except MembershipRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return redirect(request.get_full_path())


class MembershipScope:
    """The choices of a membership's form: the admin's users, centres and served kommuner."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "centre":
            kwargs["queryset"] = _centres(request)
        elif db_field.name == "municipality":
            kwargs["queryset"] = _municipalities(request)
        elif db_field.name == "user":
            kwargs["queryset"] = accounts_managed_by(request.user).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        membership_give(membership=obj, by=request.user, request=request)

    def delete_model(self, request, obj):
        membership_end(membership=obj, by=request.user, request=request)


@admin.register(Membership)
class MembershipAdmin(MembershipRefusalShown, MembershipScope, OneRowAtATime, CentreAdminManage, admin.ModelAdmin):
    """Roles: who is nurse, koordinator, fastlege … where. Giving one is adding a row, ending one is
    deleting it; both logged by the owner's function (tenants.configuration)."""

    form = MembershipForm
    list_display = ["user", "role", "centre", "municipality", "hpr_number"]
    list_filter = ["role", ("centre", admin.RelatedOnlyFieldListFilter),
                   ("municipality", admin.RelatedOnlyFieldListFilter)]  # fmt: skip
    search_fields = ["user__username", "user__first_name", "user__last_name", "hpr_number"]

    def get_queryset(self, request):
        return _memberships(request)

    def delete_view(self, request, object_id, extra_context=None):
        # The centre's last admin role is not ended: said on the role's page, before any confirmation.
        membership = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        refusal = membership_end_refusal(membership) if membership is not None else ""
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return redirect("admin:tenants_membership_change", membership.pk)
        try:
            return super().delete_view(request, object_id, extra_context)
        except MembershipRefused as refused:  # another admin's role ended meanwhile (membership_end's lock)
            self.message_user(request, str(refused), messages.ERROR)
            return redirect("admin:tenants_membership_change", membership.pk)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            try:
                membership_end(membership=row, by=request.user, request=request)
            except MembershipRefused as refused:
                self.message_user(request, str(refused), messages.ERROR)


# --- users ---------------------------------------------------------------------------------------

User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


class NewUserForm(forms.ModelForm):
    """A new user and their first role at the centre (a user without one would be no one's to manage).
    No password here: the code shown after saving sets it (tenants/activation.py)."""

    role = forms.ChoiceField(label=_("Rolle"), choices=Role.choices)
    place = forms.ChoiceField(label=_("Hvor"), help_text=_("Oppfølgingssenteret eller en av kommunene det betjener."))

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.places = {f"centre-{c.pk}": c for c in _centres(request)}
        self.places |= {f"municipality-{m.pk}": m for m in _municipalities(request).order_by("name")}
        self.fields["place"].choices = [("", "---------"), *((key, str(p)) for key, p in self.places.items())]

    def clean(self):
        data = super().clean()
        place = self.places.get(data.get("place") or "")
        if place is not None and data.get("role"):
            where = {"centre": place} if isinstance(place, Centre) else {"municipality": place}
            refusal = membership_place_refusal(data["role"], **where)
            if refusal:
                self.add_error("role", refusal)
            data["where"] = where
        return data


class UserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "is_active"]

    def clean_is_active(self):
        active = self.cleaned_data["is_active"]
        if not active and self.instance.pk is not None and self.instance.is_active:
            # Under the centres' admin lock, held to the save (the admin checks and saves in one
            # transaction): two admins deactivating each other at once cannot both pass.
            refusal = user_deactivate_refusal(self.instance, lock=True)
            if refusal:
                raise forms.ValidationError(refusal)
        return active


class MembershipInline(MembershipScope, admin.StackedInline):  # stacked: every field has its label
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    fields = ["role", "centre", "municipality", "hpr_number"]
    extra = 1
    verbose_name = _("rolle")
    verbose_name_plural = _("roller")

    def has_add_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_delete_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def get_queryset(self, request):
        return _memberships(request)


@admin.register(User)
class CentreUserAdmin(MembershipRefusalShown, CentreAdminAccess, admin.ModelAdmin):
    """The centre's users: create one (with a first role, and a code that sets the password and then
    the authenticator app, shown once), change their roles, issue a code for a forgotten password,
    deactivate. A centre admin sees only the users of their centre and its kommuner, never a
    superuser (tenants.login.accounts_managed_by); everything is audited."""

    list_display = ["username", "first_name", "last_name", "roles", "is_active", "last_login"]
    list_filter = ["is_active", "memberships__role"]
    search_fields = ["username", "first_name", "last_name", "email"]
    readonly_fields = ["username", "last_login", "date_joined"]
    actions = ["password_code", "deactivate"]
    ordering = ["username"]

    def get_queryset(self, request):
        # «roller» names the roles at the admin's own centre and kommuner only, as the user's page does
        # (MembershipInline): a user who also works elsewhere keeps that to the other centre.
        own = Prefetch("memberships", queryset=_memberships(request))
        return accounts_managed_by(request.user).prefetch_related(own)

    def has_add_permission(self, request):
        return _is_centre_admin(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a user is deactivated, never deleted: the log names them
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = NewUserForm

            class ScopedNewUserForm(form):
                def __init__(self, *args, **kw):
                    super().__init__(*args, request=request, **kw)

            return ScopedNewUserForm
        return UserChangeForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["username", "first_name", "last_name", "email", "role", "place"]
        return ["username", "first_name", "last_name", "email", "is_active", "last_login", "date_joined", "helseid"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "helseid"] if obj is not None else []

    @admin.display(description=_("HelseID-kobling"))
    def helseid(self, user) -> str:
        return binding_summary(user)

    def get_urls(self):
        own = [path("<path:object_id>/helseid/", self.admin_site.admin_view(self.helseid_view),
                    name="tenants_user_helseid")]  # fmt: skip
        return own + super().get_urls()

    def helseid_view(self, request, object_id):
        return binding_view(self, request, object_id)

    def get_inlines(self, request, obj):
        return [MembershipInline] if obj is not None else []

    @admin.display(description=_("roller"))
    def roles(self, user) -> str:
        return ", ".join(f"{m.get_role_display()} ({m.centre or m.municipality.name})" for m in user.memberships.all())

    def save_model(self, request, obj, form, change):
        if change:
            if "is_active" in form.changed_data and not obj.is_active:
                obj.is_active = True  # deactivated through the service, which ends the user's tokens too
                user_deactivate(user=obj, by=request.user, request=request)
            user_update(user=obj, fields=[f for f in form.changed_data if f != "is_active" or obj.is_active],
                        by=request.user, request=request)  # fmt: skip
            return
        data = form.cleaned_data
        created = user_create(username=data["username"], first_name=data["first_name"], last_name=data["last_name"],
                              email=data["email"], role=data["role"], by=request.user, request=request,
                              **data["where"])  # fmt: skip
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        for membership in formset.save(commit=False):
            membership_give(membership=membership, by=request.user, request=request)
        for membership in formset.deleted_objects:
            membership_end(membership=membership, by=request.user, request=request)

    def response_add(self, request, obj, post_url_continue=None):
        user = User.objects.get(pk=obj.pk)
        issued, refused = _issue(request, [user])
        self.log_addition(request, user, "Bruker opprettet, kode for passord og autentiseringsapp laget")
        title = _("Bruker {name} er opprettet").format(name=user.get_username())
        back = reverse("admin:auth_user_change", args=[user.pk])
        return _codes_shown_once(request, title=title, issued=issued, refused=refused, back=back)

    @admin.action(description=_("Lag kode for nytt passord (vises én gang)"))
    def password_code(self, request, queryset):
        users = list(queryset)
        issued, refused = _issue(request, users, for_password=True)
        for user in users:
            self.log_change(request, user, "Kode for nytt passord laget")
        back = reverse("admin:auth_user_changelist")
        return _codes_shown_once(request, title=_("Koder for nytt passord"), issued=issued, refused=refused, back=back)

    @admin.action(description=_("Deaktiver de valgte brukerne (kan ikke logge inn, API-nøkler slettes)"))
    def deactivate(self, request, queryset):
        if request.POST.get("post") != "yes":
            return self._confirm_deactivate(request, queryset)
        names, refusals = [], []
        for user in queryset.order_by("username"):
            try:
                with transaction.atomic():  # a refusal leaves the other users' deactivation standing
                    if user_deactivate(user=user, by=request.user, request=request):
                        names.append(user.get_username())
            except UserRefused as refusal:
                refusals.append(str(refusal))
        self.message_user(request, _("Deaktivert: {names}.").format(names=", ".join(names) or "–"))
        for refusal in refusals:
            self.message_user(request, refusal, level=messages.ERROR)

    def _confirm_deactivate(self, request, queryset):
        # The API keys do not come back with a reactivation: the admin reads whose go first.
        return _users_action_confirmation(
            self, request, queryset, users=list(queryset.order_by("username")), action="deactivate",
            title=_("Deaktivere brukere?"), crumb=_("Deaktiver brukere"), list_id="deactivate-users",
            explanation=_("Disse brukerne kan ikke lenger logge inn, API-nøklene deres slettes, og varsler de har "
                          "tatt, blir ledige for de andre på arbeidslisten. Rollene står igjen; en bruker kan "
                          "aktiveres igjen på brukerens side, men API-nøklene kommer ikke tilbake."),
            submit=_("Ja, deaktiver"), back=reverse("admin:auth_user_changelist"),
        )  # fmt: skip


def _users_action_confirmation(model_admin, request, queryset, *, users, action, back, **texts):
    """Django's intermediate page for an action on users: nothing happens until the admin confirms,
    having read whom it touches and what goes. `texts`: title, crumb, list_id, explanation, submit."""
    context = {
        **model_admin.admin_site.each_context(request),
        **texts,
        "users": users,
        "selected": queryset.values_list("pk", flat=True),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action": action,
        "opts": model_admin.model._meta,
        "back": back,
    }
    response = TemplateResponse(request, "admin/tenants/users_action_confirm.html", context)
    add_never_cache_headers(response)
    return response


# The log's codes in Norwegian: the objects patients' «innsyn i logg» names (tenants.selectors), and
# those only the admin's log shows (configuration written through the owner's function, the login's
# security events, the gateways). A code not named here is shown as it is.
AUDIT_OBJECT_LABELS = {
    **ACCESS_OBJECT_LABELS,
    "plan_version": "planversjon",
    "access_log": "innsyn i logg",
    "activation_code": "aktiveringskode",
    "answer_list": "skjemasvarliste",
    "integration": "integrasjon (gateway)",
    "integration_token": "integrasjonens token",
    "login_lock": "innloggingssperre",
    "move_hand_over": "overlevering ved flytting",
    "move_notice": "flyttemelding",
    "password": "passord",
    "population": "innbyggertall",
    "population_import": "import av innbyggertall",
    "price_model": "prismodell",
    "quarantine_notice": "full karantene",
    "second_factor": "tofaktor",
    "centre": "oppfølgingssenter",
    "login_refusal": "avvist HelseID-innlogging",
    "organisation": "valg av virksomhet",
    "person_binding": "HelseID-kobling",
    "staffing": "bemanning",
    "system_scope": "systemtilgang",
    "user": "bruker",
    "user_access": "brukertilgang",
    "tenants_membership": "rolle (medlemskap)",
    "tenants_agreement": "samarbeidsavtale",
    "patients_patientuserobjectpermission": "tilgang til pasient (bruker)",
    "patients_patientgroupobjectpermission": "tilgang til pasient (gruppe)",
}
AUDIT_ROLE_LABELS = {**dict(Role.choices), "admin": Role.ADMIN.label}


def audit_object_label(code: str) -> str:
    return AUDIT_OBJECT_LABELS.get(code, code)


def audit_role_label(code: str) -> str:
    return str(AUDIT_ROLE_LABELS.get(code, code)) if code else "–"


class CodeFilter(admin.SimpleListFilter):
    """A filter on a code column, offering the codes in Norwegian (sorted by the label)."""

    labels: dict = {}

    def lookups(self, request, model_admin):
        return sorted(((code, str(label)) for code, label in self.labels.items()), key=lambda pair: pair[1])

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class AuditObjectFilter(CodeFilter):
    title = _("objekttype")
    parameter_name = "object_type"
    labels = AUDIT_OBJECT_LABELS


class AuditRoleFilter(CodeFilter):
    title = _("rolle")
    parameter_name = "role"
    labels = AUDIT_ROLE_LABELS


class AuditLoginMethodFilter(CodeFilter):
    title = _("innlogget med")
    parameter_name = "login_method"
    labels = dict(LoginMethod.choices)


@admin.register(AuditEvent)
class AuditEventAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """Read-only, and only the events of the municipalities the admin's centre serves."""

    list_display = ["at", "username", "role_shown", "action", "object_shown", "patient_id", "municipality", "ip",
                    "login_method_shown"]  # fmt: skip
    list_filter = ["action", AuditRoleFilter, AuditObjectFilter, "municipality", AuditLoginMethodFilter,
                   ("at", admin.DateFieldListFilter)]  # fmt: skip
    search_fields = ["username", "=patient_id", "=request_id", "=upstream_request_id", "=object_id"]
    date_hierarchy = "at"
    list_select_related = ["municipality"]
    show_full_result_count = False  # the log grows without bound; counting it all is slow

    def get_queryset(self, request):
        return visible_audit_events(request.user)

    @admin.display(description=_("rolle"), ordering="role")
    def role_shown(self, event) -> str:
        return audit_role_label(event.role)

    @admin.display(description=_("objekttype"), ordering="object_type")
    def object_shown(self, event) -> str:
        return audit_object_label(event.object_type)

    @admin.display(description=_("innlogget med"), ordering="login_method")
    def login_method_shown(self, event) -> str:
        return login_method_label(event.login_method) or "–"


# --- login: lock-outs, activation codes and the second factor -----------------------------------------
# (tenants/lockout.py, tenants/activation.py, tenants/two_factor.py). django-otp's own admins would show
# a TOTP secret (QR code) and the backup codes' digests to anyone with model permissions, and axes'
# lists every address's failures: replaced by lists that a centre admin reads for their centre's users
# (tenants.login.accounts_managed_by), each with the one thing to do there. Every action is audited
# (tenants.services.audit_record, in the services) and written to the admin's log of changes.

admin.site.unregister(otp_static_admin.StaticDevice)
admin.site.unregister(otp_totp_admin.TOTPDevice)
admin.site.unregister(AccessAttempt)


def _codes_shown_once(request, *, title: str, issued: list, refused: list, back: str) -> TemplateResponse:
    """The activation codes just issued: on this page only, never again (only their hashes are kept)."""
    context = {
        **admin.site.each_context(request),
        "title": title,
        "issued": issued,
        "refused": refused,
        "back": back,
    }
    response = TemplateResponse(request, "admin/tenants/activation_codes_issued.html", context)
    add_never_cache_headers(response)
    return response


def _issue(request, users, *, for_password: bool = False) -> tuple[list, list]:
    issued, refused = [], []
    for user in sorted(users, key=lambda u: u.get_username()):
        try:
            issued.append(activation_code_issue(user=user, by=request.user, request=request, for_password=for_password))
        except AlreadySetUp as already:
            refused.append(str(already))
    return issued, refused


@admin.register(otp_totp_admin.TOTPDevice)
class TwoFactorAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """Users' authenticator apps. «Nullstill tofaktor» (a lost phone) deletes the user's app and
    backup codes and shows a new activation code once, for the user's next login."""

    list_display = ["user_shown", "app_name", "app_confirmed", "app_created", "app_last_used"]
    list_display_links = None  # nothing to open: the secret is never shown
    list_filter = [("confirmed", titled(admin.BooleanFieldListFilter, _("bekreftet")))]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    actions = ["reset_two_factor"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user__in=accounts_managed_by(request.user))

    @admin.display(description=_("bruker"), ordering="user__username")
    def user_shown(self, device):
        return device.user

    @admin.display(description=_("navn"), ordering="name")
    def app_name(self, device):
        return device.name

    @admin.display(description=_("bekreftet"), boolean=True, ordering="confirmed")
    def app_confirmed(self, device):
        return device.confirmed

    @admin.display(description=_("satt opp"), ordering="created_at")
    def app_created(self, device):
        return device.created_at

    @admin.display(description=_("sist brukt"), ordering="last_used_at")
    def app_last_used(self, device):
        return device.last_used_at

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a reset takes the backup codes too
        return actions

    @admin.action(
        description=_("Nullstill tofaktor for de valgte brukerne (app og reservekoder slettes, ny aktiveringskode)")
    )
    def reset_two_factor(self, request, queryset):
        users = {device.user for device in queryset.select_related("user")}
        if request.POST.get("post") != "yes":
            return self._confirm_reset(request, queryset, users)
        for user in users:
            two_factor_reset(user=user, by=request.user, request=request)
            self.log_change(request, user, "Tofaktor nullstilt (app og reservekoder slettet), ny aktiveringskode")
        issued, refused = _issue(request, users)
        names = ", ".join(sorted(u.get_username() for u in users))
        title = _("Tofaktor er nullstilt for: {names}.").format(names=names)
        back = reverse("admin:otp_totp_totpdevice_changelist")
        return _codes_shown_once(request, title=title, issued=issued, refused=refused, back=back)

    def _confirm_reset(self, request, queryset, users):
        # Nothing is deleted until the admin confirms, having read whose apps and backup codes go.
        return _users_action_confirmation(
            self, request, queryset, users=sorted(users, key=lambda u: u.get_username()), action="reset_two_factor",
            title=_("Nullstille tofaktor?"), crumb=_("Nullstill tofaktor"), list_id="reset-users",
            explanation=_("Autentiseringsappen og reservekodene til disse brukerne slettes. De kan ikke logge inn "
                          "før de har satt opp appen på nytt med en ny aktiveringskode, som vises på neste side."),
            submit=_("Ja, nullstill tofaktor"), back=reverse("admin:otp_totp_totpdevice_changelist"),
        )  # fmt: skip


class IssueForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        label=_("Bruker"),
        help_text=_("Brukere ved senteret som ikke har satt opp autentiseringsappen."),
    )

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users.order_by("username")


@admin.register(ActivationCode)
class ActivationCodeAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """The codes a user sets up their authenticator app with. «Lag aktiveringskode» (add) issues one
    for a user of the centre who has no app yet (a new user, or after «Nullstill tofaktor») and shows
    it once; never the code again, only when it was made, by whom, until when, and whether it was used."""

    list_display = ["user", "created_at", "issued_by", "expires_at", "password_set_at", "used_at"]
    list_display_links = None  # nothing to open: the code is never kept
    search_fields = ["user__username"]
    list_select_related = ["user"]
    actions = ["issue_again"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user__in=accounts_managed_by(request.user))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request):
        return _is_centre_admin(request)

    def _issuable(self, request):
        with_app = TOTPDevice.objects.filter(confirmed=True).values("user_id")
        return accounts_managed_by(request.user).exclude(pk__in=with_app)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueForm(request.POST or None, users=self._issuable(request))
        if request.method == "POST" and form.is_valid():
            user = form.cleaned_data["user"]
            issued, refused = _issue(request, [user])
            self.log_change(request, user, "Aktiveringskode laget")
            title = _("Aktiveringskode for {name}").format(name=user.get_username())
            back = reverse("admin:tenants_activationcode_changelist")
            return _codes_shown_once(request, title=title, issued=issued, refused=refused, back=back)
        context = {**self.admin_site.each_context(request), "title": _("Lag aktiveringskode"), "form": form,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/tenants/activation_code_issue.html", context)

    @admin.action(description=_("Lag ny aktiveringskode for de valgte brukerne"))
    def issue_again(self, request, queryset):
        users = {code.user for code in queryset.select_related("user")}
        issued, refused = _issue(request, users)
        for user in users:
            self.log_change(request, user, "Ny aktiveringskode laget")
        back = reverse("admin:tenants_activationcode_changelist")
        return _codes_shown_once(request, title=_("Nye aktiveringskoder"), issued=issued, refused=refused, back=back)


@admin.register(LoginLock)
class LoginLockAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """When a username (or an address) of the centre's users went over its limit of failed logins:
    from then until the window ends its logins need the second factor with the password. Nobody is
    shut out. «Opphev sperren» ends it early and forgets the failures."""

    list_display = ["locked_at", "username", "kind", "ip", "started_at", "ends_at", "failures", "state", "lifted_by"]
    list_display_links = None
    list_filter = ["kind", ("locked_at", admin.DateFieldListFilter)]
    search_fields = ["username", "=ip"]
    actions = ["lift"]

    def get_queryset(self, request):
        locks = super().get_queryset(request)
        if request.user.is_superuser:
            return locks
        return locks.filter(user__in=accounts_managed_by(request.user))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description=_("status"))
    def state(self, lock) -> str:
        if lock.lifted_at:
            return _("opphevet")
        if lock.ends_at <= timezone.now():
            return _("over")
        return _("aktiv: krever kode fra appen ved innlogging")

    @admin.action(description=_("Opphev sperren for de valgte"))
    def lift(self, request, queryset):
        locks = list(queryset)
        lifted = lockout.lift(
            by=request.user,
            request=request,
            usernames={lock.username for lock in locks},
            addresses={lock.ip for lock in locks if lock.kind == "address" and request.user.is_superuser},
        )
        for lock in locks:
            self.log_change(request, lock, "Sperren opphevet")
        self.message_user(request, _("{n} sperrer er opphevet.").format(n=lifted))


@admin.register(AccessAttempt)
class LockoutAdmin(CentreAdminReadOnly, AccessAttemptAdmin):
    """Failed logins recorded by django-axes, per username and address. «Opphev sperren» forgets the
    failures of the selected usernames and ends their locks (a superuser's selection clears the
    addresses too), as the same action on «Innloggingssperrer»."""

    actions = ["unlock"]

    def get_queryset(self, request):
        attempts = super().get_queryset(request)
        if request.user.is_superuser:
            return attempts
        return attempts.filter(username__in=accounts_managed_by(request.user).values("username"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Opphev sperren for de valgte brukerne"))
    def unlock(self, request, queryset):
        usernames = set(queryset.values_list("username", flat=True))
        addresses = set(queryset.values_list("ip_address", flat=True)) if request.user.is_superuser else set()
        self.log_deletions(request, self.get_queryset(request).filter(username__in=usernames))
        lockout.lift(by=request.user, request=request, usernames=usernames, addresses=addresses)
        names = ", ".join(sorted(name or "?" for name in usernames))
        self.message_user(request, _("Sperren er opphevet for: {names}.").format(names=names))


# --- API tokens (knox): the centre admin lists and revokes its centre's users' tokens ---------------
# Replaces knox's own admin, which would show every token to anyone with model permissions and let
# an admin mint a token for someone else. Here: no adding, no editing, only reading and deleting.

if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["key_start", "user_shown", "created_shown", "expiry_shown"]
    list_display_links = None  # nothing to open: a token has no editable field and its secret is never kept
    search_fields = ["user__username", "=token_key"]
    search_help_text = _("Søk på brukernavn eller nøkkelens start")
    list_filter = [("expiry", titled(admin.DateFieldListFilter, _("utløper")))]

    @admin.display(description=_("nøkkelens start"), ordering="token_key")
    def key_start(self, token):
        return token.token_key

    @admin.display(description=_("bruker"), ordering="user__username")
    def user_shown(self, token):
        return token.user

    @admin.display(description=_("laget"), ordering="created")
    def created_shown(self, token):
        return token.created

    @admin.display(description=_("utløper"), ordering="expiry")
    def expiry_shown(self, token):
        return token.expiry

    list_select_related = ["user"]
    ordering = ["-created"]
    actions = ["delete_selected"]

    def get_queryset(self, request):
        return admin_tokens(request.user).select_related("user")

    def has_module_permission(self, request):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_delete_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- reference data: innbyggertall and staffing (tenants/reference.py) --------------------------------
# Kept by the centre's admin: the innbyggertall of the kommuner the centre serves or has served (its
# host and its samarbeidsavtaler) and the centre's nurse staffing per period. Every write goes through
# the service, which refuses what is wrong and audits the change before → after; the admin's own log
# of changes records it too. Nothing is deleted: billing adjusts a locked month by what changed, and a
# figure or a period that vanished would leave nothing to compare with.

POPULATION_UPLOAD_MAX = 2 * 1024 * 1024  # SSB's table for every kommune and fifty years is far smaller


class PopulationForm(forms.Form):
    """A kommune's figure for a year: new, or a correction of the one there is (the same kommune and year)."""

    municipality = forms.ModelChoiceField(queryset=Municipality.objects.none(), label=_("Kommune"))
    year = forms.IntegerField(label=_("År"), help_text=_("Innbyggertallet gjelder 1. januar dette året."))
    inhabitants = forms.CharField(label=_("Innbyggertall 1. januar"), max_length=20,
                                  help_text=_("Fra SSB (tabell 07459), for eksempel 7 512."))  # fmt: skip

    def __init__(self, *args, municipalities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["municipality"].queryset = municipalities.order_by("name")

    def clean_inhabitants(self) -> int:
        try:
            return parse_whole(self.cleaned_data["inhabitants"])
        except WholeNumberError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        for field, message in population_refusal(data.get("year"), data.get("inhabitants")).items():
            name = "inhabitants" if field == "population" else field
            if name in data:
                self.add_error(name, message)
        return data


class PopulationImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV-fil"),
        help_text=_(
            "Kolonnene kommunenummer;år;innbyggertall med en overskriftslinje, skilt med semikolon eller komma "
            "(slik SSBs tabell 07459 lastes ned). Gyldige linjer lagres selv om andre linjer er feil."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > POPULATION_UPLOAD_MAX:
            raise forms.ValidationError(_("Filen er for stor: høyst 2 MB."))
        return read_upload(upload.read())


@admin.register(Population)
class PopulationAdmin(CentreAdminAccess, admin.ModelAdmin):
    """Innbyggertall per kommune and year. «Legg til» sets a figure (or corrects the year's figure
    there is), «Importer CSV» reads SSB's table; a figure is corrected on its own page, never deleted."""

    list_display = ["municipality", "year", "inhabitants_shown", "updated_at"]
    list_filter = [("municipality", admin.RelatedOnlyFieldListFilter), "year"]
    search_fields = ["municipality__name", "=municipality__number"]
    list_select_related = ["municipality"]
    fields = ["municipality", "year", "inhabitants", "updated_at"]
    readonly_fields = ["municipality", "year", "updated_at"]
    change_list_template = "admin/tenants/population/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(municipality__in=reference_municipalities(request.user))

    def has_add_permission(self, request):
        return _is_centre_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("innbyggertall 1. januar"), ordering="inhabitants")
    def inhabitants_shown(self, row) -> str:
        return grouped(row.inhabitants)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="tenants_population_import"),
            *super().get_urls(),
        ]

    def _context(self, request, title: str, **more) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **more}

    def add_view(self, request, form_url="", extra_context=None):
        """A plain form, not the model's: a figure for a kommune and year that has one corrects it."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        municipalities = reference_municipalities(request.user)
        initial = {"year": timezone.localdate().year}
        form = PopulationForm(request.POST or None, municipalities=municipalities, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                done = population_set(municipality=data["municipality"], year=data["year"],
                                      population=data["inhabitants"], user=request.user, request=request)  # fmt: skip
            except Refused as exc:
                form.add_error(None, str(exc))
            else:
                self._saved_message(request, done, data["municipality"])
                return redirect("admin:tenants_population_changelist")
        context = self._context(request, _("Legg inn eller rett innbyggertall"), form=form)
        return TemplateResponse(request, "admin/tenants/population_set.html", context)

    def _saved_message(self, request, done, municipality) -> None:
        what = _("{kommune} 1.1.{year}").format(kommune=municipality.name, year=done.row.year)
        if done.created:
            self.log_addition(request, done.row, "Innbyggertall lagt inn")
            message = _("Innbyggertallet for {what} er lagt inn: {n}.")
        elif done.changed:
            self.log_change(request, done.row, "Innbyggertall rettet")
            message = _("Innbyggertallet for {what} er rettet til {n}.")
        else:
            message = _("Innbyggertallet for {what} var allerede {n}; ingenting er endret.")
        self.message_user(request, message.format(what=what, n=grouped(done.row.inhabitants)))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)

        class CheckedForm(form):
            def clean(self):
                data = super().clean()
                refusal = population_refusal(obj.year if obj else None, data.get("inhabitants"))
                if "population" in refusal:
                    self.add_error("inhabitants", refusal["population"])
                return data

        return CheckedForm

    def save_model(self, request, obj, form, change):
        done = population_set(municipality=obj.municipality, year=obj.year, population=obj.inhabitants,
                              user=request.user, request=request)  # fmt: skip
        obj.pk, obj._state.adding = done.row.pk, False

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PopulationImportForm(request.POST or None, request.FILES or None)
        results = None
        if request.method == "POST" and form.is_valid():
            try:
                results = populations_import_csv(text=form.cleaned_data["file"], user=request.user, request=request)
            except Refused as exc:
                form.add_error("file", str(exc))
            else:
                counts = Counter(line.status for line in results)
                self.message_user(request, _(
                    "{created} lagt inn, {updated} rettet, {unchanged} uendret, {rejected} avvist."
                ).format(**{s: counts.get(s, 0) for s in PopulationLine.STATUS_LABELS}))  # fmt: skip
        context = self._context(request, _("Importer innbyggertall (CSV)"), form=form, results=results,
                                columns=CSV_COLUMNS)  # fmt: skip
        response = TemplateResponse(request, "admin/tenants/population_import.html", context)
        add_never_cache_headers(response)
        return response


class StaffingForm(forms.ModelForm):
    class Meta:
        model = Staffing
        fields = ["centre", "valid_from", "valid_to", "nurse_fte", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # «4,6» as a Norwegian writes it (Django reads a decimal comma only in a localized field).
        fte = self.fields["nurse_fte"]
        fte.localize = fte.widget.is_localized = True

    def clean(self):
        data = super().clean()
        centre, start, end = data.get("centre"), data.get("valid_from"), data.get("valid_to")
        if centre is None and self.instance.centre_id is not None:
            centre = self.instance.centre  # a period's centre is read-only once saved
        if start is not None and period_refusal(start, end):
            self.add_error("valid_to", period_refusal(start, end))
            return data
        if centre is None or start is None:
            return data  # a missing field is said by its own check
        other = staffing_overlap(centre, start, end, apart_from=self.instance)
        if other is not None:
            self.add_error("valid_from", overlap_message(other))
        return data


@admin.register(Staffing)
class StaffingAdmin(CentreAdminAccess, admin.ModelAdmin):
    """The centre's nurse staffing in årsverk per period. A new period begins after the last one
    ends: end the open period (its «gjelder til») the day before, then add the new one. Periods may
    not overlap; nothing is deleted (a wrong period is corrected on its page)."""

    form = StaffingForm
    list_display = ["centre", "valid_from", "valid_to_shown", "nurse_fte", "note", "updated_at"]
    list_filter = [("centre", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["centre"]
    readonly_fields = ["updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(centre__in=reference_centres(request.user))

    def get_readonly_fields(self, request, obj=None):
        # A period stays with its centre (tenants.reference.staffing_save refuses a move): an admin of
        # two centres changed it here, and the form handed the service the row already moved.
        return [*self.readonly_fields, "centre"] if obj is not None else self.readonly_fields

    def has_add_permission(self, request):
        return _is_centre_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "centre":
            kwargs["queryset"] = reference_centres(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("gjelder til"), ordering="valid_to")
    def valid_to_shown(self, row) -> str:
        return date_text(row.valid_to) if row.valid_to else _("inntil videre")

    def save_model(self, request, obj, form, change):
        saved = staffing_save(centre=obj.centre, valid_from=obj.valid_from, valid_to=obj.valid_to,
                              nurse_fte=obj.nurse_fte, note=obj.note, user=request.user, request=request,
                              staffing=obj)  # fmt: skip
        obj.pk, obj._state.adding = saved.row.pk, False


# --- HelseID: the refused logins (tenants/helseid_login.py, tenants/admin_helseid.py) ----------------


@admin.register(LoginRefusal)
class LoginRefusalAdmin(admin.ModelAdmin):
    """«Avviste HelseID-innlogginger»: who HelseID logged in and the platform refused, and why. An
    unknown person is bound on their user's page (HelseID-kobling) by the fødselsnummer they give, or
    the HPR number shown here."""

    list_display = ["at", "name", "reason", "hpr_number", "security_level", "user"]
    list_filter = ["reason"]
    search_fields = ["name", "hpr_number"]
    fields = ["at", "reason", "name", "hpr_number", "security_level", "user", "issuer"]
    readonly_fields = fields

    def get_queryset(self, request):
        return visible_refusals(request.user)

    def has_module_permission(self, request):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        unknown = self.get_queryset(request).filter(reason=LoginRefusalReason.UNKNOWN).count()
        if unknown:
            self.message_user(request, _(
                "{n} innlogginger med HelseID kom fra personer som ikke er koblet til en bruker. Skal de ha tilgang, "
                "kobler du dem på brukerens side (HelseID-kobling)."
            ).format(n=unknown), messages.WARNING)  # fmt: skip
        return super().changelist_view(request, extra_context)

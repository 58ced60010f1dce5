from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static import admin as otp_static_admin
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from tenants import lockout
from tenants.activation import AlreadySetUp, activation_code_issue
from tenants.forms import AdminLoginForm
from tenants.login import accounts_managed_by
from tenants.models import ActivationCode, Agreement, AuditEvent, Centre, LoginLock, Membership, Municipality, Role
from tenants.selectors import visible_audit_events
from tenants.tokens import admin_tokens
from tenants.two_factor import two_factor_reset

# The admin's login asks for the second factor beside the password while under attack, like /login/.
admin.site.login_form = AdminLoginForm


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "population"]
    search_fields = ["number", "name"]


@admin.register(Centre)
class CentreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "host"]
    prepopulated_fields = {"slug": ["name"]}


class OneRowAtATime:
    """The admin's bulk delete of memberships and agreements: row by row through the model, which
    writes through the owner's audited function (tenants.configuration)."""

    def delete_queryset(self, request, queryset):
        for row in queryset:
            row.delete()


@admin.register(Agreement)
class AgreementAdmin(OneRowAtATime, admin.ModelAdmin):
    list_display = ["centre", "municipality", "follow_up_by", "valid_from", "valid_to"]
    list_filter = ["centre", "follow_up_by"]


@admin.register(Membership)
class MembershipAdmin(OneRowAtATime, admin.ModelAdmin):
    list_display = ["user", "role", "centre", "municipality", "hpr_number"]
    list_filter = ["role", "centre", "municipality"]
    search_fields = ["user__username", "hpr_number"]
    autocomplete_fields = ["municipality"]


def _is_centre_admin(request) -> bool:
    user = request.user
    return (
        user.is_active
        and user.is_staff
        and (user.is_superuser or user.memberships.filter(role=Role.ADMIN, centre__isnull=False).exists())
    )


class CentreAdminAccess:
    """Centre admins (staff with an admin membership) manage their centre's configuration without
    Django model permissions being handed out one by one; querysets narrow it to their centre."""

    def has_module_permission(self, request):
        return _is_centre_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_centre_admin(request)

    def has_change_permission(self, request, obj=None):
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


@admin.register(AuditEvent)
class AuditEventAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """Read-only, and only the events of the municipalities the admin's centre serves."""

    list_display = ["at", "username", "role", "action", "object_type", "patient_id", "municipality", "ip"]
    list_filter = ["action", "role", "object_type", "municipality", ("at", admin.DateFieldListFilter)]
    search_fields = ["username", "=patient_id", "=request_id", "=upstream_request_id", "=object_id"]
    date_hierarchy = "at"
    list_select_related = ["municipality"]
    show_full_result_count = False  # the log grows without bound; counting it all is slow

    def get_queryset(self, request):
        return visible_audit_events(request.user)


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


def _issue(request, users) -> tuple[list, list]:
    issued, refused = [], []
    for user in sorted(users, key=lambda u: u.get_username()):
        try:
            issued.append(activation_code_issue(user=user, by=request.user, request=request))
        except AlreadySetUp as already:
            refused.append(str(already))
    return issued, refused


@admin.register(otp_totp_admin.TOTPDevice)
class TwoFactorAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """Users' authenticator apps. «Nullstill tofaktor» (a lost phone) deletes the user's app and
    backup codes and shows a new activation code once, for the user's next login."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_display_links = None  # nothing to open: the secret is never shown
    list_filter = ["confirmed"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    actions = ["reset_two_factor"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user__in=accounts_managed_by(request.user))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a reset takes the backup codes too
        return actions

    @admin.action(
        description=_("Nullstill tofaktor for de valgte brukerne (app og reservekoder slettes, ny aktiveringskode)")
    )
    def reset_two_factor(self, request, queryset):
        users = {device.user for device in queryset.select_related("user")}
        for user in users:
            two_factor_reset(user=user, by=request.user, request=request)
            self.log_change(request, user, "Tofaktor nullstilt (app og reservekoder slettet), ny aktiveringskode")
        issued, refused = _issue(request, users)
        names = ", ".join(sorted(u.get_username() for u in users))
        title = _("Tofaktor er nullstilt for: {names}.").format(names=names)
        back = reverse("admin:otp_totp_totpdevice_changelist")
        return _codes_shown_once(request, title=title, issued=issued, refused=refused, back=back)


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

    list_display = ["user", "created_at", "issued_by", "expires_at", "used_at"]
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
    list_display = ["token_key", "user", "created", "expiry"]
    list_display_links = None  # nothing to open: a token has no editable field and its secret is never kept
    search_fields = ["user__username", "=token_key"]
    list_filter = [("expiry", admin.DateFieldListFilter)]
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

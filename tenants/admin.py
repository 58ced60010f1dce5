from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static import admin as otp_static_admin
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from knox.models import AuthToken

from tenants.login import accounts_managed_by
from tenants.models import Agreement, AuditEvent, Centre, Membership, Municipality, Role
from tenants.selectors import visible_audit_events
from tenants.tokens import admin_tokens
from tenants.two_factor import two_factor_reset


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "population"]
    search_fields = ["number", "name"]


@admin.register(Centre)
class CentreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "host"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ["centre", "municipality", "follow_up_by", "valid_from", "valid_to"]
    list_filter = ["centre", "follow_up_by"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "centre", "municipality"]
    list_filter = ["role", "centre", "municipality"]
    search_fields = ["user__username"]
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


# --- login: lock-outs and the second factor (tenants/login.py, tenants/two_factor.py) ---------------
# django-otp's own admins would show a TOTP secret (QR code) and the backup codes' digests to anyone
# with model permissions, and axes' lists every address's failures: replaced by two lists that a
# centre admin reads for their centre's users (tenants.login.accounts_managed_by), each with the
# one thing to do there. Both actions are written to the admin's log of changes.

admin.site.unregister(otp_static_admin.StaticDevice)
admin.site.unregister(otp_totp_admin.TOTPDevice)
admin.site.unregister(AccessAttempt)


@admin.register(otp_totp_admin.TOTPDevice)
class TwoFactorAdmin(CentreAdminReadOnly, admin.ModelAdmin):
    """Users' authenticator apps. «Nullstill tofaktor» (a lost phone) deletes the user's app and
    backup codes; their next login sets up a new app."""

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

    @admin.action(description=_("Nullstill tofaktor for de valgte brukerne (app og reservekoder slettes)"))
    def reset_two_factor(self, request, queryset):
        users = {device.user for device in queryset.select_related("user")}
        for user in users:
            two_factor_reset(user=user)
            self.log_change(request, user, "Tofaktor nullstilt (app og reservekoder slettet)")
        names = ", ".join(sorted(u.get_username() for u in users))
        self.message_user(request, _("Tofaktor er nullstilt for: {names}.").format(names=names))


@admin.register(AccessAttempt)
class LockoutAdmin(CentreAdminReadOnly, AccessAttemptAdmin):
    """Failed logins counted by django-axes. «Opphev sperren» deletes the failures of the selected
    usernames (a superuser's selection also clears an address's)."""

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
        cleared = self.get_queryset(request).filter(username__in=usernames)
        if request.user.is_superuser:
            addresses = set(queryset.values_list("ip_address", flat=True))
            cleared = cleared | self.get_queryset(request).filter(ip_address__in=addresses)
        self.log_deletions(request, cleared)
        cleared.delete()
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

from django.contrib import admin

from tenants.models import Agreement, AuditEvent, Centre, Membership, Municipality, Role
from tenants.selectors import visible_audit_events


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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only, and only the events of the municipalities the admin's centre serves."""

    list_display = ["at", "username", "role", "action", "object_type", "patient_id", "municipality", "ip"]
    list_filter = ["action", "role", "object_type", "municipality", ("at", admin.DateFieldListFilter)]
    search_fields = ["username", "=patient_id", "=request_id", "=object_id"]
    date_hierarchy = "at"
    list_select_related = ["municipality"]
    show_full_result_count = False  # the log grows without bound; counting it all is slow

    def get_queryset(self, request):
        return visible_audit_events(request.user)

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

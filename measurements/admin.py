"""Centre admins: the gateways (deactivate, see which is which) and the quarantine, where rejected
items are read and, after correcting the patient mapping, sent through ingest again."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from measurements.models import Integration, QuarantinedItem, QuarantineStatus
from measurements.services import quarantine_resubmit
from patients.models import Patient
from tenants.admin import CentreAdminAccess
from tenants.selectors import admin_centres, centre_served_municipalities


def _centres(request):
    return admin_centres(request.user)


@admin.register(Integration)
class IntegrationAdmin(CentreAdminAccess, admin.ModelAdmin):
    list_display = ["name", "centre", "token_prefix", "active", "created_at"]
    # RelatedOnly: the filter offers only the centres in this admin's own list, never another's.
    list_filter = ["active", ("centre", admin.RelatedOnlyFieldListFilter)]
    fields = ["centre", "name", "token_prefix", "active"]
    readonly_fields = ["centre", "name", "token_prefix"]  # created with `manage.py create_integration`

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(centre__in=_centres(request))

    def has_add_permission(self, request):
        return False


class ResubmitForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=Patient.objects.none(), label="Riktig pasient")

    def __init__(self, *args, item: QuarantinedItem, **kwargs):
        super().__init__(*args, **kwargs)
        served = centre_served_municipalities(item.centre_id)
        self.fields["patient"].queryset = Patient.objects.filter(municipality_id__in=served).order_by("name")


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(CentreAdminAccess, admin.ModelAdmin):
    list_display = ["received_at", "integration", "kind", "index", "error_text", "status"]
    # RelatedOnly: another centre's gateway names must not show in this centre's sidebar.
    list_filter = ["status", "kind", ("integration", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = [
        "integration", "centre", "kind", "index", "payload", "errors", "received_at", "status", "resolved_at",
        "resolved_by", "result",
    ]  # fmt: skip
    actions = ["discard"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("integration")
        return qs if request.user.is_superuser else qs.filter(centre__in=_centres(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # nothing a device sent is deleted; it is resubmitted or marked discarded

    @admin.action(description="Marker som forkastet")
    def discard(self, request, queryset):
        n = queryset.filter(status=QuarantineStatus.OPEN).update(
            status=QuarantineStatus.DISCARDED, resolved_at=timezone.now(), resolved_by=request.user
        )
        self.message_user(request, f"{n} element(er) markert som forkastet.")

    def get_urls(self):
        return [
            path("<int:item_id>/resubmit/", self.admin_site.admin_view(self.resubmit_view), name="quarantine-resubmit"),
            *super().get_urls(),
        ]

    def resubmit_view(self, request, item_id):
        item = self.get_queryset(request).filter(pk=item_id).first()
        if item is None:
            return redirect("admin:measurements_quarantineditem_changelist")
        form = ResubmitForm(request.POST or None, item=item)
        if request.method == "POST" and form.is_valid():
            outcome = quarantine_resubmit(item=item, user=request.user, patient_id=form.cleaned_data["patient"].pk)
            if outcome.status == "rejected":
                errors = "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors)
                messages.error(request, f"Fortsatt avvist: {errors}")
            else:
                messages.success(request, f"Sendt inn på nytt: {outcome.status} (id {outcome.id}).")
                return redirect("admin:measurements_quarantineditem_changelist")
        context = {**self.admin_site.each_context(request), "item": item, "form": form, "title": "Send inn på nytt"}
        return TemplateResponse(request, "admin/measurements/resubmit.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"resubmit_url": reverse("admin:quarantine-resubmit", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

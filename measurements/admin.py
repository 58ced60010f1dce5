"""Centre admins: the gateways (deactivate, see which is which), the quarantine, where rejected
items are read and, after correcting the patient mapping, sent through ingest again, the notices of
a quarantine that was full for a day, and the stored readings (read-only), where those measured
after the patient's forløp ended are marked."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from measurements.models import Integration, QuarantinedItem, QuarantineNotice, QuarantineStatus, Reading
from measurements.selectors import NATIONAL_ID, payload_identifier, quarantine_patient, quarantine_patient_for
from measurements.services import integration_active_set, integration_create, integration_rotate, quarantine_resubmit
from patients.models import StatusChange, StatusEvent, validate_national_id
from tenants.admin import CentreAdminAccess, CentreAdminReadOnly, NorwegianLabels, titled
from tenants.models import AuditAction, Role
from tenants.norwegian import date_text
from tenants.selectors import admin_centres, centre_served_municipalities
from tenants.services import audit_record, audit_record_many


def _centres(request):
    return admin_centres(request.user)


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ["centre", "name"]
        labels = {"centre": "Oppfølgingssenter", "name": "Navn"}
        help_texts = {"name": "For eksempel leverandørens navn og hva gatewayen sender, «Leverandør A – målinger»."}

    def clean(self):
        data = super().clean()
        # A new gateway names its centre in the form; a renamed one keeps its own (read-only there).
        centre, name = data.get("centre"), data.get("name")
        if centre is None and self.instance.centre_id is not None:
            centre = self.instance.centre
        others = Integration.objects.filter(centre=centre, name=name).exclude(pk=self.instance.pk)
        if centre is not None and name and others.exists():
            self.add_error("name", f"Senteret har allerede en integrasjon som heter «{name}».")
        return data


def _token_shown_once(request, *, integration, token: str, title: str):
    """The gateway's token, on this page only: only its hash is kept (measurements.models.token_hash)."""
    context = {
        **admin.site.each_context(request),
        "title": title,
        "integration": integration,
        "token": token,
        "opts": Integration._meta,
        "back": reverse("admin:measurements_integration_change", args=[integration.pk]),
    }
    response = TemplateResponse(request, "admin/measurements/integration_token.html", context)
    add_never_cache_headers(response)
    return response


@admin.register(Integration)
class IntegrationAdmin(NorwegianLabels, CentreAdminAccess, admin.ModelAdmin):
    """The centre's device gateways. «Legg til» creates one and shows its token once; «Lag nytt token»
    (rotate) shows a new one once and the old stops working; «Deaktiver» refuses its token. The token
    is stored only as a hash. Every step is audited."""

    form = IntegrationForm  # its name check holds for a renamed gateway too
    labels = {"centre": "oppfølgingssenter", "created_at": "opprettet"}
    list_display = ["name", "centre", "token_prefix", "active", "created_at"]
    # RelatedOnly: the filter offers only the centres in this admin's own list, never another's.
    list_filter = ["active", ("centre", titled(admin.RelatedOnlyFieldListFilter, "oppfølgingssenter"))]
    fields = ["centre", "name", "token_prefix", "active"]
    readonly_fields = ["centre", "token_prefix"]
    actions = ["rotate", "deactivate"]

    @staticmethod
    def scoped(request, integrations):
        return integrations if request.user.is_superuser else integrations.filter(centre__in=_centres(request))

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request))

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # readings name their gateway: deactivate, never delete
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return IntegrationForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["centre", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "centre" and not request.user.is_superuser:
            kwargs["queryset"] = _centres(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            if "active" in form.changed_data:
                integration_active_set(integration=obj, active=obj.active, by=request.user, request=request)
            if "name" in form.changed_data:
                obj.save(update_fields=["name"])
                audit_record(action=AuditAction.UPDATE, object_type="integration", object_id=obj.pk,
                             request=request, role=Role.ADMIN)  # fmt: skip
            return
        created, token = integration_create(centre=obj.centre, name=obj.name)
        audit_record(action=AuditAction.CREATE, object_type="integration", object_id=created.pk, request=request,
                     role=Role.ADMIN)  # fmt: skip
        obj.pk, obj._state.adding, obj.token_prefix = created.pk, False, created.token_prefix
        request._dho_new_token = token

    def response_add(self, request, obj, post_url_continue=None):
        token = getattr(request, "_dho_new_token", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        title = f"Integrasjonen «{obj.name}» er opprettet"
        return _token_shown_once(request, integration=obj, token=token, title=title)

    @admin.action(description="Lag nytt token (det gamle slutter å virke, det nye vises én gang)")
    def rotate(self, request, queryset):
        integrations = list(queryset[:2])
        if len(integrations) != 1:
            self.message_user(request, "Velg én integrasjon om gangen: hvert nye token vises bare én gang.",
                              level=messages.WARNING)  # fmt: skip
            return None
        integration = integrations[0]
        token = integration_rotate(integration=integration, by=request.user, request=request)
        self.log_change(request, integration, "Nytt token laget")
        return _token_shown_once(request, integration=integration, token=token,
                                 title=f"Nytt token for «{integration.name}»")  # fmt: skip

    @admin.action(description="Deaktiver de valgte integrasjonene (tokenet avvises)")
    def deactivate(self, request, queryset):
        names = []
        for integration in queryset.filter(active=True):
            integration_active_set(integration=integration, active=False, by=request.user, request=request)
            self.log_change(request, integration, "Deaktivert")
            names.append(integration.name)
        self.message_user(request, f"Deaktivert: {', '.join(names) or '–'}.")


class ResubmitForm(forms.Form):
    """No list of patients to pick from: the patient is the one the payload itself names, or the one
    with the fødselsnummer the admin corrects it to, within the centre's municipalities."""

    national_id = forms.CharField(
        label="Riktig fødselsnummer",
        required=False,
        max_length=11,
        validators=[validate_national_id],
        help_text="11 sifre. La feltet stå tomt for å bruke pasienten innholdet selv peker på.",
    )


class GatewayFilter(admin.SimpleListFilter):
    """The admin's own centres' gateways, whether or not they have anything in the quarantine; another
    centre's gateway is never named. (The parameter is the one Django's related filter used.)"""

    title = "integrasjon"
    parameter_name = "integration__id__exact"

    def lookups(self, request, model_admin):
        integrations = IntegrationAdmin.scoped(request, Integration.objects.all())
        return [(str(i.pk), i.name) for i in integrations.order_by("name")]

    def queryset(self, request, queryset):
        value = self.value() or ""
        return queryset.filter(integration_id=int(value)) if value.isdigit() else queryset


# Ingest's outcome of an item (measurements.services.ItemResult.status), as the admin reads it.
OUTCOME_TEXT = {
    "created": "lagret",
    "duplicate": "allerede mottatt",
    "rejected": "avvist",
    "refused": "ikke tatt imot (karantenen var full)",
}


def _outcome_text(status: str, pk: int | str | None) -> str:
    text = OUTCOME_TEXT.get(status, status)
    return f"{text} (id {pk})" if pk not in (None, "") else text


def _not_found(item: QuarantinedItem, national_id: str) -> str:
    if national_id:
        return f"Fant ingen pasient med fødselsnummer {national_id} i kommunene {item.centre} betjener."
    return (
        "Innholdet peker ikke på noen pasient i kommunene senteret betjener. "
        "Skriv inn pasientens fødselsnummer i feltet «Riktig fødselsnummer»."
    )


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(NorwegianLabels, CentreAdminAccess, admin.ModelAdmin):
    """The payloads carry patient data (a FHIR subject's full fødselsnummer): every item page shown,
    every resubmission and every discarding is audited as the admin (measurements.selectors)."""

    labels = {
        "integration": "integrasjon", "centre": "oppfølgingssenter", "kind": "type", "index": "nummer i sendingen",
        "payload": "innhold", "full_url": "fullUrl i Bundle", "errors": "feil", "received_at": "mottatt",
        "status": "status",
        "resolved_at": "behandlet", "resolved_by": "behandlet av", "result": "resultat",
    }  # fmt: skip
    list_display = ["received_at", "integration", "kind", "index", "error_text", "status"]
    list_filter = ["status", ("kind", titled(admin.AllValuesFieldListFilter, "type")), GatewayFilter]
    readonly_fields = [
        "integration", "centre", "kind", "index", "payload", "full_url", "errors", "received_at", "status",
        "resolved_at", "resolved_by", "result_text",
    ]  # fmt: skip
    exclude = ["result"]  # shown as result_text, in Norwegian
    actions = ["discard"]

    @admin.display(description="resultat")
    def result_text(self, obj):
        """What the resubmission became, «lagret (id 123)»: stored as ingest's own word ("created: 123")."""
        status, _, pk = obj.result.partition(": ")
        return _outcome_text(status, pk) if obj.result else ""

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("integration", "centre")
        return qs if request.user.is_superuser else qs.filter(centre__in=_centres(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # nothing a device sent is deleted; it is resubmitted or marked discarded

    @admin.action(description="Marker som forkastet")
    def discard(self, request, queryset):
        n = 0
        with transaction.atomic():
            for item in queryset.filter(status=QuarantineStatus.OPEN):
                # Claimed one by one: an item another admin resolved meanwhile is left as it is.
                claimed = QuarantinedItem.objects.filter(pk=item.pk, status=QuarantineStatus.OPEN).update(
                    status=QuarantineStatus.DISCARDED, resolved_at=timezone.now(), resolved_by=request.user
                )
                if claimed:
                    audit_record(action=AuditAction.UPDATE, object_type="quarantined_item", object_id=item.pk,
                                 patient=quarantine_patient(item), request=request, role=Role.ADMIN)  # fmt: skip
                    n += claimed
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
        form = ResubmitForm(request.POST or None, initial={"national_id": _payload_national_id(item)})
        if request.method == "POST" and form.is_valid():
            national_id = form.cleaned_data["national_id"]
            patient = quarantine_patient(item, national_id)
            if patient is None:
                form.add_error("national_id" if national_id else None, _not_found(item, national_id))
            else:
                outcome = quarantine_resubmit(item=item, user=request.user, patient_id=patient.pk, request=request)
                if outcome.status != "rejected":
                    messages.success(request, f"Sendt inn på nytt: {_outcome_text(outcome.status, outcome.id)}.")
                    return redirect("admin:measurements_quarantineditem_changelist")
                errors = "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors)
                form.add_error(None, f"Fortsatt avvist: {errors}")
        # The page shows the payload: a read of the patient it names, audited as the admin.
        context = {**self.admin_site.each_context(request), "item": item, "form": form, "title": "Send inn på nytt",
                   "patient": quarantine_patient_for(item=item, request=request), "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/measurements/resubmit.html", context)

    def changelist_view(self, request, extra_context=None):
        # The day's full quarantines stand above the list, where the admin looks for what came in.
        for notice in QuarantineNoticeAdmin.scoped(request).filter(day=timezone.localdate()):
            self.message_user(request, _full_text(notice), level=messages.WARNING)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"resubmit_url": reverse("admin:quarantine-resubmit", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # another centre's item never gets here: get_queryset leaves it out
            quarantine_patient_for(item=obj, request=request)
        return super().render_change_form(request, context, add, change, form_url, obj)


def _full_text(notice: QuarantineNotice) -> str:
    return (
        f"Karantenen for «{notice.integration.name}» er full {date_text(notice.day)}: {notice.refused} avviste "
        f"elementer er ikke tatt imot. Gatewayen har fått beskjed om å beholde dem og sende dem på nytt. "
        f"Behandle eller forkast elementene i karantenen, og be leverandøren rette feilen."
    )


@admin.register(QuarantineNotice)
class QuarantineNoticeAdmin(NorwegianLabels, CentreAdminReadOnly, admin.ModelAdmin):
    """Days a gateway's quarantine was full (one row per gateway and day, written by ingest and
    audited there). No patient data: the refused items stayed with the gateway."""

    labels = {"integration": "integrasjon", "centre": "oppfølgingssenter"}
    list_display = ["day", "integration", "refused", "first_refused_at", "last_refused_at"]
    list_filter = [GatewayFilter]

    @staticmethod
    def scoped(request):
        notices = QuarantineNotice.objects.select_related("integration")
        return notices if request.user.is_superuser else notices.filter(centre__in=_centres(request))

    def get_queryset(self, request):
        return self.scoped(request)


def _payload_national_id(item: QuarantinedItem) -> str:
    identifier = payload_identifier(item)
    return identifier.value if identifier.kind == NATIONAL_ID else ""


# --- readings: read-only, marked when measured after the end of the forløp ---------------------------

# «After the end» is read from the forløp's status history, not from the reason text scoring wrote
# («(…; etter avsluttet forløp)»): scoring looks at the patient's status when it runs, so a reading
# scored before a back-dated end, or a reason reworded later, would be missed. A reading is after the
# end when the patient's last start or end (or new vedtak) on or before its measured day, in Norway,
# is an end: measured on the end date counts (the end is effective from that day), and a forløp
# started again (or granted again, waiting for its oppstart) is not after the end any more. This is
# the day by day rule billing reads; measurements sits above patients and may read its rows.
FORLOP_EDGES = (StatusEvent.GRANTED, StatusEvent.STARTED, StatusEvent.ENDED)


def _with_last_edge(readings):
    """Each reading with `last_forlop_edge`: its patient's last start, end or vedtak on or before
    the day it was measured (TruncDate in the current time zone: Europe/Oslo), or None."""
    last = StatusChange.objects.filter(
        patient_id=OuterRef("patient_id"), event__in=FORLOP_EDGES, effective_date__lte=OuterRef("measured_day")
    ).order_by("-effective_date", "-at", "-id")
    return readings.annotate(measured_day=TruncDate("measured_at")).annotate(
        last_forlop_edge=Subquery(last.values("event")[:1])
    )


AFTER_END = Q(last_forlop_edge=StatusEvent.ENDED)


class AfterEndFilter(admin.SimpleListFilter):
    title = "Etter avsluttet forløp"
    parameter_name = "after_end"

    def lookups(self, request, model_admin):
        return [("yes", "Ja"), ("no", "Nei")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(AFTER_END)
        if self.value() == "no":
            # NULL (no start or end yet on that day) is «nei» too; spelled out, NOT (NULL = …) is NULL
            return queryset.filter(Q(last_forlop_edge__isnull=True) | ~AFTER_END)
        return queryset


def _served_municipalities(request) -> set[int]:
    served: set[int] = set()
    for centre_id in _centres(request).values_list("pk", flat=True):
        served |= centre_served_municipalities(centre_id)
    return served


@admin.register(Reading)
class ReadingAdmin(NorwegianLabels, CentreAdminAccess, admin.ModelAdmin):
    """The readings of the municipalities the admin's centre serves (as the quarantine's gateways
    post them), read-only. The patient is shown by id, not name: the admin follows up a device that
    still sends after the end with the patient's nurse. Every list and page shown is audited, in the
    role of centre admin (the admin reaches readings through the centre, not a patient role)."""

    labels = {"integration": "integrasjon", "external_id": "gatewayens id", "original": "opprinnelig verdi",
              "scored_at": "vurdert"}  # fmt: skip
    list_display = ["measured_at", "received_at", "municipality", "patient_ref", "shown", "colour", "reason",
                    "after_end"]  # fmt: skip
    # RelatedOnly: the filter offers only the municipalities in this admin's own list.
    list_filter = [AfterEndFilter, "colour", ("municipality", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["patient", "municipality"]
    search_fields = ["=patient__id"]
    search_help_text = "Søk på pasientens id"
    show_full_result_count = False  # readings grow without bound; counting them all is slow
    fields = ["patient_ref", "municipality", "integration", "external_id", "shown", "original", "measured_at",
              "received_at", "scored_at", "colour", "reason", "after_end"]  # fmt: skip
    readonly_fields = ["patient_ref", "shown", "after_end"]

    def get_queryset(self, request):
        qs = _with_last_edge(super().get_queryset(request))
        return qs if request.user.is_superuser else qs.filter(municipality_id__in=_served_municipalities(request))

    @admin.display(description="Pasient-id")
    def patient_ref(self, reading):
        return str(reading.patient_id)

    @admin.display(description="Måling")
    def shown(self, reading):
        return str(reading)

    @admin.display(description="Etter avsluttet forløp", boolean=True)
    def after_end(self, reading):
        return getattr(reading, "last_forlop_edge", None) == StatusEvent.ENDED

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # what a device sent is kept as it came: read-only

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # The page's rows (the queryset the template renders from, evaluated once here).
            patients = {r.patient_id: r.patient for r in changelist.result_list}
            audit_record_many(action=AuditAction.VIEW, object_type="reading_list", patients=patients.values(),
                              request=request, role=Role.ADMIN)  # fmt: skip
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # another centre's reading never gets here: get_queryset leaves it out
            audit_record(action=AuditAction.VIEW, object_type="reading", object_id=obj.pk, patient=obj.patient,
                         request=request, role=Role.ADMIN)  # fmt: skip
        return super().render_change_form(request, context, add, change, form_url, obj)

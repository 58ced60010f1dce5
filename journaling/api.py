"""The journal outbox in the API: a patient's deliveries to the kommune's EPJ, one delivery with the
document exactly as it was sent, and the centre admin's «Send på nytt». Scoped like the pages: the
patient through the scope selector (PatientScopedAPIView), a delivery through its patient or, for
the centre admin, its kommune (journaling.selectors.get_delivery_for: 404 for anyone else); every
read and the resend audited."""

from __future__ import annotations

import hashlib
import json

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.api.base import PatientScopedAPIView
from tenants.models import AuditAction, Role
from tenants.services import audit_record

from . import selectors, services
from .models import Delivery, DeliveryState
from .services import OBJECT_TYPE


class DeliveryOutSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    error = serializers.CharField(source="last_error", help_text="Hvorfor sendingen feilet (tom ellers)")
    source = serializers.SerializerMethodField(help_text="journal_note (et håndtert varsel) eller contact")

    class Meta:
        model = Delivery
        fields = ["id", "state", "bundle_id", "source", "created_at", "sent_at", "journaled_at", "tries",
                  "next_try_at", "error"]  # fmt: skip

    def get_source(self, delivery) -> str:
        return "journal_note" if delivery.journal_note_id else "contact"


class DeliveryDetailSerializer(DeliveryOutSerializer):
    outcome = serializers.JSONField(
        allow_null=True, help_text="Mottakerens OperationOutcome (eller våre egne valideringsfunn) ved avvisning"
    )
    document = serializers.JSONField(
        allow_null=True,
        help_text="FHIR-dokumentet (Bundle) slik det ble sendt; null før første sending, og for den som ser "
        "sendingen bare som senteradministrator (uten pasienten i sin tilgang)",
    )
    document_sha256 = serializers.CharField(
        allow_null=True, help_text="SHA-256 av bytene som ble sendt (nøkkelsortert JSON uten mellomrom, UTF-8)"
    )

    class Meta(DeliveryOutSerializer.Meta):
        fields = [*DeliveryOutSerializer.Meta.fields, "outcome", "document", "document_sha256"]


def _detail(delivery: Delivery, *, with_document: bool) -> dict:
    data = DeliveryOutSerializer(delivery).data
    kept = bytes(delivery.sent_document) if delivery.sent_document is not None and with_document else None
    return {
        **data,
        "outcome": delivery.outcome,
        "document": json.loads(kept) if kept is not None else None,
        "document_sha256": hashlib.sha256(kept).hexdigest() if kept is not None else None,
    }


class PatientDeliveriesAPI(PatientScopedAPIView, generics.ListAPIView):
    """The patient's deliveries to the kommune's EPJ, newest first (none when the kommune sends nothing)."""

    serializer_class = DeliveryOutSerializer

    def get_queryset(self):
        return selectors.patient_deliveries(self.patient)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        audit_record(action=AuditAction.VIEW, object_type="journal_deliveries", object_id=self.patient.pk,
                     patient=self.patient, request=self.request)  # fmt: skip
        return page


class DeliveryAPI(APIView):
    """One delivery, with the Bundle exactly as it was sent (for who sees the patient)."""

    @extend_schema(responses={200: DeliveryDetailSerializer})
    def get(self, request, delivery_id):
        found = selectors.get_delivery_for(request.user, delivery_id)
        audit_record(action=AuditAction.VIEW, object_type=OBJECT_TYPE, object_id=found.delivery.pk,
                     patient=found.delivery.patient, request=request,
                     role="" if found.sees_patient else Role.ADMIN)  # fmt: skip
        return Response(_detail(found.delivery, with_document=found.sees_patient))


class DeliveryResendAPI(APIView):
    """«Send på nytt»: a failed or stopped delivery back to pending and queued (the centre admin of
    its kommune; 403 for who only sees the patient; 400 for a delivery that is neither)."""

    @extend_schema(request=None, responses={200: DeliveryOutSerializer})
    def post(self, request, delivery_id):
        found = selectors.get_delivery_for(request.user, delivery_id)
        row = services.delivery_resend(delivery=found.delivery, user=request.user, request=request)
        return Response(DeliveryOutSerializer(row).data)

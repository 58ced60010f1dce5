"""Reads of the outbox: for the centre admin's pages (what needs a person — pending, failed and
stopped deliveries, those not journaled in time — and each kommune's route and its health), for the
patient page (each note's delivery) and for the API (a patient's deliveries, one delivery). The
caller passes the municipalities the admin may manage (`manageable_municipalities`) or a patient
from the scope selector, and audits what it shows (`tenants.services.audit_record_list` for a list:
deliveries are patient data).

Two ways to a delivery: through its patient (who sees the patient sees their deliveries and the
document sent), and through its kommune (the centre admin, who keeps the route and resends, sees the
delivery's state and error but, without the patient in their own scope, not the patient's name nor
the document). `get_delivery_for` answers which, or 404 when neither."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from measurements.extensions import named
from measurements.partitions import months_of_alerts
from patients.models import Patient
from patients.selectors import visible_patients
from tenants.models import Municipality
from tenants.selectors import admin_centres, centre_served_municipalities

from .models import Delivery, DeliveryState, Route


def manageable_municipalities(user) -> set[int]:
    """The kommuner whose journal routes and deliveries this user looks after: a centre admin's every
    municipality the centre serves (its host and partners); a superuser's all."""
    if user.is_superuser:
        return set(Municipality.objects.values_list("pk", flat=True))
    ids: set[int] = set()
    for centre_id in admin_centres(user).values_list("pk", flat=True):
        ids |= centre_served_municipalities(centre_id)
    return ids


def may_manage_journaling(user, municipality_id: int) -> bool:
    return bool(user and user.is_authenticated) and municipality_id in manageable_municipalities(user)


def route_of(municipality_id: int) -> Route | None:
    return Route.objects.filter(municipality_id=municipality_id).first()


def routes_with_problems(municipality_ids: Iterable[int]) -> QuerySet[Route]:
    """Routes whose last send met a configuration error (wrong key, refused token, 401/403)."""
    return (
        Route.objects.filter(municipality_id__in=list(municipality_ids))
        .exclude(problem="")
        .select_related("municipality")
        .order_by("-problem_at")
    )


def deliveries_needing_attention(municipality_ids: Iterable[int]) -> QuerySet[Delivery]:
    """Stopped deliveries (`dead`), and those flagged as not journaled in time, newest first."""
    return (
        Delivery.objects.filter(municipality_id__in=list(municipality_ids))
        .filter(Q(state=DeliveryState.DEAD) | (Q(overdue_at__isnull=False) & ~Q(state=DeliveryState.JOURNALED)))
        .select_related("patient", "municipality")
        .defer("sent_document")
        .order_by("-created_at")
    )


# --- what the pages and the API read --------------------------------------------------------------

# A delivery's row on a page or in the API: never the kept document, nor the note's own text.
_LEAN = ("sent_document", "journal_note__document", "journal_note__text", "contact__note")


def _lean(queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
    return queryset.select_related("journal_note", "contact").defer(*_LEAN)


def deliveries_of_sources(note_ids: Iterable[int], contact_ids: Iterable[int]) -> list[Delivery]:
    """The deliveries of these journal notes and contacts, in one query (the patient page's notes;
    the caller has the patient from the scope selector)."""
    notes, contacts = list(note_ids), list(contact_ids)
    if not notes and not contacts:
        return []
    return list(
        Delivery.objects.filter(Q(journal_note_id__in=notes) | Q(contact_id__in=contacts)).defer("sent_document")
    )


def patient_deliveries(patient: Patient) -> QuerySet[Delivery]:
    """A patient's deliveries, newest first (the patient from the scope selector)."""
    return _lean(Delivery.objects.filter(patient=patient)).order_by("-created_at", "-pk")


@dataclass(frozen=True)
class DeliveryAccess:
    """A delivery and the user's way to it: `sees_patient` (the patient is in their scope: the
    patient's name and the document), `manages` (the centre admin of its kommune: resend)."""

    delivery: Delivery
    sees_patient: bool
    manages: bool


def get_delivery_for(user, delivery_id) -> DeliveryAccess:
    """A delivery the user sees by its patient or manages by its kommune; Http404 for a missing one
    and for anyone else's alike."""
    try:
        key = int(str(delivery_id))
    except ValueError:
        raise Http404 from None
    delivery = (
        Delivery.objects.select_related("patient", "municipality", "journal_note", "contact").filter(pk=key).first()
    )
    if delivery is None:
        raise Http404
    sees = visible_patients(user).filter(pk=delivery.patient_id).exists()
    manages = may_manage_journaling(user, delivery.municipality_id)
    if not sees and not manages:
        raise Http404
    return DeliveryAccess(delivery, sees, manages)


def get_managed_municipality(user, number: str) -> Municipality:
    """A kommune whose route and deliveries this user looks after, by kommunenummer; Http404 for any
    other (another centre's kommune is answered as one that does not exist)."""
    municipality = Municipality.objects.filter(number=number, pk__in=manageable_municipalities(user)).first()
    if municipality is None:
        raise Http404
    return municipality


def managed_municipalities(user) -> list[Municipality]:
    return list(Municipality.objects.filter(pk__in=manageable_municipalities(user)).order_by("name"))


def deliveries_in_state(municipality_id: int, state: str) -> QuerySet[Delivery]:
    """A kommune's deliveries in one state (the admin page's lists), the oldest first: what has waited
    longest is at the top."""
    return _lean(Delivery.objects.filter(municipality_id=municipality_id, state=state)).order_by("created_at", "pk")


def state_counts(municipality_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{municipality id: {state: count}} for the overview, in one query; no patient in it."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Delivery.objects.filter(municipality_id__in=list(municipality_ids))
        .values("municipality_id", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["municipality_id"], {})[row["state"]] = row["n"]
    return counts


def routes_of(municipality_ids: Iterable[int]) -> dict[int, Route]:
    return {r.municipality_id: r for r in Route.objects.filter(municipality_id__in=list(municipality_ids))}


@dataclass(frozen=True)
class RouteHealth:
    """How a kommune's route is doing: the last document the receiver accepted and the last one it
    journaled, the newest error a delivery met (with its time), and the route's own problem (a
    configuration error: key, client, address, organisation number)."""

    route: Route | None
    last_success: datetime.datetime | None
    last_journaled: datetime.datetime | None
    last_error: str
    last_error_at: datetime.datetime | None

    @property
    def sends(self) -> bool:
        return self.route is not None and self.route.sends


def route_health(municipality_id: int) -> RouteHealth:
    rows = Delivery.objects.filter(municipality_id=municipality_id)
    times = rows.aggregate(sent=Max("sent_at"), journaled=Max("journaled_at"))
    error = rows.exclude(last_error="").order_by("-updated_at").values("last_error", "updated_at").first()
    return RouteHealth(
        route=route_of(municipality_id),
        last_success=times["sent"],
        last_journaled=times["journaled"],
        last_error=error["last_error"] if error else "",
        last_error_at=error["updated_at"] if error else None,
    )


def patient_names_seen(user, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of those of these patients the user may see (the scope selector): the centre admin
    sees no patient, so their lists show the delivery without the name."""
    ids = set(patient_ids)
    if not ids:
        return {}
    return dict(visible_patients(user).filter(pk__in=ids).values_list("pk", "name"))


# Not yet received: the document may still be built (again) from the alert's rows (services.delivery_resend).
UNDELIVERED = (DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.DEAD)


def months_undelivered_documents_need(before: datetime.datetime) -> dict[datetime.date, list[str]]:
    """The archive hold of the outbox (measurements/extensions.py): the months before `before` with a
    reading or answer of a handled alert whose journal document is not delivered yet."""
    deliveries: dict = {}
    for pk, alert_id in Delivery.objects.filter(state__in=UNDELIVERED, journal_note__isnull=False).values_list(
        "pk", "journal_note__alert_id"
    ):
        deliveries.setdefault(alert_id, set()).add(pk)
    held = months_of_alerts(deliveries, before)
    return {
        month: [named(set().union(*(deliveries[a] for a in alerts)), "journalsending som ikke er levert",
                      "journalsendinger som ikke er levert")]
        for month, alerts in held.items()
    }  # fmt: skip

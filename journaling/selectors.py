"""Reads of the outbox for the centre admin's pages: what needs a person (stopped deliveries, those
not journaled in time) and which routes have a configuration problem. The caller passes the
municipalities the admin may manage (`manageable_municipalities`) and audits the list it shows
(`tenants.services.audit_record_list`: deliveries are patient data)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

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

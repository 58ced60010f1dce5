"""Which fastlege a patient may have: one rule for the henvisning (form, API, `referral_register`) and
for setting or changing the fastlege later on the patient page and over the API.

Offered first: the fastleger of the kommune (a fastlege membership there) and those who already follow
its residents (`Patient.gp` of a patient there). Any other fastlege the platform knows (a user with a
fastlege membership anywhere, active) can be chosen too, but only as an explicit choice: found by
name or HPR number, and audited as such (`gp_outside_offered`). A fastlege outside the offered list
without that choice is refused with `GP_NOT_OFFERED`, whoever or whatever was named, so the answer
never tells whether a username exists or is a fastlege.

The fastlege's object permission (`follow_as_gp`) follows `Patient.gp` on every save
(patients.signals → access.gp_permission_sync): changing the fastlege moves it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from patients.access import can_set_fastlege, require
from patients.models import Patient
from patients.selectors import fastleger_with_places, known_fastleger, offered_fastleger
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction, Role
from tenants.people import display_name
from tenants.services import audit_record

User = get_user_model()

GP_NOT_OFFERED = (
    "Fastlegen er ikke blant fastlegene som tilbys for kommunen. Velg en fra listen, eller finn en annen "
    "fastlege med navn eller HPR-nummer som et bevisst valg."
)
GP_NOT_FOUND = "Fant ingen fastlege på plattformen med det navnet eller HPR-nummeret."
GP_SEARCH_SHORT = "Skriv minst tre bokstaver av navnet, eller hele HPR-nummeret."
SEARCH_LIMIT = 10


class FastlegeRefused(Refused):
    """The fastlege cannot be chosen as asked (message in Norwegian, safe to show; a 400)."""


class FastlegeRoleRequired(NotAllowed):
    """Only the patient's nurses and koordinator set the fastlege (a 403)."""


def fastlege_search(municipality_ids, query: str) -> list:
    """Fastleger known to the platform but not offered for these municipalities, found by HPR number
    (all of it) or by name (three letters or more), at most SEARCH_LIMIT. Raises FastlegeRefused for
    too short a query."""
    query = " ".join((query or "").split())
    digits = query.replace(" ", "")
    if digits.isdigit():
        matches = Q(memberships__hpr_number=digits)
    elif len(query) >= 3:
        matches = Q()
        for word in query.split(" "):
            matches &= Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(username__icontains=word)
    else:
        raise FastlegeRefused(GP_SEARCH_SHORT)
    offered = offered_fastleger(municipality_ids).values("pk")
    found = known_fastleger().filter(matches).exclude(pk__in=offered).values("pk")
    return list(
        fastleger_with_places(User.objects.filter(pk__in=found).filter(memberships__role=Role.GP))[:SEARCH_LIMIT]
    )


def fastlege_find(municipality_ids, query: str):
    """The one fastlege a name or HPR number names (offered or not); FastlegeRefused when none or
    several match (then the message lists them, by name and HPR number, to choose by number)."""
    query = (query or "").strip()
    digits = query.replace(" ", "")
    if digits.isdigit():
        found = list(fastleger_with_places(known_fastleger().filter(memberships__hpr_number=digits).distinct())[:2])
    else:
        found = [*[g for g in offered_fastleger(municipality_ids) if _name_matches(g, query)],
                 *fastlege_search(municipality_ids, query)]  # fmt: skip
    if not found:
        raise FastlegeRefused(GP_NOT_FOUND)
    if len(found) > 1:
        names = "; ".join(f"{fastlege_label(g)}, HPR {', '.join(n for n in g.gp_hpr_numbers if n) or '–'}"
                          for g in found)  # fmt: skip
        raise FastlegeRefused(f"Flere fastleger passer: {names}. Skriv HPR-nummeret til den du mener.")
    return found[0]


def _name_matches(gp, query: str) -> bool:
    haystack = f"{gp.first_name} {gp.last_name} {gp.username}".lower()
    return len(query) >= 3 and all(word in haystack for word in query.lower().split())


def fastlege_label(gp) -> str:
    return display_name(gp)


def fastlege_check(*, municipality_ids, gp, outside_offered: bool = False) -> bool:
    """Whether `gp` may be chosen for a patient of these municipalities; True when it is the explicit
    choice of a fastlege outside the offered list. Raises FastlegeRefused (GP_NOT_OFFERED) otherwise."""
    if offered_fastleger(municipality_ids).filter(pk=gp.pk).exists():
        return False
    if outside_offered and known_fastleger().filter(pk=gp.pk).exists():
        return True
    raise FastlegeRefused(GP_NOT_OFFERED)


def audit_outside_offered(*, patient, gp, user, request=None) -> None:
    """The explicit choice of a fastlege outside the offered list, as its own audit event."""
    audit_record(action=AuditAction.UPDATE, object_type="gp_outside_offered", object_id=gp.pk, patient=patient,
                 request=request, user=user)  # fmt: skip


@transaction.atomic
def patient_gp_set(*, patient: Patient, user, gp, outside_offered: bool = False, request=None) -> Patient:
    """Set or change the patient's fastlege (None: none registered). The object permission moves with
    it (the module docstring); the change is audited, and an explicit choice outside the offered
    list once more as such."""
    require(
        can_set_fastlege,
        user,
        patient,
        FastlegeRoleRequired("Bare sykepleiere og koordinatorer for pasienten kan endre fastlegen."),
    )
    outside = gp is not None and fastlege_check(
        municipality_ids=[patient.municipality_id], gp=gp, outside_offered=outside_offered
    )
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.gp_id == (gp.pk if gp else None):
        return patient
    patient.gp = gp
    patient.save(update_fields=["gp"])  # patients.signals: the permission follows
    audit_record(action=AuditAction.UPDATE, object_type="patient_gp", object_id=patient.pk, patient=patient,
                 request=request, user=user)  # fmt: skip
    if outside:
        audit_outside_offered(patient=patient, gp=gp, user=user, request=request)
    return patient


def fastlege_named(municipality_ids, given: str, *, outside_offered: bool = False):
    """(fastlege, outside) for the API's `gp`: a username or an HPR number. Offered ones always; any
    other known fastlege only with `outside_offered`. Without it everything else is GP_NOT_OFFERED,
    with it GP_NOT_FOUND, whether the name is no one's or someone who is no fastlege."""
    given = (given or "").strip()
    by = Q(username=given) | (Q(memberships__role=Role.GP, memberships__hpr_number=given) if given.isdigit() else Q())
    offered = offered_fastleger(municipality_ids)
    gp = User.objects.filter(pk__in=offered.values("pk")).filter(by).first()
    if gp is not None:
        return gp, False
    if not outside_offered:
        raise FastlegeRefused(GP_NOT_OFFERED)
    gp = known_fastleger().filter(by).distinct().first()
    if gp is None:
        raise FastlegeRefused(GP_NOT_FOUND)
    return gp, True

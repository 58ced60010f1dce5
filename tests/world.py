"""The tests' world, built (tests/world_database.py keeps it, tests/conftest.py hands it out).

Centre «Øvre» hosted by Ullensaker, follows Gjerdrum and Nannestad; Nordre Follo follows itself.
Centre «Agder» hosted by Arendal, follows Grimstad.
One patient per municipality; the fastlege `gp` is fastlege for the Gjerdrum and Grimstad patients,
and the Nannestad patient is shared with the `specialist` (an object permission, nothing else).
"""

import datetime
from types import SimpleNamespace

from patients.services import patient_share_with
from tests.factories import (
    AgreementFactory,
    CentreFactory,
    MembershipFactory,
    MunicipalityFactory,
    PatientFactory,
    UserFactory,
    synthetic_national_id,
)

# The world's patients are born on a day the factories never use (PatientFactory: 1 January 1950), so a
# test's own patients never get a world patient's fødselsnummer however many it makes.
WORLD_BIRTH = datetime.date(1940, 6, 15)


def _patient(municipality, name: str, **kwargs):
    national_id = synthetic_national_id(WORLD_BIRTH)
    return PatientFactory(municipality=municipality, name=name, national_id=national_id, **kwargs)


def world_build() -> SimpleNamespace:
    """The rows of the world, made through the factories and services as a test would."""
    m = SimpleNamespace(
        ullensaker=MunicipalityFactory(number="3209", name="Ullensaker", population=42000),
        gjerdrum=MunicipalityFactory(number="3230", name="Gjerdrum", population=7500),
        nannestad=MunicipalityFactory(number="3238", name="Nannestad", population=15000),
        nordrefollo=MunicipalityFactory(number="3207", name="Nordre Follo", population=62000),
        arendal=MunicipalityFactory(number="4203", name="Arendal", population=46000),
        grimstad=MunicipalityFactory(number="4202", name="Grimstad", population=24500),
    )
    ovre = CentreFactory(name="Øvre", slug="ovre", host=m.ullensaker)
    agder = CentreFactory(name="Agder", slug="agder", host=m.arendal)
    AgreementFactory(centre=ovre, municipality=m.gjerdrum)
    AgreementFactory(centre=ovre, municipality=m.nannestad)
    AgreementFactory(centre=ovre, municipality=m.nordrefollo, follow_up_by="municipality")
    AgreementFactory(centre=agder, municipality=m.grimstad)

    def member(username, role, centre=None, municipality=None):
        user = UserFactory(username=username)
        MembershipFactory(user=user, role=role, centre=centre, municipality=municipality)
        return user

    u = SimpleNamespace(
        nurse=member("nurse", "nurse", centre=ovre),
        nurse_nordrefollo=member("nurse_nf", "nurse", municipality=m.nordrefollo),
        nurse_agder=member("nurse_agder", "nurse", centre=agder),
        coordinator=member("coord_gjerdrum", "coordinator", municipality=m.gjerdrum),
        gp=member("gp", "gp", municipality=m.gjerdrum),
        specialist=member("specialist", "specialist", centre=ovre),
        finance=member("finance", "finance", centre=ovre),
        admin=member("admin", "admin", centre=ovre),
        leder=member("leder", "leader", centre=ovre),
    )
    u.admin.is_staff = True
    u.admin.save(update_fields=["is_staff"])
    p = SimpleNamespace(
        ullensaker=_patient(m.ullensaker, "Olav Ullensaker"),
        gjerdrum=_patient(m.gjerdrum, "Rune Gjerdrum", gp=u.gp),
        nannestad=_patient(m.nannestad, "Jens Nannestad"),
        nordrefollo=_patient(m.nordrefollo, "Vigdis Nordre Follo"),
        grimstad=_patient(m.grimstad, "Tove Grimstad", gp=u.gp),
    )
    patient_share_with(patient=p.nannestad, user=u.specialist)
    # Who sees which patient: the scope table (docs/access-and-audit.md), written out.
    sees = {
        "nurse": {"ullensaker", "gjerdrum", "nannestad"},
        "nurse_nordrefollo": {"nordrefollo"},
        "nurse_agder": {"grimstad"},
        "coordinator": {"gjerdrum"},
        "gp": {"gjerdrum", "grimstad"},
        "specialist": {"nannestad"},
        "finance": set(),
        "admin": set(),
        "leder": set(),  # the centre's figures (insight), no patient
    }
    return SimpleNamespace(m=m, centres=SimpleNamespace(ovre=ovre, agder=agder), u=u, p=p, sees=sees)

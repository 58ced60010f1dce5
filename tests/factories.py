"""Test data builders. National ids are synthetic (month + 80) with valid check digits."""

import datetime
import itertools

import factory
from django.contrib.auth import get_user_model

from patients import national_id
from patients.models import Patient
from tenants.models import Agreement, Centre, FollowUpBy, Membership, Municipality

_serial = itertools.count(1)

# The check-digit rule written out again, independently of patients.national_id: the tests' oracle.
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _control(digits: str, weights) -> int | None:
    c = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if c == 11 else (None if c == 10 else c)


def synthetic_national_id(birth: datetime.date | None = None, month_offset: int = 80) -> str:
    """A fresh synthetic fødselsnummer (Tenor: month + 80) that passes both mod-11 checks."""
    birth = birth or datetime.date(1950, 1, 1)
    while True:
        value = national_id.synthetic(birth, 100 + next(_serial) % 400, month_offset)  # 100–499: born 1900–1999
        if value:
            return value


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"bruker{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Bruker {n}")
    password = factory.django.Password("korrekt-hest-batteri")


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Municipality
        django_get_or_create = ["number"]

    # 9000–9999: no real kommunenummer, and four digits however many the whole suite makes.
    number = factory.Sequence(lambda n: f"{9000 + n % 1000:04d}")
    name = factory.Sequence(lambda n: f"Testkommune {n}")
    population = 10_000


class CentreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Centre

    name = factory.Sequence(lambda n: f"Oppfølgingssenter {n}")
    slug = factory.Sequence(lambda n: f"senter-{n}")
    host = factory.SubFactory(MunicipalityFactory)


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agreement

    centre = factory.SubFactory(CentreFactory)
    municipality = factory.SubFactory(MunicipalityFactory)
    follow_up_by = FollowUpBy.CENTRE
    valid_from = datetime.date(2024, 1, 1)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = "nurse"


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Pasient {n}")
    national_id = factory.LazyFunction(synthetic_national_id)
    status = "active"
    diagnoses = factory.LazyFunction(lambda: ["kols"])

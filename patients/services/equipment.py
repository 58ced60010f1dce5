"""The centre's equipment: the device register, kits and loans to patients.

A device goes round: på lager → utlånt → returnert – til rengjøring → rengjort → utlånt … (a returned
device is cleaned before it is lent again: infection control), or ends kassert or tapt. A device is
lent to one patient at a time (a partial unique index repeats the rule), and ingest finds the patient
of a reading sent by `device_serial` through the loan active on the day it was measured
(`loans_by_serial`, one query per batch).

Who (patients.access): the nurses and admins of a centre keep its register (register, import, clean,
discard; `keeps_register`); lending to a patient needs the patient in the user's scope as nurse or
koordinator (`can_lend_to`); taking a device back, either (`can_take_back`). Refusals raise
EquipmentRefused (a 400, message in Norwegian); a user without the role gets EquipmentRoleRequired (403).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from django.db import IntegrityError, transaction
from django.db.models import FilteredRelation, Q
from django.db.models.functions import Upper
from django.utils import timezone

from patients.access import (
    can_lend_to,
    can_take_back,
    keeps_register,
    require,
)
from patients.models import Device, DeviceLoan, DeviceState, DeviceType, Diagnosis, Kit, Patient, PatientStatus
from patients.selectors import serving_centres, visible_patients
from tenants.csv_input import UnreadableCSV, csv_lines, csv_rows, delimiter_of
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction, Centre
from tenants.norwegian import date_text
from tenants.services import audit_record, audit_record_many_objects

LENDABLE = (DeviceState.IN_STOCK, DeviceState.CLEANED)
SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")  # it stands in URLs: /devices/<serial>/return/
CSV_HEADER = ["type", "model", "serial"]
KIT_NAME_MAX = cast(int, Kit._meta.get_field("name").max_length)  # a CharField's, always set


class EquipmentRefused(Refused):
    """The step cannot be made as asked (message in Norwegian, safe to show; the API's 400)."""


class EquipmentRoleRequired(NotAllowed):
    """The user has no role that allows this step (a 403 wherever it is raised)."""


# --- who ----------------------------------------------------------------------------------------


def _require_register(user, centre_id: int) -> None:
    require(
        keeps_register,
        user,
        centre_id,
        EquipmentRoleRequired("Bare sykepleiere og administratorer ved senteret kan endre utstyrsregisteret."),
    )


# --- the register -------------------------------------------------------------------------------


def device_type_of(given: str) -> str | None:
    """The type's code from its code or its Norwegian label, in any case (a CSV typed by hand)."""
    wanted = (given or "").strip().lower()
    for code, label in DeviceType.choices:
        if wanted in (code, str(label).lower()):
            return code
    return None


def _type_names() -> str:
    return ", ".join(DeviceType.values)


def _device_errors(type_code: str | None, given_type: str, serial: str) -> list[str]:
    errors = []
    if type_code is None:
        errors.append(f"ukjent enhetstype «{given_type}»; bruk {_type_names()}")
    if not serial:
        errors.append("serienummer mangler")
    elif not SERIAL.match(serial):
        errors.append(
            f"serienummeret «{serial}» kan bare ha bokstaver a–z, sifre, punktum, bindestrek og understrek "
            "(høyst 100 tegn)"
        )
    return errors


def _taken(centre: Centre, serial: str) -> str:
    return f"serienummeret «{serial}» finnes allerede i registeret til {centre.name}"


def serial_key(serial: str) -> str:
    """How serials are compared: a serial matches whatever its case («ox-1» is «OX-1»), as the
    register's unique index (centre, upper(serial)) does."""
    return (serial or "").strip().upper()


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


@transaction.atomic
def device_register(*, centre: Centre, user, type: str, serial: str, model: str = "", note: str = "") -> Device:
    """Add one device to the centre's register, «på lager». The serial is unique per centre."""
    _require_register(user, centre.pk)
    serial, type_code = (serial or "").strip(), device_type_of(type)
    errors = _device_errors(type_code, type, serial)
    if not errors and Device.objects.filter(centre=centre, serial__iexact=serial).exists():
        errors.append(_taken(centre, serial))
    if errors or type_code is None:  # an unknown type is one of the errors
        raise EquipmentRefused(" ".join(_sentence(e) for e in errors))
    try:
        with transaction.atomic():
            return Device.objects.create(
                centre=centre, type=type_code, model=(model or "").strip()[:100], serial=serial, note=note or ""
            )
    except IntegrityError:  # registered at the same moment by someone else
        raise EquipmentRefused(_sentence(_taken(centre, serial))) from None


@dataclass(frozen=True)
class ImportLine:
    line: int  # in the file, the header being line 1
    serial: str
    status: str  # created | rejected
    reason: str = ""

    def as_dict(self) -> dict:
        out = {"line": self.line, "serial": self.serial, "status": self.status}
        return out | ({"reason": self.reason} if self.reason else {})


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a CSV with a `type,model,serial` header; `;` too (Norwegian Excel), and
    tabs (cells copied from Excel and pasted). A file that cannot be read to its end, or holds a NUL,
    is refused naming the line."""
    try:
        lines = csv_lines(text)
        if not lines:
            raise EquipmentRefused("Filen er tom; første linje skal være overskriften type,model,serial.")
        delimiter = delimiter_of(lines[0], ",;\t")
        rows = csv_rows(lines, delimiter=delimiter)
    except UnreadableCSV as exc:
        raise EquipmentRefused(str(exc)) from None
    if [cell.strip().lower() for cell in rows[0]] != CSV_HEADER:
        raise EquipmentRefused(f"Linje 1 må være overskriften type,model,serial (fikk «{lines[0][:80]}»).")
    return [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]


def _import_line(centre: Centre, number: int, row: list[str], taken: set[str]) -> tuple[ImportLine, Device | None]:
    if len(row) != len(CSV_HEADER):
        return ImportLine(number, "", "rejected", f"linjen har {len(row)} felt; forventet 3 (type,model,serial)"), None
    given_type, model, serial = (cell.strip() for cell in row)
    type_code = device_type_of(given_type)
    errors = _device_errors(type_code, given_type, serial)
    if not errors and serial_key(serial) in taken:
        errors.append(_taken(centre, serial) + " (eller står tidligere i filen)")
    if errors or type_code is None:  # an unknown type is one of the errors
        return ImportLine(number, serial, "rejected", "; ".join(errors)), None
    taken.add(serial_key(serial))
    return ImportLine(number, serial, "created"), Device(
        centre=centre, type=type_code, model=model[:100], serial=serial
    )


@transaction.atomic
def devices_import_csv(*, centre: Centre, user, text: str) -> list[ImportLine]:
    """Register the devices of a CSV file (`type,model,serial`): one result per line with its number,
    a rejected line says why in Norwegian, and the valid lines are stored whatever their neighbours."""
    _require_register(user, centre.pk)
    rows = _csv_rows(text)
    taken = {serial_key(s) for s in Device.objects.filter(centre=centre).values_list("serial", flat=True)}
    results, devices = [], []
    for number, row in rows:
        result, device = _import_line(centre, number, row, taken)
        results.append(result)
        if device:
            devices.append(device)
    Device.objects.bulk_create(devices)
    return results


# --- kits ---------------------------------------------------------------------------------------


def _kit_errors(centre: Centre, name: str, given_types: list[str], types: list, diagnosis: str) -> list[str]:
    errors = []
    if not name:
        errors.append("navn på utstyrspakken mangler")
    elif len(name) > KIT_NAME_MAX:
        errors.append(f"navnet på utstyrspakken kan ha høyst {KIT_NAME_MAX} tegn (fikk {len(name)})")
    if diagnosis and diagnosis not in Diagnosis.values:
        errors.append(f"ukjent diagnose «{diagnosis}»; bruk {', '.join(Diagnosis.values)} eller ingen")
    unknown = [given for given, code in zip(given_types, types, strict=True) if code is None]
    if unknown:
        errors.append(f"ukjent enhetstype «{'», «'.join(unknown)}»; bruk {_type_names()}")
    elif not types:
        errors.append(f"velg minst én enhetstype ({_type_names()})")
    # Case-insensitive: «KOLS» and «kols» would be two kits that oppstart cannot tell apart by name.
    if not errors and Kit.objects.filter(centre=centre, name__iexact=name).exists():
        errors.append(_kit_taken(centre, name))
    return errors


def _kit_taken(centre: Centre, name: str) -> str:
    return f"utstyrspakken «{name}» finnes allerede ved {centre.name}"


@transaction.atomic
def kit_create(*, centre: Centre, user, name: str, device_types: Iterable[str], diagnosis: str = "") -> Kit:
    """A kit of the centre: the device types lent together (a KOLS kit: pulsoksymeter + nettbrett).
    The types are given by code or Norwegian label, each once; the name is unique in the centre."""
    _require_register(user, centre.pk)
    name, diagnosis = (name or "").strip(), (diagnosis or "").strip()
    given_types = [str(t).strip() for t in device_types if str(t).strip()]
    types = [device_type_of(t) for t in given_types]
    errors = _kit_errors(centre, name, given_types, types, diagnosis)
    if errors:
        raise EquipmentRefused(" ".join(_sentence(e) for e in errors))
    try:
        with transaction.atomic():
            return Kit.objects.create(
                centre=centre, name=name, diagnosis=diagnosis, device_types=list(dict.fromkeys(types))
            )
    except IntegrityError:  # made at the same moment by someone else
        raise EquipmentRefused(_sentence(_kit_taken(centre, name))) from None


# --- loans --------------------------------------------------------------------------------------


def _borrower(device: Device, user) -> str:
    """« til <name>» when the borrower is within the user's scope, else nothing: a refusal must not
    tell a koordinator who in another kommune has the device."""
    loan = DeviceLoan.objects.filter(device=device, returned_on__isnull=True).select_related("patient").first()
    if loan is None or user is None or not visible_patients(user).filter(pk=loan.patient_id).exists():
        return ""
    return f" til {loan.patient.name} (siden {date_text(loan.lent_on)})"


def _state_refusal(device: Device, user=None) -> str | None:
    """What is true of a device that cannot be lent, in words the nurse can act on."""
    if device.state in LENDABLE:
        return None
    named = f"Enheten «{device.serial}» finnes, men"
    if device.state == DeviceState.LENT:
        return f"{named} er utlånt{_borrower(device, user)}; den må tas imot før den lånes ut igjen."
    if device.state == DeviceState.RETURNED:
        return f"{named} er til rengjøring; den må rengjøres før den lånes ut igjen."
    if device.state == DeviceState.LOST:
        return f"{named} er meldt tapt og kan ikke lånes ut."
    return f"{named} er {str(device.get_state_display()).lower()} og kan ikke lånes ut."


def _kit_refusals(kit: Kit, devices: list[Device]) -> list[str]:
    types = [d.type for d in devices]
    labels = dict(DeviceType.choices)
    refusals = [
        f"Utstyrspakken «{kit.name}» mangler {str(labels[t]).lower()}." for t in kit.device_types if t not in types
    ]
    refusals += [
        f"Enheten «{d.serial}» ({str(labels[d.type]).lower()}) hører ikke til utstyrspakken «{kit.name}»."
        for d in devices
        if d.type not in kit.device_types
    ]
    return refusals


def _date_refusals(devices: list[Device], lent_on: datetime.date) -> list[str]:
    if lent_on > timezone.localdate():
        return ["Utlånsdatoen kan ikke være fram i tid."]
    last: dict[str, datetime.date] = {}
    later = DeviceLoan.objects.filter(device__in=devices, returned_on__gt=lent_on)
    for serial, day in later.values_list("device__serial", "returned_on"):
        assert day is not None  # returned_on__gt: only returned loans
        last[serial] = max(day, last.get(serial, day))
    return [
        f"Enheten «{serial}» ble returnert {date_text(day)}; utlånet kan ikke begynne før det."
        for serial, day in sorted(last.items())
    ]


def _lendable(patient: Patient, serials: list[str]) -> tuple[list[Device], list[str]]:
    devices: list[Device] = list(
        Device.objects.select_for_update()
        .annotate(serial_key=Upper("serial"))
        .filter(centre_id__in=serving_centres(patient.municipality_id), serial_key__in=[serial_key(s) for s in serials])
        .select_related("centre")
    )
    found = {serial_key(d.serial) for d in devices}
    refusals = [
        f"Serienummeret «{s}» finnes ikke i utstyrsregisteret til sentrene som betjener {patient.municipality.name}."
        for s in serials
        if serial_key(s) not in found
    ]
    if len(devices) > len(found):  # one serial in two centres serving the same kommune
        refusals.append("Et serienummer finnes hos flere sentre; lån ut fra senterets utstyrsside.")
    return devices, refusals


@transaction.atomic
def devices_lend(
    *,
    patient: Patient,
    user,
    serials: Iterable[str],
    kit: Kit | None = None,
    lent_on: datetime.date | None = None,
    request=None,
) -> list[DeviceLoan]:
    """Lend devices (by serial; with `kit`, exactly the kit's types) to a patient whose forløp has not
    ended, all or none. Each device must be on the shelf or cleaned, and belong to a centre that
    serves the patient's kommune."""
    require(
        can_lend_to,
        user,
        patient,
        EquipmentRoleRequired("Bare sykepleiere og koordinatorer for pasienten kan låne ut utstyr."),
    )
    if patient.status == PatientStatus.ENDED:  # readings by its serial would land on a forløp that has ended
        raise EquipmentRefused("Forløpet er avsluttet; utstyr lånes ut ved en ny oppstart.")
    serials = list({serial_key(s): s.strip() for s in serials if s and s.strip()}.values())
    if not serials and kit is not None:  # a kit alone: the devices it proposes
        serials = [d.serial for d in kit_proposal(patient, kit).values() if d is not None]
    if not serials:
        raise EquipmentRefused("Oppgi minst ett serienummer.")
    lent_on = lent_on or timezone.localdate()
    devices, refusals = _lendable(patient, serials)
    refusals += [r for r in (_state_refusal(d, user) for d in devices) if r]
    refusals += _kit_refusals(kit, devices) if kit else []
    refusals += _date_refusals(devices, lent_on) if not refusals else []
    if refusals:
        raise EquipmentRefused(" ".join(refusals))
    loans = DeviceLoan.objects.bulk_create(
        [
            DeviceLoan(
                device=d, patient=patient, municipality_id=patient.municipality_id, lent_on=lent_on, lent_by=user
            )
            for d in devices
        ]
    )
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(state=DeviceState.LENT)
    audit_record_many_objects(
        action=AuditAction.CREATE,
        object_type="device_loan",
        objects=[(loan.pk, patient) for loan in loans],
        request=request,
        user=user,
    )
    return loans


def _locked(device: Device) -> Device:
    return Device.objects.select_for_update().select_related("centre").get(pk=device.pk)


def _open_loan(device: Device) -> DeviceLoan | None:
    return DeviceLoan.objects.filter(device=device, returned_on__isnull=True).select_related("patient").first()


class ReturnCondition:
    """How a device came back at «Ta imot»: whole (to cleaning), damaged (out of use: kassert, with a
    note), or not handed back at all (tapt). Each closes the loan on the date given."""

    OK = "ok"
    DAMAGED = "damaged"
    MISSING = "missing"
    choices = [
        (OK, "Levert i orden – til rengjøring"),
        (DAMAGED, "Skadet – tas ut av bruk (kassert)"),
        (MISSING, "Ikke levert – meldt tapt"),
    ]
    states = {OK: DeviceState.RETURNED, DAMAGED: DeviceState.DISCARDED, MISSING: DeviceState.LOST}


@transaction.atomic
def device_return(
    *,
    device: Device,
    user,
    returned_on: datetime.date | None = None,
    condition: str = ReturnCondition.OK,
    note: str = "",
    request=None,
) -> DeviceLoan:
    """Close the device's loan; the device waits for cleaning («returnert – til rengjøring»), or with
    `condition` damaged or missing is kassert or tapt (the note says when and why). The centre's
    staff, or the patient's nurse or koordinator (who collects it at avslutning), may take it back."""
    if condition not in ReturnCondition.states:
        raise EquipmentRefused("Velg tilstanden enheten ble levert i: i orden, skadet eller ikke levert.")
    device = _locked(device)
    loan = _open_loan(device)
    if loan is None:
        raise EquipmentRefused(f"Enheten «{device.serial}» er ikke utlånt (den er «{device.get_state_display()}»).")
    if not can_take_back(user, centre_id=device.centre_id, borrower=loan.patient):
        raise EquipmentRoleRequired(
            "Bare senterets ansatte og pasientens sykepleier eller koordinator kan ta imot utstyr."
        )
    returned_on = returned_on or timezone.localdate()
    if returned_on > timezone.localdate() or returned_on < loan.lent_on:
        raise EquipmentRefused(f"Returdatoen må ligge mellom utlånsdatoen ({date_text(loan.lent_on)}) og i dag.")
    loan.returned_on, loan.returned_by = returned_on, user
    loan.save(update_fields=["returned_on", "returned_by"])
    device.state = ReturnCondition.states[condition]
    if condition != ReturnCondition.OK or (note or "").strip():
        label = dict(ReturnCondition.choices)[condition]
        line = f"{date_text(returned_on)} tatt imot: {label}. {(note or '').strip()}".strip()
        device.note = "\n".join(filter(None, [device.note, line]))
    device.save(update_fields=["state", "note"])
    audit_record(
        action=AuditAction.UPDATE,
        object_type="device_loan",
        object_id=loan.pk,
        patient=loan.patient,
        request=request,
        user=user,
    )
    return loan


@transaction.atomic
def device_clean(*, device: Device, user) -> Device:
    """A returned device has been cleaned and may be lent again."""
    device = _locked(device)
    _require_register(user, device.centre_id)
    if device.state != DeviceState.RETURNED:
        raise EquipmentRefused(
            f"Bare en returnert enhet kan rengjøres; «{device.serial}» er «{device.get_state_display()}»."
        )
    device.state = DeviceState.CLEANED
    device.save(update_fields=["state"])
    return device


@transaction.atomic
def device_discard(*, device: Device, user, lost: bool = False, note: str = "", request=None) -> Device:
    """Take a device out of use: kassert (not while lent), or tapt (a lent one's loan ends today)."""
    device = _locked(device)
    _require_register(user, device.centre_id)
    if device.state in (DeviceState.DISCARDED, DeviceState.LOST):
        raise EquipmentRefused(f"Enheten «{device.serial}» er allerede {str(device.get_state_display()).lower()}.")
    loan = _open_loan(device)
    if loan and not lost:
        raise EquipmentRefused(f"Enheten «{device.serial}» er utlånt; den må returneres før den kasseres.")
    if loan:
        loan.returned_on, loan.returned_by = timezone.localdate(), user
        loan.save(update_fields=["returned_on", "returned_by"])
        audit_record(
            action=AuditAction.UPDATE,
            object_type="device_loan",
            object_id=loan.pk,
            patient=loan.patient,
            request=request,
            user=user,
        )
    device.state = DeviceState.LOST if lost else DeviceState.DISCARDED
    device.note = "\n".join(filter(None, [device.note, (note or "").strip()]))
    device.save(update_fields=["state", "note"])
    return device


# --- which patient had the device: ingest by serial ------------------------------------------------


@dataclass(frozen=True)
class LoanPeriod:
    lent_on: datetime.date
    returned_on: datetime.date | None
    patient_id: object
    municipality_id: int

    def covers(self, day: datetime.date) -> bool:
        return self.lent_on <= day and (self.returned_on is None or day <= self.returned_on)


def loans_by_serial(*, centre_id: int, serials: Iterable[str], days: Iterable[datetime.date]) -> dict[str, list]:
    """serial (as sent) → the loans of the centre's device that overlap [first day, last day], in one
    query; a registered device without such loans maps to [], an unknown serial is left out. Serials
    match whatever their case, as everywhere (the register is unique on the upper-cased serial)."""
    serials, days = set(serials), sorted(set(days))
    if not serials or not days:
        return {}
    window = FilteredRelation(
        "loans",
        condition=Q(loans__lent_on__lte=days[-1])
        & (Q(loans__returned_on__isnull=True) | Q(loans__returned_on__gte=days[0])),
    )
    rows = (
        Device.objects.annotate(serial_upper=Upper("serial"))
        .filter(centre_id=centre_id, serial_upper__in={serial.upper() for serial in serials})
        .annotate(loan_in_window=window)
        .values_list(
            "serial_upper",
            "loan_in_window__lent_on",
            "loan_in_window__returned_on",
            "loan_in_window__patient_id",
            "loan_in_window__municipality_id",
        )
    )
    by_upper: dict[str, list] = {}
    for serial_upper, lent_on, returned_on, patient_id, municipality_id in rows:
        periods = by_upper.setdefault(serial_upper, [])
        if lent_on is not None:
            periods.append(LoanPeriod(lent_on, returned_on, patient_id, municipality_id))
    return {serial: by_upper[serial.upper()] for serial in serials if serial.upper() in by_upper}


def loan_for_serial(*, centre: Centre, serial: str, at: datetime.datetime) -> DeviceLoan | None:
    """The loan of the centre's device active at `at` (its day in Norway); None if there is none, or
    if two loans share that day (returned and lent again): a reading then belongs to no one for sure."""
    day = timezone.localtime(at).date()
    loans = list(
        DeviceLoan.objects.filter(device__centre=centre, device__serial__iexact=serial, lent_on__lte=day)
        .filter(Q(returned_on__isnull=True) | Q(returned_on__gte=day))
        .select_related("patient", "device")[:2]
    )
    return loans[0] if len(loans) == 1 else None


def free_devices(patient: Patient, types: Iterable[str]) -> dict[str, list[Device]]:
    """type → the devices of that type that may be lent to this patient now (on the shelf or
    cleaned, at a centre serving the patient's kommune), on the shelf first, then by serial."""
    types = list(types)
    found: dict[str, list[Device]] = {t: [] for t in types}
    devices = Device.objects.filter(
        centre_id__in=serving_centres(patient.municipality_id), type__in=types, state__in=LENDABLE
    ).order_by("type", "-state", "serial")  # «in_stock» sorts after «cleaned»: reversed, shelf first
    for device in devices:
        found[device.type].append(device)
    return found


def kit_proposal(patient: Patient, kit: Kit) -> dict[str, Device | None]:
    """The kit's device types, each with the first free device of that type (None: none is free)."""
    free = free_devices(patient, kit.device_types)
    return {t: (free[t][0] if free[t] else None) for t in kit.device_types}


def kit_for(patient: Patient, name: str) -> Kit:
    """The kit of that name at a centre serving the patient's kommune."""
    kit = Kit.objects.filter(centre_id__in=serving_centres(patient.municipality_id), name=(name or "").strip()).first()
    if kit is None:
        raise EquipmentRefused(f"Finner ingen utstyrspakke «{name}» ved senteret som betjener pasientens kommune.")
    return kit

"""Writes of the EBP workflow: draft → submitted → active (approved by the fastlege) or returned.

Every step checks who may take it, validates the content, and writes the audit log. Who may do what is
the policy's (ebp/access.py: `can_edit_plan`, `can_approve_plan`, which the pages' buttons ask too), and
every step asks it here, so a page or API endpoint added later cannot skip it. A refusal inside the
user's scope raises PlanRefused or one of its subclass (`tenants.errors.Refused`: the API answers 400
with its message; a missing comment is shown beside the form); a step the user's role does not allow
raises patients.access.NurseRequired or ebp.access.OwnGpRequired (`tenants.errors.NotAllowed`: 403 with
its message); patients outside the scope never get here (the selectors answer 404 first).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ebp import defaults
from ebp.access import own_gp_require, plan_nurse_require
from ebp.content import PlanContent, dump, parse_content
from ebp.models import CentreThresholds, Plan, PlanTemplate, PlanVersion, VersionStatus
from patients.models import Patient
from patients.services.status import StatusRefused
from tenants.errors import Refused
from tenants.models import AuditAction
from tenants.selectors import centre_of
from tenants.services import audit_record, audit_record_many_objects

OBJECT_TYPE = "plan_version"


class PlanRefused(Refused):
    """The plan is not in a state for this step as asked (message in Norwegian, safe to show; a 400)."""


class CommentRequired(PlanRefused):
    """A version is returned without saying what must change; the form asks again."""


def centre_defaults_ensure(centre) -> None:
    for diagnosis, spec in defaults.TEMPLATES.items():
        PlanTemplate.objects.get_or_create(
            centre=centre,
            diagnosis=diagnosis,
            defaults={"name": spec["name"], "content": dump(defaults.template_content(diagnosis))},
        )
    CentreThresholds.objects.get_or_create(centre=centre, defaults={"thresholds": defaults.default_thresholds()})


def _audit(action, version: PlanVersion, patient: Patient, user, request) -> None:
    audit_record(
        action=action, object_type=OBJECT_TYPE, object_id=version.pk, patient=patient, request=request, user=user
    )


def _plan(patient: Patient) -> Plan:
    plan, _ = Plan.objects.get_or_create(patient=patient, defaults={"municipality_id": patient.municipality_id})
    return plan


def _starting_content(patient: Patient, plan: Plan, template: str | None) -> PlanContent:
    if template:
        centre = centre_of(patient.municipality_id)
        stored = PlanTemplate.objects.filter(centre=centre, diagnosis=template).first()
        if stored is None:
            raise PlanRefused(f"Senteret har ingen EBP-mal for «{template}».")
        return parse_content(stored.content)
    active = plan.versions.filter(status=VersionStatus.ACTIVE).first()
    if active:
        return parse_content(active.content)
    return PlanContent(diagnoses=list(patient.diagnoses))


@transaction.atomic
def draft_start(*, patient: Patient, user, request=None, template: str | None = None, content: dict | None = None):
    """A new draft from the given content, a centre template, or (by default) the active version."""
    plan_nurse_require(user, patient)
    plan = _plan(patient)
    Plan.objects.select_for_update().get(pk=plan.pk)  # one numbering at a time per plan
    open_version = plan.versions.filter(status__in=[VersionStatus.DRAFT, VersionStatus.SUBMITTED]).first()
    if open_version is not None:
        raise PlanRefused(
            f"Versjon {open_version.number} er allerede {open_version.get_status_display().lower()}; "
            "fullfør den før du starter en ny."
        )
    start = parse_content(content) if content is not None else _starting_content(patient, plan, template)
    active = plan.versions.filter(status=VersionStatus.ACTIVE).first()
    version = PlanVersion.objects.create(
        plan=plan,
        municipality_id=patient.municipality_id,
        number=(plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1,
        content=dump(start),
        based_on=active,
        created_by=user,
    )
    _audit(AuditAction.CREATE, version, patient, user, request)
    return version


def _require_status(version: PlanVersion, status: str, doing: str) -> None:
    if version.status != status:
        raise PlanRefused(f"Versjon {version.number} er {version.get_status_display().lower()} og kan ikke {doing}.")


@transaction.atomic
def draft_update(*, version: PlanVersion, user, content: dict, request=None) -> PlanVersion:
    patient = version.plan.patient
    plan_nurse_require(user, patient)
    version = PlanVersion.objects.select_for_update().get(pk=version.pk)
    _require_status(version, VersionStatus.DRAFT, "endres")
    version.content = dump(parse_content(content))
    version.save(update_fields=["content"])
    _audit(AuditAction.UPDATE, version, patient, user, request)
    return version


def draft_save(
    *, patient: Patient, user, request=None, template: str | None = None, content: dict | None = None
) -> tuple[PlanVersion, bool]:
    """The API's one step for a draft: replace the open draft's content when there is a draft and
    `content` is given, else start a new draft (see draft_start). → (version, created)."""
    draft = PlanVersion.objects.filter(plan__patient=patient, status=VersionStatus.DRAFT).first()
    if draft is not None and content is not None:
        return draft_update(version=draft, user=user, content=content, request=request), False
    return draft_start(patient=patient, user=user, request=request, template=template, content=content), True


@transaction.atomic
def draft_submit(*, version: PlanVersion, user, request=None) -> PlanVersion:
    patient = version.plan.patient
    plan_nurse_require(user, patient)
    version = PlanVersion.objects.select_for_update().get(pk=version.pk)
    _require_status(version, VersionStatus.DRAFT, "sendes til godkjenning")
    content = parse_content(version.content)
    if not content.thresholds and not content.trend_rules:
        raise PlanRefused("Planen har ingen grenseverdier; legg inn minst én før den sendes til fastlegen.")
    if patient.gp_id is None:
        raise PlanRefused("Pasienten har ingen fastlege registrert som kan godkjenne planen.")
    version.status = VersionStatus.SUBMITTED
    version.submitted_by, version.submitted_at = user, timezone.now()
    version.save(update_fields=["status", "submitted_by", "submitted_at"])
    _audit(AuditAction.UPDATE, version, patient, user, request)
    return version


@transaction.atomic
def version_approve(*, version: PlanVersion, user, comment: str = "", request=None) -> PlanVersion:
    """The fastlege approves: this version becomes the active one, the previous active is superseded."""
    patient = version.plan.patient
    own_gp_require(user, patient)
    Plan.objects.select_for_update().get(pk=version.plan_id)
    version = PlanVersion.objects.get(pk=version.pk)
    _require_status(version, VersionStatus.SUBMITTED, "godkjennes")
    now = timezone.now()
    for previous in version.plan.versions.filter(status=VersionStatus.ACTIVE):
        previous.status, previous.superseded_at = VersionStatus.SUPERSEDED, now
        previous.save(update_fields=["status", "superseded_at"])
        _audit(AuditAction.UPDATE, previous, patient, user, request)
    version.status = VersionStatus.ACTIVE
    version.decided_by, version.decided_at, version.decision_comment = user, now, comment.strip()
    version.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    _audit(AuditAction.UPDATE, version, patient, user, request)
    return version


@transaction.atomic
def version_return(*, version: PlanVersion, user, comment: str, request=None) -> PlanVersion:
    """The fastlege sends the version back with a comment; the nurse starts a new draft from it."""
    patient = version.plan.patient
    own_gp_require(user, patient)
    if not (comment or "").strip():
        raise CommentRequired("Skriv en kommentar som forklarer hva som må endres.")
    version = PlanVersion.objects.select_for_update().get(pk=version.pk)
    _require_status(version, VersionStatus.SUBMITTED, "returneres")
    version.status = VersionStatus.RETURNED
    version.decided_by, version.decided_at, version.decision_comment = user, timezone.now(), comment.strip()
    version.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    _audit(AuditAction.UPDATE, version, patient, user, request)
    return version


def draft_from_returned(*, version: PlanVersion, user, request=None) -> PlanVersion:
    """Start the next draft from a returned version's content, to fix what the fastlege asked."""
    plan_nurse_require(user, version.plan.patient)
    _require_status(version, VersionStatus.RETURNED, "brukes som utgangspunkt")
    return draft_start(patient=version.plan.patient, user=user, request=request, content=version.content)


def plan_move(*, patient: Patient, municipality_id: int, user, request=None) -> None:
    """A patient's move to another kommune (ebp's receiver of patients' `status_changed`, its «moved»
    row): the plan and every version go with the record, in the move's transaction and scope. Row-level
    security shows a row to the kommune it names, so a plan left behind would be lost to the new
    kommune's nurses and fastlege while scoring (which sees every kommune) went on using it, and a new
    draft would collide with the hidden plan. Only the municipality changes: the content stays frozen."""
    plan = Plan.objects.filter(patient=patient).first()
    if plan is None or plan.municipality_id == municipality_id:
        return
    version_ids = list(plan.versions.values_list("pk", flat=True))
    Plan.objects.filter(pk=plan.pk).update(municipality_id=municipality_id)
    plan.versions.update(municipality_id=municipality_id)
    audit_record_many_objects(  # one INSERT for the versions, one event each
        action=AuditAction.UPDATE, object_type=OBJECT_TYPE, objects=[(pk, patient) for pk in version_ids],
        request=request, user=user,
    )  # fmt: skip
    audit_record(action=AuditAction.UPDATE, object_type="plan", object_id=plan.pk, patient=patient, request=request,
                 user=user)  # fmt: skip


def evaluation_draft_open(*, patient: Patient, user, request=None) -> PlanVersion:
    """An evaluation's «Planen justeres» (ebp's receiver of patients' `evaluation_recorded`): the
    plan's open version if there is one (already being adjusted), else a new draft. A refusal of the
    draft is the evaluation's refusal (patients' StatusRefused, a 400); a koordinator's NurseRequired
    is NotAllowed: it passes, a 403."""
    open_version = PlanVersion.objects.filter(
        plan__patient=patient, status__in=[VersionStatus.DRAFT, VersionStatus.SUBMITTED]
    ).first()
    if open_version is not None:
        return open_version
    try:
        return draft_start(patient=patient, user=user, request=request)
    except PlanRefused as exc:
        raise StatusRefused(str(exc)) from None

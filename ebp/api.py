"""EBP API: read the active plan and its versions; drive the same workflow as the pages.

Errors: a step the user's role does not allow answers 403 with the reason (patients.access.NurseRequired,
ebp.access.OwnGpRequired); a step the plan is not in a state for (services.PlanRefused) 400 with the reason;
invalid content 400 with one entry per field (`field`, `message`); a patient outside the scope 404
(PatientScopedAPIView).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from ebp import selectors, services
from ebp.content import InvalidPlanContent, PlanContent
from ebp.models import PlanVersion, VersionStatus
from patients.api import PatientScopedAPIView
from tenants.models import AuditAction
from tenants.people import display_name
from tenants.services import audit_record


def _person(user) -> str | None:
    return display_name(user) if user else None


class PlanVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    submitted_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = PlanVersion
        fields = [
            "number",
            "status",
            "content",
            "created_by",
            "created_at",
            "submitted_by",
            "submitted_at",
            "decided_by",
            "decided_at",
            "decision_comment",
            "superseded_at",
        ]

    def get_created_by(self, v) -> str | None:
        return _person(v.created_by)

    def get_submitted_by(self, v) -> str | None:
        return _person(v.submitted_by)

    def get_decided_by(self, v) -> str | None:
        return _person(v.decided_by)


def _invalid(exc: InvalidPlanContent) -> Response:
    return Response(
        {"detail": "Planen er ikke gyldig.", "errors": [{"field": e.field, "message": e.message} for e in exc.errors]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class PlanAPIBase(PatientScopedAPIView):
    serializer_class = PlanVersionSerializer

    def audit(self, version, action=AuditAction.VIEW):
        audit_record(
            action=action,
            object_type=services.OBJECT_TYPE,
            object_id=version.pk,
            patient=self.patient,
            request=self.request,
        )

    def given(self, serializer_class) -> dict:
        """The body, checked (400 per field): nothing unchecked reaches a service."""
        given = serializer_class(data=self.request.data)
        given.is_valid(raise_exception=True)
        return given.validated_data

    def version_in(self, statuses, wanted: int | None) -> PlanVersion:
        """The open version the step acts on; `version` in the body pins it against a stale client."""
        version = selectors.open_version(self.patient)
        if version is None or version.status not in statuses or (wanted and wanted != version.number):
            raise NotFound("Ingen versjon med riktig status for dette steget.")
        return version

    def step(self, fn, **kwargs) -> Response:
        """Run one service step. `fn` returns the version, or (version, created) for a step that may
        create one (201). The service decides who may take it; its refusals are answered by the API's
        exception handler (tenants.api_input: NotAllowed 403, PlanRefused 400)."""
        try:
            result = fn(user=self.request.user, request=self.request, **kwargs)
        except InvalidPlanContent as exc:
            return _invalid(exc)
        version, created = result if isinstance(result, tuple) else (result, False)
        return Response(
            PlanVersionSerializer(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ActivePlanAPI(PlanAPIBase):
    def get(self, request, patient_id):
        active = selectors.active_version(self.patient)
        if active is None:
            raise NotFound("Pasienten har ingen godkjent plan.")
        self.audit(active)
        return Response(PlanVersionSerializer(active).data)


class PlanVersionsAPI(PlanAPIBase):
    @extend_schema(responses=PlanVersionSerializer(many=True))
    def get(self, request, patient_id):
        versions = list(selectors.versions_of(self.patient))
        for version in versions:
            self.audit(version)
        return Response(PlanVersionSerializer(versions, many=True).data)


@extend_schema_field(PlanContent)
class PlanContentField(serializers.DictField):
    """A plan's whole content as a JSON object; ebp.content.parse_content checks what is in it."""


class DraftIn(serializers.Serializer):
    content = PlanContentField(required=False, help_text="Hele planinnholdet (PlanContent)")
    template = serializers.CharField(required=False, max_length=50, help_text="kols, hjertesvikt eller diabetes")


class CommentIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Versjonen steget gjelder (mot en utdatert klient)"
    )


class DraftAPI(PlanAPIBase):
    @extend_schema(
        request=DraftIn,
        responses={201: PlanVersionSerializer, 200: OpenApiResponse(PlanVersionSerializer, "Utkastet ble endret")},
    )
    def post(self, request, patient_id):
        """Start a draft (from `content`, a `template`, or the active version), or replace the open
        draft's content when one exists and `content` is given."""
        data = self.given(DraftIn)
        return self.step(
            services.draft_save, patient=self.patient, template=data.get("template"), content=data.get("content")
        )


class SubmitAPI(PlanAPIBase):
    @extend_schema(request=CommentIn, responses=PlanVersionSerializer)
    def post(self, request, patient_id):
        version = self.version_in([VersionStatus.DRAFT], self.given(CommentIn).get("version"))
        return self.step(lambda **kw: services.draft_submit(version=version, **kw))


class ApproveAPI(PlanAPIBase):
    @extend_schema(request=CommentIn, responses=PlanVersionSerializer)
    def post(self, request, patient_id):
        data = self.given(CommentIn)
        version = self.version_in([VersionStatus.SUBMITTED], data.get("version"))
        return self.step(lambda **kw: services.version_approve(version=version, comment=data.get("comment", ""), **kw))


class ReturnAPI(PlanAPIBase):
    @extend_schema(request=CommentIn, responses=PlanVersionSerializer)
    def post(self, request, patient_id):
        data = self.given(CommentIn)
        version = self.version_in([VersionStatus.SUBMITTED], data.get("version"))
        return self.step(lambda **kw: services.version_return(version=version, comment=data.get("comment", ""), **kw))

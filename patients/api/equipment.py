"""The equipment API: the centre's device register, kits, the CSV import, returns and a patient's loans."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from patients.access import register_centre_ids
from patients.api.base import PatientScopedAPIView
from patients.models import (
    Device,
    DeviceLoan,
    DeviceState,
    DeviceType,
    Diagnosis,
    Kit,
)
from patients.selectors import (
    device_type_labels,
    devices_for,
    get_device_for,
    kits_for,
    loans_of,
    loans_out_for,
    visible_patients,
)
from patients.services.equipment import (
    EquipmentRefused,
    EquipmentRoleRequired,
    device_clean,
    device_discard,
    device_register,
    device_return,
    devices_import_csv,
    devices_lend,
    kit_create,
    kit_for,
)
from tenants.api_input import read_capped
from tenants.csv_input import read_upload
from tenants.models import AuditAction, Centre
from tenants.services import audit_record, audit_record_many

# --- equipment: the centre's device register and a patient's loans --------------------------------


class DeviceLoanShortSerializer(serializers.Serializer):
    lent_on = serializers.DateField()
    patient_id = serializers.UUIDField(allow_null=True, help_text="Bare for en pasient du har tilgang til")
    municipality = serializers.CharField(help_text="Kommunenummeret til pasienten som har enheten")


class DeviceOutSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.slug")
    type_label = serializers.CharField(source="get_type_display")
    state_label = serializers.CharField(source="get_state_display")
    loan = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = ["serial", "type", "type_label", "model", "state", "state_label", "centre", "note", "loan"]

    @extend_schema_field(DeviceLoanShortSerializer(allow_null=True))
    def get_loan(self, device) -> dict | None:
        """The open loan; its patient only for someone who may see that patient."""
        loan = next(iter(getattr(device, "open_loans", [])), None)
        if loan is None:
            return None
        shown = loan.patient_id in self.context.get("patients", ())
        return {
            "lent_on": loan.lent_on,
            "patient_id": str(loan.patient_id) if shown else None,
            "municipality": loan.municipality.number,
        }


class DeviceInSerializer(serializers.Serializer):
    type = serializers.CharField(help_text=f"Enhetstype: {', '.join(DeviceType.values)}")
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    serial = serializers.CharField(max_length=100)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    centre = serializers.SlugField(required=False, help_text="Senterets slug, når du arbeider ved flere sentre")


# A centre named in the request that is not one of the user's (or none at all): as its devices are.
CENTRE_NOT_FOUND = OpenApiResponse(description="Senteret som er oppgitt (centre), er ikke blant brukerens")


def _register_centre(user, slug: str = "") -> Centre:
    """The centre whose register the request is about: the user's only one, or the one named."""
    centres = Centre.objects.filter(id__in=register_centre_ids(user))
    if slug:
        centres = centres.filter(slug=slug)
    found = list(centres[:2])
    if slug and not found:  # another centre's register is not there for this user, like a missing one
        raise NotFound(f"Fant ikke senteret «{slug}» blant sentrene du arbeider ved.")
    if not found:
        raise EquipmentRoleRequired("Bare sykepleiere og administratorer ved et senter har et utstyrsregister.")
    if len(found) > 1:
        raise EquipmentRefused("Du arbeider ved flere sentre; oppgi senteret (centre).")
    return found[0]


@extend_schema(parameters=[OpenApiParameter("state", str, description=f"Tilstand: {', '.join(DeviceState.values)}")])
class DeviceListAPI(generics.ListAPIView):
    """The register of the user's centres (GET), and a new device in it (POST: 201)."""

    serializer_class = DeviceOutSerializer

    def get_queryset(self):
        open_loans = DeviceLoan.objects.filter(returned_on__isnull=True).select_related("municipality")
        devices = devices_for(self.request.user).select_related("centre")
        state = self.request.query_params.get("state", "")
        if state:
            devices = devices.filter(state=state)
        return devices.prefetch_related(Prefetch("loans", queryset=open_loans, to_attr="open_loans")).order_by(
            "centre__name", "type", "serial"
        )

    def list(self, request, *args, **kwargs):
        state = request.query_params.get("state", "")
        if state and state not in DeviceState.values:
            return Response({"detail": f"Ukjent tilstand «{state}»; bruk {', '.join(DeviceState.values)}."}, 400)
        return super().list(request, *args, **kwargs)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        lent_to = {loan.patient_id for device in page for loan in device.open_loans}
        shown = list(visible_patients(self.request.user).filter(id__in=lent_to).only("id", "municipality_id", "gp_id"))
        self.shown_patients = {p.pk for p in shown}
        if shown:  # the register itself is no patient's data; a borrower's name is
            audit_record_many(action=AuditAction.VIEW, object_type="device_list", patients=shown, request=self.request)
        return page

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "patients": getattr(self, "shown_patients", set())}

    @extend_schema(request=DeviceInSerializer, responses={201: DeviceOutSerializer, 404: CENTRE_NOT_FOUND})
    def post(self, request):
        given = DeviceInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        device = device_register(
            centre=_register_centre(request.user, data.get("centre", "")),
            user=request.user,
            type=data["type"],
            serial=data["serial"],
            model=data.get("model", ""),
            note=data.get("note", ""),
        )
        return Response(DeviceOutSerializer(device).data, status=201)


class KitOutSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.slug")
    diagnosis_label = serializers.CharField(
        source="get_diagnosis_display", help_text="Tom når settet ikke gjelder en bestemt diagnose"
    )
    # Plain strings, not enums: the device and referral serializers already name these choice sets.
    diagnosis = serializers.CharField(help_text=f"{', '.join(Diagnosis.values)}, eller tom")
    device_types = serializers.ListField(
        child=serializers.CharField(), help_text=f"Enhetstypene: {', '.join(DeviceType.values)}"
    )
    device_type_labels = serializers.SerializerMethodField()

    class Meta:
        model = Kit
        fields = ["id", "name", "diagnosis", "diagnosis_label", "device_types", "device_type_labels", "centre"]

    def get_device_type_labels(self, kit) -> list[str]:
        return device_type_labels(kit.device_types)


class KitInSerializer(serializers.Serializer):
    # Plain strings: the service checks them and says in Norwegian which value is wrong and what to use.
    name = serializers.CharField(
        max_length=200, allow_blank=True, help_text="Navnet på settet, unikt ved senteret (høyst 100 tegn)"
    )
    diagnosis = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"Diagnosen settet er for: {', '.join(Diagnosis.values)} (eller tom)",
    )
    device_types = serializers.ListField(
        child=serializers.CharField(max_length=100),
        help_text=f"Enhetstypene som lånes ut sammen: {', '.join(DeviceType.values)}",
    )
    centre = serializers.SlugField(required=False, help_text="Senterets slug, når du arbeider ved flere sentre")


class KitListAPI(generics.ListAPIView):
    """The kits of the user's centres (GET), and a new kit (POST: 201). Who may: as for the device
    register, the centre's nurses and admins; another centre's kit is never listed."""

    serializer_class = KitOutSerializer

    def get_queryset(self):
        return kits_for(self.request.user).order_by("centre__name", "name", "id")

    @extend_schema(request=KitInSerializer, responses={201: KitOutSerializer, 404: CENTRE_NOT_FOUND})
    def post(self, request):
        given = KitInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        kit = kit_create(
            centre=_register_centre(request.user, data.get("centre", "")),
            user=request.user,
            name=data["name"],
            diagnosis=data.get("diagnosis", ""),
            device_types=data["device_types"],
        )
        return Response(KitOutSerializer(kit).data, status=201)


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        # At most DATA_UPLOAD_MAX_MEMORY_SIZE, else a 400; Excel on Windows saves CSV as Windows-1252
        # (å in «Blodtrykksmåler»). What the text holds that cannot be read or stored, the import refuses.
        return read_upload(read_capped(stream))


class PlainTextParser(CSVParser):
    media_type = "text/plain"


class DeviceImportAPI(APIView):
    """A CSV file (`type,model,serial`, one device a line) into the register: one result per line, the
    valid lines stored even when a neighbour is rejected."""

    parser_classes = [CSVParser, PlainTextParser]

    @extend_schema(
        request={"text/csv": {"type": "string"}},
        parameters=[OpenApiParameter("centre", str, description="Senterets slug, når du arbeider ved flere")],
        responses={200: dict, 404: CENTRE_NOT_FOUND},
    )
    def post(self, request):
        if not isinstance(request.data, str):
            return Response({"detail": "Send CSV-filen som text/csv med overskriften type,model,serial."}, 400)
        centre = _register_centre(request.user, request.query_params.get("centre", ""))
        lines = devices_import_csv(centre=centre, user=request.user, text=request.data)
        created = sum(1 for line in lines if line.status == "created")
        body = {"created": created, "rejected": len(lines) - created, "lines": [line.as_dict() for line in lines]}
        return Response(body, status=200)


class DeviceScopedAPIView(APIView):
    """Base for /devices/{serial}/…: binds the device of the user's centres once (?centre= when the
    serial is in two of them); another centre's device is a 404, like a missing one."""

    device: Device

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.device = get_device_for(request.user, kwargs["serial"], request.query_params.get("centre", ""))


class ReturnInSerializer(serializers.Serializer):
    returned_on = serializers.DateField(required=False, help_text="Returdato (standard: i dag)")


class DeviceReturnAPI(DeviceScopedAPIView):
    """The device is back: its loan closes and it waits for cleaning («returnert – til rengjøring»)."""

    @extend_schema(request=ReturnInSerializer, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        given = ReturnInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        loan = device_return(
            device=self.device, user=request.user, returned_on=given.validated_data.get("returned_on"),
            request=request,
        )  # fmt: skip
        return Response(DeviceOutSerializer(loan.device).data)


class DeviceCleanAPI(DeviceScopedAPIView):
    """A returned device is cleaned and may be lent again; any other is a 400 saying why."""

    @extend_schema(request=None, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        device = device_clean(device=self.device, user=request.user)
        return Response(DeviceOutSerializer(device).data)


class DiscardInSerializer(serializers.Serializer):
    lost = serializers.BooleanField(default=False, help_text="Tapt (ellers kassert)")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DeviceDiscardAPI(DeviceScopedAPIView):
    """Out of use: kassert (not while lent), or tapt (a lent one's loan ends today)."""

    @extend_schema(request=DiscardInSerializer, responses={200: DeviceOutSerializer})
    def post(self, request, serial):
        given = DiscardInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        device = device_discard(
            device=self.device, user=request.user, lost=data["lost"], note=data.get("note", ""), request=request
        )
        return Response(DeviceOutSerializer(device).data)


class LoanOutSerializer(serializers.ModelSerializer):
    serial = serializers.CharField(source="device.serial")
    type = serializers.CharField(source="device.type")
    lent_by = serializers.CharField(source="lent_by.username")
    returned_by = serializers.CharField(source="returned_by.username", allow_null=True, default=None)

    class Meta:
        model = DeviceLoan
        fields = ["id", "serial", "type", "lent_on", "returned_on", "lent_by", "returned_by"]


class LendInSerializer(serializers.Serializer):
    devices = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False, help_text="Serienumrene som lånes ut"
    )
    kit = serializers.CharField(required=False, max_length=100, help_text="Utstyrspakken de utgjør (navn)")
    lent_on = serializers.DateField(required=False, help_text="Utlånsdato (standard: i dag)")


class PatientLoansAPI(PatientScopedAPIView, generics.GenericAPIView):
    """The patient's loans (GET; ?out=1: what is still out), and devices lent to them (POST: 201)."""

    serializer_class = LoanOutSerializer
    pagination_class = None  # one list (and so in the schema)

    @extend_schema(
        parameters=[OpenApiParameter("out", bool, description="Bare det som ikke er returnert")],
        responses=LoanOutSerializer(many=True),
    )
    def get(self, request, patient_id):
        audit_record(
            action=AuditAction.VIEW, object_type="device_loans", object_id=self.patient.pk, patient=self.patient,
            request=request,
        )  # fmt: skip
        out = request.query_params.get("out", "") in ("1", "true")
        loans = loans_out_for(self.patient) if out else loans_of(self.patient)
        return Response(self.get_serializer(loans, many=True).data)

    @extend_schema(request=LendInSerializer, responses={201: LoanOutSerializer(many=True)})
    def post(self, request, patient_id):
        given = LendInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        loans = devices_lend(
            patient=self.patient,
            user=request.user,
            serials=data["devices"],
            kit=kit_for(self.patient, data["kit"]) if data.get("kit") else None,
            lent_on=data.get("lent_on"),
            request=request,
        )
        return Response(LoanOutSerializer(loans, many=True).data, status=201)

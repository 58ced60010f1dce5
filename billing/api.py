"""The allocation as JSON for finance (token or session): the months of the viewer's scope, one month
with its kommuner and lines, and locking. Amounts are decimal strings in kroner («2108.00»); a kommune's
finance sees their own kommune only; everyone else gets 404. Every read is audited."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.calculation import Month, MonthError
from billing.models import Component
from billing.selectors import finance_view_for, months_of, visible_allocation
from billing.services import month_lock
from tenants.models import AuditAction
from tenants.norwegian import kroner
from tenants.people import display_name
from tenants.services import audit_record

CENTRE = OpenApiParameter("centre", str, description="Senterets slug, når brukeren har flere sentre")
# finance_view_for: anyone but the centre's (or the kommune's) finance, and another centre, get a 404.
NOT_FINANCE = OpenApiResponse(description="Ikke finans ved senteret, eller måneden finnes ikke")


class LineSerializer(serializers.Serializer):
    component = serializers.ChoiceField(choices=Component.choices)
    item = serializers.CharField(help_text="Enhetstypen på en utstyrslinje")
    corrects = serializers.CharField(help_text="Komponenten en korrigering retter")
    reference_month = serializers.CharField(allow_null=True, help_text="Den låste måneden en korrigering gjelder")
    quantity = serializers.CharField(help_text="Mengde som desimaltall, f.eks. «31» eller «477.5»")
    unit = serializers.CharField()
    rate = serializers.CharField(help_text="Sats i kroner, f.eks. «1212.00»")
    divisor = serializers.IntegerField(help_text="Dager i måneden for en forholdsmessig linje, ellers 1")
    amount = serializers.CharField(help_text="Beløp i kroner, f.eks. «2108.00»")
    explanation = serializers.CharField()


class MunicipalitySerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()
    total = serializers.CharField()
    lines = LineSerializer(many=True)


class MonthSerializer(serializers.Serializer):
    month = serializers.CharField()
    status = serializers.ChoiceField(choices=["draft", "locked"])
    total = serializers.CharField()
    price_model_from = serializers.CharField(allow_null=True)
    locked_at = serializers.DateTimeField(allow_null=True)
    locked_by = serializers.CharField(allow_null=True)
    municipalities = MunicipalitySerializer(many=True)


def month_data(allocation) -> dict:
    locked = allocation.locked
    return {
        "month": str(allocation.month),
        "status": allocation.status,
        "total": kroner(allocation.total_ore),
        "price_model_from": f"{allocation.price_model.valid_from:%Y-%m}" if allocation.price_model else None,
        "locked_at": locked.locked_at if locked else None,
        "locked_by": display_name(locked.locked_by) if locked else None,
        "municipalities": [
            {
                "number": group.municipality.number,
                "name": group.municipality.name,
                "total": kroner(group.total_ore),
                "lines": [_line(line) for line in group.lines],
            }
            for group in allocation.municipalities
        ],
    }


def _line(line) -> dict:
    return {
        "component": line.component, "item": line.item, "corrects": line.corrects,
        "reference_month": f"{line.reference_month:%Y-%m}" if line.reference_month else None,
        "quantity": plain(line.quantity), "unit": line.unit, "rate": kroner(line.rate_ore), "divisor": line.divisor,
        "amount": kroner(line.amount_ore), "explanation": line.explanation,
    }  # fmt: skip


def plain(value) -> str:
    """A quantity as a plain decimal string without trailing zeros («31», «477.5»)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except MonthError as exc:
        raise serializers.ValidationError({"month": str(exc)}) from None


def _audit(request, view, what: str) -> None:
    audit_record(action=AuditAction.VIEW, object_type="billing_month", object_id=f"{view.centre.slug}/{what}",
                 request=request)  # fmt: skip


class MonthListAPI(APIView):
    """The last twelve months (newest first) of the viewer's centre."""

    @extend_schema(parameters=[CENTRE], responses={200: MonthSerializer(many=True), 404: NOT_FINANCE})
    def get(self, request):
        view = finance_view_for(request.user, request.query_params.get("centre", ""))
        _audit(request, view, "months")
        return Response([month_data(allocation) for allocation in months_of(view)])


class MonthDetailAPI(APIView):
    @extend_schema(parameters=[CENTRE], responses={200: MonthSerializer, 404: NOT_FINANCE})
    def get(self, request, month):
        view = finance_view_for(request.user, request.query_params.get("centre", ""))
        allocation = visible_allocation(view, _month(month))
        _audit(request, view, month)
        return Response(month_data(allocation))


class MonthLockAPI(APIView):
    """Lock an ended month (the centre's finance): its figures never change again."""

    @extend_schema(parameters=[CENTRE], request=None, responses={200: MonthSerializer, 404: NOT_FINANCE})
    def post(self, request, month):
        view = finance_view_for(request.user, request.query_params.get("centre", ""))
        month_lock(view=view, month=_month(month), user=request.user, request=request)
        return Response(month_data(visible_allocation(view, _month(month))))

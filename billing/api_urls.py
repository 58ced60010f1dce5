from django.urls import path, register_converter

from billing import api


class MonthConverter:
    """YYYY-MM; a month that is not one (2026-13), or outside the years billed (0001-01), is refused by
    Month.parse with a Norwegian message (a 400 naming `month`)."""

    regex = r"\d{4}-\d{2}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


register_converter(MonthConverter, "month")

urlpatterns = [
    path("billing/months/", api.MonthListAPI.as_view(), name="billing-months"),
    path("billing/months/<month:month>/", api.MonthDetailAPI.as_view(), name="billing-month"),
    path("billing/months/<month:month>/lock/", api.MonthLockAPI.as_view(), name="billing-month-lock"),
]

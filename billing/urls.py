from django.urls import path

from billing import (
    api_urls,  # noqa: F401 – registers the «month» path converter (ÅÅÅÅ-MM)
    views,
)

app_name = "billing"
urlpatterns = [
    path("", views.BillingHomeView.as_view(), name="home"),
    path("prismodell/", views.PriceModelView.as_view(), name="price-model"),
    path("grunnlag/", views.LatestBasisView.as_view(), name="basis-latest"),
    path("ar/<int:year>/", views.YearView.as_view(), name="year"),
    path("<month:month>/", views.MonthView.as_view(), name="month"),
    path("<month:month>/las/", views.MonthLockView.as_view(), name="lock"),
    path("<month:month>/allocation.csv", views.AllocationCsvView.as_view(), name="csv"),
    path("<month:month>/allocation.xlsx", views.AllocationXlsxView.as_view(), name="xlsx"),
    path("<month:month>/<str:municipality>.pdf", views.BasisPdfView.as_view(), name="pdf"),
    path("<month:month>/<str:municipality>/grunnlag/", views.BasisView.as_view(), name="basis"),
]

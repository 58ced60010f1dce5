"""The centre's equipment pages: the device register, the CSV import, kits, «Ta imot» and cleaning."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from patients.forms.equipment import (
    DeviceForm,
    DeviceImportForm,
    DeviceReturnForm,
    KitForm,
)
from patients.models import (
    DeviceState,
    DeviceType,
)
from patients.selectors import (
    device_type_labels,
    get_device_for,
    kits_for,
    loans_open_for_device,
    register_centres,
    register_devices,
    visible_patients,
)
from patients.services import (
    EquipmentRefused,
    ReturnCondition,
    device_clean,
    device_register,
    device_return,
    devices_import_csv,
    kit_create,
)
from tenants.errors import RefusalMixin
from tenants.models import AuditAction
from tenants.services import audit_record, audit_record_many

# --- the centre's equipment ------------------------------------------------------------------------------


class EquipmentView(LoginRequiredMixin, TemplateView):
    """The device register of the user's centres: the list (state filter) with what is out and with
    whom, a device registered, a CSV imported (one result per line), return and cleaning. A 404 for
    anyone who keeps no register. A borrower's name shows only to someone who may see that patient."""

    template_name = "patients/equipment.html"
    page_size = 100

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.centres = register_centres(request.user)
            if not self.centres:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        state = self.request.GET.get("state", "")
        state = state if state in DeviceState.values else ""
        type_ = self.request.GET.get("type", "")
        type_ = type_ if type_ in DeviceType.values else ""
        search = self.request.GET.get("q", "").strip()[:100]
        devices = register_devices(self.request.user, state=state, type=type_, search=search)
        page = Paginator(devices, self.page_size).get_page(self.request.GET.get("page"))
        query = urlencode({k: v for k, v in (("state", state), ("type", type_), ("q", search)) if v})
        lent_to = {loan.patient_id for device in page.object_list for loan in device.open_loans}
        shown = list(visible_patients(self.request.user).filter(id__in=lent_to).only("id", "municipality_id", "gp_id"))
        if shown:  # the register itself is no patient's data; a borrower's name is
            audit_record_many(action=AuditAction.VIEW, object_type="device_list", patients=shown, request=self.request)
        kwargs.setdefault("device_form", DeviceForm(centres=self.centres))
        kwargs.setdefault("import_form", DeviceImportForm(centres=self.centres))
        kwargs.setdefault("kit_form", KitForm(centres=self.centres))
        kits = list(kits_for(self.request.user).order_by("centre__name", "name"))
        for kit in kits:
            kit.device_type_labels = device_type_labels(kit.device_types)
        return super().get_context_data(
            page=page, state=state, states=DeviceState.choices, type=type_, types=DeviceType.choices,
            search=search, query=query, centres=self.centres, shown={p.pk for p in shown}, kits=kits, **kwargs,
        )  # fmt: skip

    def post(self, request):
        form = DeviceForm(request.POST, centres=self.centres)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device = device_register(centre=data["centre"], user=request.user, type=data["type"],
                                         serial=data["serial"], model=data["model"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{device} er registrert.")
                return redirect("patients:equipment")
        return self.render_to_response(self.get_context_data(device_form=form))


class DeviceImportView(EquipmentView):
    def get(self, request, *args, **kwargs):
        raise Http404  # the form lives on the register page

    def post(self, request):
        form = DeviceImportForm(request.POST, request.FILES, centres=self.centres)
        results = None
        if form.is_valid():
            try:
                results = devices_import_csv(centre=form.cleaned_data["centre"], user=request.user,
                                             text=form.cleaned_data["text"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
        return self.render_to_response(self.get_context_data(import_form=form, results=results))


class KitCreateView(EquipmentView):
    """A kit made on the register page («Sett»); its errors are shown by the form there."""

    def get(self, request, *args, **kwargs):
        raise Http404  # the form lives on the register page

    def post(self, request):
        form = KitForm(request.POST, centres=self.centres)
        if form.is_valid():
            data = form.cleaned_data
            try:
                kit = kit_create(centre=data["centre"], user=request.user, name=data["name"],
                                 diagnosis=data["diagnosis"], device_types=data["device_types"])  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Settet «{kit.name}» er lagret.")
                return redirect(reverse("patients:equipment") + "#kits")
        return self.render_to_response(self.get_context_data(kit_form=form))


def _back_to_register(request):
    back = request.POST.get("back", "")
    return redirect(reverse("patients:equipment") + (f"?{back}" if back else ""))


class DeviceStepView(RefusalMixin, LoginRequiredMixin, View):
    """Cleaning of one device of the user's centres (another centre's is a 404), from its row; a
    refusal is a message on the register."""

    def post(self, request, serial):
        device = get_device_for(request.user, serial, request.POST.get("centre", ""))
        self.perform(device)
        messages.success(request, self.done.format(device=device))
        return _back_to_register(request)

    def after_refusal(self):
        return _back_to_register(self.request)


class DeviceReturnView(LoginRequiredMixin, TemplateView):
    """«Ta imot»: a page that confirms the return of one device of the user's centres (another
    centre's is a 404): who has it since when, the date it came back (today by default; not in the
    future, not before the loan began) and the state it came back in. The return is audited on the
    borrower (the service); the page's read of the loan too. The patient page links here."""

    template_name = "patients/device_return.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.device = get_device_for(request.user, kwargs["serial"], request.GET.get("centre") or
                                         request.POST.get("centre", ""))  # fmt: skip
            self.loan = loans_open_for_device(self.device)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        form = DeviceReturnForm(initial={"returned_on": timezone.localdate(), "condition": ReturnCondition.OK,
                                         "centre": self.device.centre.slug})  # fmt: skip
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        shown = None
        if self.loan is not None and visible_patients(self.request.user).filter(pk=self.loan.patient_id).exists():
            shown = self.loan.patient
            audit_record(action=AuditAction.VIEW, object_type="device_loan", object_id=self.loan.pk, patient=shown,
                         request=self.request)  # fmt: skip
        back = self.request.GET.get("back", "") or self.request.POST.get("back", "")
        return super().get_context_data(device=self.device, loan=self.loan, borrower=shown, back=back, **kwargs)

    def post(self, request, *args, **kwargs):
        form = DeviceReturnForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device_return(device=self.device, user=request.user, returned_on=data["returned_on"],
                              condition=data["condition"], note=data["note"], request=request)  # fmt: skip
            except EquipmentRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, RETURNED[data["condition"]].format(device=self.device))
                return _back_to_register(request)
        return self.render_to_response(self.get_context_data(form=form))


RETURNED = {
    ReturnCondition.OK: "{device} er tatt imot og venter på rengjøring.",
    ReturnCondition.DAMAGED: "{device} er tatt imot skadet og er kassert.",
    ReturnCondition.MISSING: "{device} er ikke levert og er meldt tapt; utlånet er avsluttet.",
}


class DeviceCleanView(DeviceStepView):
    done = "{device} er rengjort og kan lånes ut igjen."

    def perform(self, device):
        device_clean(device=device, user=self.request.user)

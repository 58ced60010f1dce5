"""The equipment forms: a device, the CSV import, a kit and «Ta imot»."""

from django import forms
from django.utils.translation import gettext_lazy as _

from patients.forms.base import StepForm, _choice, _date, _text
from patients.models import (
    DeviceType,
    Diagnosis,
)
from patients.services import ReturnCondition
from tenants.csv_input import UnreadableCSV, read_uploaded_file


class DeviceReturnForm(StepForm):
    """«Ta imot»: the date the device came back and the state it came back in (the service checks the
    date against the loan)."""

    returned_on = _date(_("Returdato"), required=True, help_text=_("Ikke fram i tid, og ikke før utlånet begynte."))
    condition = _choice(_("Tilstand ved retur"), ReturnCondition.choices,
                        required_message=_("Velg tilstanden enheten ble levert i."))  # fmt: skip
    note = _text(_("Merknad"), textarea=True, max_length=1000)
    centre = forms.CharField(widget=forms.HiddenInput, required=False)


class DeviceForm(StepForm):
    """A device into the centre's register (the service checks the serial and that it is free)."""

    centre = forms.ModelChoiceField(label=_("Senter"), queryset=None, empty_label=None,
                                    error_messages={"required": _("Velg senteret."),
                                                    "invalid_choice": _("Velg et senter fra listen.")})  # fmt: skip
    type = forms.ChoiceField(label=_("Type"), choices=DeviceType.choices,
                             error_messages={"required": _("Velg enhetstypen.")})  # fmt: skip
    model = _text(_("Modell"), max_length=100)
    serial = _text(_("Serienummer"), required=True, max_length=100, message=_("Fyll ut serienummeret."))

    def __init__(self, *args, centres, **kwargs):
        super().__init__(*args, prefix="device", **kwargs)
        self.fields["centre"].queryset = centres


class DeviceImportForm(StepForm):
    """A CSV file (type,model,serial) into the register; pasted text works as well."""

    centre = forms.ModelChoiceField(label=_("Senter"), queryset=None, empty_label=None,
                                    error_messages={"required": _("Velg senteret."),
                                                    "invalid_choice": _("Velg et senter fra listen.")})  # fmt: skip
    file = forms.FileField(label=_("CSV-fil"), required=False)
    text = _text(_("Eller lim inn linjene"), textarea=True)

    def __init__(self, *args, centres, **kwargs):
        super().__init__(*args, prefix="import", **kwargs)
        self.fields["centre"].queryset = centres
        self.fields["text"].help_text = _("Første linje: type,model,serial")

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            try:  # UTF-8, or Windows-1252 as Excel on Windows saves a CSV; at most the API's 5 MB
                data["text"] = read_uploaded_file(upload)
            except UnreadableCSV as exc:
                self.add_error("file", str(exc))
        elif not data.get("text"):
            self.add_error("file", _("Velg en CSV-fil, eller lim inn linjene."))
        return data


class KitForm(StepForm):
    """A kit of the centre: a name, the diagnosis it is for, and the device types lent together (the
    service checks that the name is free at the centre)."""

    centre = forms.ModelChoiceField(label=_("Senter"), queryset=None, empty_label=None,
                                    error_messages={"required": _("Velg senteret."),
                                                    "invalid_choice": _("Velg et senter fra listen.")})  # fmt: skip
    name = _text(_("Navn på settet"), required=True, max_length=100,
                 message=_("Fyll ut et navn på settet, for eksempel «KOLS»."))  # fmt: skip
    diagnosis = forms.ChoiceField(label=_("Diagnose"), required=False,
                                  choices=[("", _("Ingen bestemt diagnose")), *Diagnosis.choices],
                                  error_messages={"invalid_choice": _("Velg en diagnose fra listen.")})  # fmt: skip
    device_types = forms.MultipleChoiceField(
        label=_("Enheter i settet"),
        choices=DeviceType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Velg minst én enhetstype."),
                        "invalid_choice": _("Velg enhetstyper fra listen.")},
    )  # fmt: skip

    def __init__(self, *args, centres, **kwargs):
        super().__init__(*args, prefix="kit", **kwargs)
        self.fields["centre"].queryset = centres
        self.fields["name"].error_messages["max_length"] = _("Navnet kan ha høyst 100 tegn.")

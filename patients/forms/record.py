"""The patient record's forms: the fastlege, the phone and pårørende."""

from django.utils.translation import gettext_lazy as _

from patients.forms.base import FastlegeChoiceMixin, FastlegeField, StepForm, _text
from patients.services import GP_NOT_OFFERED


class PatientGpForm(FastlegeChoiceMixin, StepForm):
    """Set or change a patient's fastlege (patients.services.patient_gp_set)."""

    gp = FastlegeField(
        label=_("Fastlege"),
        queryset=None,
        required=False,
        empty_label=_("Ingen fastlege registrert"),
        help_text=_("Fastlegene i pasientens kommune og de som alt følger innbyggere der."),
        error_messages={"invalid_choice": GP_NOT_OFFERED},
    )

    def __init__(self, *args, patient, gps, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["gp"].queryset = gps
        self._gp_fields()

    def gp_municipality_ids(self) -> list[int]:
        return [self.patient.municipality_id]


class PatientContactForm(StepForm):
    """The patient's phone and pårørende (patients.services.contact_info_set)."""

    phone = _text(_("Telefon"), max_length=20)
    next_of_kin = _text(_("Pårørende"), textarea=True, max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["next_of_kin"].help_text = _(
            "Navn, relasjon og telefon, for eksempel «Anne Kvam, datter, 912 34 567»."
        )

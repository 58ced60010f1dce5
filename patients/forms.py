"""The forløp's forms before oppstart. They check what a field alone can tell (filled in, a date, a
choice) and put the error next to that field; the rules of the process (order of the steps, periods,
who may act) stay in patients.services.referrals, whose refusal the view shows above the form."""

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from patients.models import (
    ASSESSMENT_CRITERIA,
    AppealOutcome,
    ConsentGivenBy,
    ConsentMethod,
    CriterionAnswer,
    DecisionOutcome,
    DeviceType,
    Diagnosis,
    EndReason,
    Referrer,
)
from patients.services import GP_NOT_OFFERED, FastlegeRefused, ReturnCondition, fastlege_find
from tenants import norwegian
from tenants.people import display_name

REQUIRED = _("Dette feltet må fylles ut.")
DATE = _("Skriv datoen som dd.mm.åååå.")
DATE_FORMATS = [norwegian.DATE, "%Y-%m-%d", "%d.%m.%y"]


def _date(label, *, required: bool = False, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        input_formats=DATE_FORMATS,
        help_text=help_text,
        error_messages={"required": REQUIRED, "invalid": DATE},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _choice(label, choices, *, required_message) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        choices=choices,
        widget=forms.RadioSelect,
        error_messages={"required": required_message, "invalid_choice": required_message},
    )


def _text(label, *, required: bool = False, textarea: bool = False, max_length: int | None = None, message=REQUIRED):
    widget = forms.Textarea(attrs={"rows": 3}) if textarea else forms.TextInput
    return forms.CharField(
        label=label, required=required, max_length=max_length, widget=widget, error_messages={"required": message}
    )


class StepForm(forms.Form):
    """Marks a field in error for screen readers: aria-invalid, and the message it is described by
    (templates/patients/_field.html renders the message with that id next to the field)."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].auto_id}_error"


class FastlegeField(forms.ModelChoiceField):
    """A fastlege by name, with the municipalities where they practise (patients.selectors.fastleger_for)."""

    def label_from_instance(self, user):
        name = display_name(user)
        places = sorted(getattr(user, "gp_municipalities", None) or [])
        return f"{name} ({', '.join(places)})" if places else name


class FastlegeChoiceMixin:
    """The fastlege as two fields: `gp`, the offered list (patients.services.fastlege), and `gp_other`,
    any other fastlege the platform knows, found by name or HPR number: filling it in is the explicit
    choice outside the list (`gp_outside_offered` in cleaned_data, audited by the service)."""

    def _gp_fields(self):
        self.fields["gp_other"] = _text(
            _("Annen fastlege (navn eller HPR-nummer)"),
            max_length=200,
        )
        self.fields["gp_other"].help_text = _(
            "Bare om fastlegen ikke står i listen: skriv HPR-nummeret (sikrest) eller navnet. Valget logges."
        )

    def gp_municipality_ids(self) -> list[int]:  # pragma: no cover - each form defines it
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        data["gp_outside_offered"] = False
        other = (data.get("gp_other") or "").strip()
        if not other:
            return data
        if data.get("gp"):
            self.add_error("gp_other", _("Velg fastlegen fra listen eller skriv en annen, ikke begge."))
            return data
        ids = self.gp_municipality_ids()
        if not ids:
            return data  # the municipality field carries its own error
        try:
            gp = fastlege_find(ids, other)
        except FastlegeRefused as exc:
            self.add_error("gp_other", str(exc))
            return data
        data["gp"] = gp
        data["gp_outside_offered"] = not self.fields["gp"].queryset.filter(pk=gp.pk).exists()
        return data


class ReferralForm(FastlegeChoiceMixin, StepForm):
    municipality = forms.ModelChoiceField(
        label=_("Kommune"),
        queryset=None,
        empty_label=None,
        error_messages={
            "required": _("Velg kommunen henvisningen gjelder."),
            "invalid_choice": _("Velg en kommune fra listen."),
        },
    )
    national_id = _text(_("Fødselsnummer eller D-nummer"), required=True, max_length=13,
                        message=_("Fyll ut fødselsnummer eller D-nummer (11 siffer)."))  # fmt: skip
    name = _text(_("Navn"), required=True, max_length=200, message=_("Fyll ut pasientens navn."))
    referrer = _choice(_("Henvist av"), Referrer.choices, required_message=_("Velg hvem som henviste."))
    referrer_name = _text(_("Navn på henviser"), max_length=200)
    diagnoses = forms.MultipleChoiceField(
        label=_("Diagnoser"), choices=Diagnosis.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    reason = _text(_("Begrunnelse for henvisningen"), required=True, textarea=True,
                   message=_("Skriv hvorfor pasienten henvises."))  # fmt: skip
    gp = FastlegeField(
        label=_("Fastlege"),
        queryset=None,
        required=False,
        empty_label=_("Ikke valgt"),
        help_text=_(
            "Fastlegene i kommunene dine og de som alt følger innbyggere der. Står ikke fastlegen her, "
            "bruk feltet under. Kan stå tomt."
        ),
        # The API and referral_register refuse with the same words (patients.selectors.referral_fastleger).
        error_messages={"invalid_choice": GP_NOT_OFFERED},
    )
    phone = _text(_("Telefon"), max_length=20)
    next_of_kin = _text(_("Pårørende"), textarea=True)
    received_on = _date(_("Mottatt"), help_text=_("Tomt: i dag."))

    def __init__(self, *args, municipalities, gps, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["municipality"].queryset = municipalities
        self.fields["gp"].queryset = gps
        self._gp_fields()
        self.order_fields([*list(self.fields)[: list(self.fields).index("gp") + 1], "gp_other"])

    def gp_municipality_ids(self) -> list[int]:
        municipality = self.cleaned_data.get("municipality")
        return [municipality.pk] if municipality else []

    def clean_national_id(self):
        value = self.cleaned_data["national_id"].replace(" ", "")
        if not (value.isdigit() and len(value) == 11):
            raise forms.ValidationError(_("Fødselsnummeret må ha 11 siffer."))
        return value


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


class AssessmentForm(StepForm):
    """A radio group (ja / nei / vet ikke) and a comment per inclusion criterion (`ASSESSMENT_CRITERIA`)."""

    what_matters = _text(_("Hva er viktig for deg?"), textarea=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in ASSESSMENT_CRITERIA.items():
            self.fields[code] = _choice(label, CriterionAnswer.choices,
                                        required_message=_("Svar ja, nei eller vet ikke."))  # fmt: skip
            self.fields[f"{code}_comment"] = _text(format_lazy(_("Kommentar til «{}»"), label), max_length=1000)

    def criteria_fields(self):
        return [(self[code], self[f"{code}_comment"]) for code in ASSESSMENT_CRITERIA]

    def criteria(self) -> dict:
        data = self.cleaned_data
        return {code: {"answer": data[code], "comment": data[f"{code}_comment"]} for code in ASSESSMENT_CRITERIA}


class DecisionForm(StepForm):
    outcome = _choice(_("Vedtak"), DecisionOutcome.choices, required_message=_("Velg innvilget eller avslått."))
    reason = _text(_("Begrunnelse"), required=True, textarea=True, message=_("Vedtaket må ha en begrunnelse."))
    period_from = _date(_("Periode fra"), help_text=_("Tomt: i dag."))
    period_to = _date(_("Periode til"))
    evaluation_date = _date(_("Evalueringsdato"))

    def clean(self):
        data = super().clean()
        if data.get("outcome") == DecisionOutcome.GRANTED:
            if not data.get("period_to") and "period_to" not in self.errors:
                self.add_error("period_to", _("Et innvilget vedtak må ha en til-dato."))
            if not data.get("evaluation_date") and "evaluation_date" not in self.errors:
                self.add_error("evaluation_date", _("Et innvilget vedtak må ha en evalueringsdato."))
        return data


class AppealForm(StepForm):
    received_on = _date(_("Klagen mottatt"), required=True)
    note = _text(_("Merknad"), textarea=True)


class AppealOutcomeForm(StepForm):
    outcome = _choice(
        _("Utfall"),
        [(AppealOutcome.UPHELD, AppealOutcome.UPHELD.label), (AppealOutcome.REVERSED, AppealOutcome.REVERSED.label)],
        required_message=_("Velg om vedtaket er opprettholdt eller omgjort."),
    )
    decided_on = _date(_("Avgjort"), help_text=_("Tomt: i dag."))
    note = _text(_("Merknad"), textarea=True)


class ConsentForm(StepForm):
    given_by = _choice(_("Samtykke gitt av"), ConsentGivenBy.choices,
                       required_message=_("Velg pasienten eller en representant."))  # fmt: skip
    representative_name = _text(_("Representantens navn"), max_length=200)
    representative_role = _text(_("Representantens rolle"), max_length=100)
    method = _choice(_("Form"), ConsentMethod.choices, required_message=_("Velg skriftlig eller muntlig."))
    given_on = _date(_("Samtykke gitt"), required=True)

    def clean(self):
        data = super().clean()
        if data.get("given_by") == ConsentGivenBy.REPRESENTATIVE:
            if not data.get("representative_name"):
                self.add_error("representative_name", _("Oppgi representantens navn."))
            if not data.get("representative_role"):
                self.add_error("representative_role", _("Oppgi representantens rolle (for eksempel verge)."))
        return data


def _device_label(device) -> str:
    """A free device as the oppstart's select shows it: serial, model and state."""
    parts = [device.serial, device.model, str(device.get_state_display()).lower()]
    return " · ".join(p for p in parts if p)


class StartForm(StepForm):
    """Oppstart: a kit (its free devices proposed, one select per type to swap one), or serial numbers
    typed (any case), own phone or a lent nettbrett, the training and the trial period."""

    kit = forms.ChoiceField(label=_("Utstyrspakke"), required=False,
                            error_messages={"invalid_choice": _("Velg en utstyrspakke fra listen.")})  # fmt: skip
    devices = _text(_("Serienumre for utstyr som lånes ut"), textarea=True)
    own_phone = forms.BooleanField(label=_("Pasienten bruker egen telefon (ikke lånt nettbrett)"), required=False)
    training = _text(_("Opplæring gitt"), textarea=True)
    trial_until = _date(_("Innkjøringsperiode til"))
    started_on = _date(_("Oppstartsdato"), help_text=_("Tomt: i dag."))

    def __init__(self, *args, kits=(), kit=None, free=None, **kwargs):
        """`kits`: the names offered; `kit`: the kit chosen (a Kit) and `free`: type → its free
        devices, for one select per type of the kit, the first free device proposed."""
        super().__init__(*args, **kwargs)
        self.fields["kit"].choices = [("", _("Ingen pakke")), *[(k, k) for k in kits]]
        self.fields["kit"].help_text = _("Velg en pakke for å få foreslått ledige enheter av hver type i den.")
        self.fields["devices"].help_text = _(
            "Uten pakke: ett serienummer per linje (eller skilt med komma); store og små bokstaver er det samme."
        )
        self.chosen_kit = kit
        self.kit_field_names = []
        labels = dict(DeviceType.choices)
        for code in kit.device_types if kit else ():
            devices = (free or {}).get(code, [])
            name = f"kit_{code}"
            label = labels.get(code, code)
            none_free = format_lazy(_("Ingen ledig {} – registrer eller rengjør en"), str(label).lower())
            self.fields[name] = forms.ChoiceField(
                label=label,
                required=True,
                choices=[("", none_free if not devices else _("Velg enhet")),
                         *[(d.serial, _device_label(d)) for d in devices]],
                initial=devices[0].serial if devices else "",
                error_messages={
                    "required": format_lazy(_("Velg en ledig {} til pakken «{}»."), str(label).lower(), kit.name),
                    "invalid_choice": format_lazy(_("Enheten er ikke lenger ledig; velg en annen {}."),
                                                  str(label).lower()),
                },
            )  # fmt: skip
            self.kit_field_names.append(name)

    def kit_fields(self):
        return [self[name] for name in self.kit_field_names]

    def other_fields(self):
        return [self[name] for name in self.fields if name not in ("kit", *self.kit_field_names)]

    def clean_devices(self):
        text = self.cleaned_data["devices"].replace(",", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def serials(self) -> list[str]:
        """The kit's devices chosen, then the ones typed."""
        data = self.cleaned_data
        return [data[name] for name in self.kit_field_names if data.get(name)] + data.get("devices", [])


class PauseForm(StepForm):
    effective_date = _date(_("Pause fra"), help_text=_("Tomt: i dag."))
    until = _date(_("Pause til"), required=True)
    note = _text(_("Årsak"), textarea=True)


class ResumeForm(StepForm):
    effective_date = _date(_("Gjenopptatt fra"), help_text=_("Tomt: i dag."))
    note = _text(_("Merknad"), textarea=True)


class EndForm(StepForm):
    reason = _choice(
        _("Årsak til avslutning"), EndReason.choices, required_message=_("Velg en årsak til avslutningen.")
    )
    effective_date = _date(_("Avsluttet fra"), help_text=_("Tomt: i dag."))
    note = _text(_("Merknad"), textarea=True)
    returned = forms.MultipleChoiceField(
        label=_("Utstyr levert tilbake"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, out=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["returned"].choices = [(loan.device.serial, str(loan.device)) for loan in out]
        self.fields["returned"].help_text = _(
            "Kryss av det som er levert. Det som ikke krysses av, står som utlånt til det er tatt imot."
        )


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
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", _("Filen må være en CSV-fil i UTF-8."))
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

"""The forløp's forms: henvisning, vurdering, vedtak, klage, samtykke, oppstart, pause, gjenopptak and
avslutning. The rules of the process stay in patients.services.referrals and .status."""

from django import forms
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from patients.forms.base import DATE_FORMATS, FastlegeChoiceMixin, FastlegeField, StepForm, _choice, _date, _text
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
from patients.services import GP_NOT_OFFERED
from patients.services.evaluation import EvaluationOutcome


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


OUTCOME_MISSING = _("Velg utfallet av evalueringen: fortsette, justere planen eller avslutte.")


class EvaluationForm(StepForm):
    """An evaluation of the forløp (patients.services.evaluation_record). The form puts what one field
    or two can tell next to the field; the service's refusals (status, who may adjust the plan) are
    shown above the form by the view."""

    outcome = forms.ChoiceField(
        label=_("Utfall av evalueringen"),
        choices=list(EvaluationOutcome.LABELS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": OUTCOME_MISSING, "invalid_choice": OUTCOME_MISSING},
    )
    next_date = forms.DateField(
        label=_("Neste evaluering"),
        required=False,
        input_formats=DATE_FORMATS,
        help_text=_("Når forløpet fortsetter eller planen justeres."),
        error_messages={"invalid": _("Skriv datoen som dd.mm.åååå.")},
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end_reason = forms.ChoiceField(
        label=_("Årsak til avslutning"),
        choices=[("", _("Velg årsak (når forløpet avsluttes)")), *EndReason.choices],
        required=False,
        error_messages={"invalid_choice": _("Velg en årsak fra listen.")},
    )
    note = forms.CharField(label=_("Notat"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        outcome, next_date = data.get("outcome"), data.get("next_date")
        goes_on = outcome in (EvaluationOutcome.CONTINUE, EvaluationOutcome.ADJUST)
        # A date that did not parse already has its own message by the field.
        if goes_on and next_date is None and "next_date" not in self.errors:
            self.add_error("next_date", _("Oppgi datoen for neste evaluering når forløpet fortsetter."))
        if goes_on and next_date is not None and next_date <= timezone.localdate():
            self.add_error("next_date", _("Neste evaluering må være etter i dag."))
        if outcome == EvaluationOutcome.END and not data.get("end_reason"):
            self.add_error("end_reason", _("Velg en årsak til avslutningen."))
        return data

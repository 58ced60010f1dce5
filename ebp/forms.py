"""The nurse's draft form: a flat Django form over the nested PlanContent document.

The form only collects and converts; `ebp.content.parse_content` decides what is valid, and its
errors are mapped back onto the form fields so each message appears beside the input it concerns.
"""

from __future__ import annotations

from django import forms

from ebp.content import BOUND_LABELS, BOUND_NAMES, FieldError, PlanContent
from ebp.selectors import ACTION_LABELS, TREND_RULE_LABELS
from measurements.types import SPECS, Colour, label
from patients.models import Diagnosis
from tenants.norwegian import time_text

FREQUENCIES = [
    ("", "Måles ikke"),
    ("daily", "Daglig"),
    ("weekly", "Noen dager i uken"),
    ("on_symptoms", "Ved symptomer"),
]
COLOURS = [(c.value, c.word) for c in (Colour.YELLOW, Colour.RED)]


def bound_field(mtype: str, component: str, bound: str) -> str:
    return f"{mtype}__{component}__{bound}"


# The trend rules' fields per kind: the form's prefix, the colour a new rule gives, and each number's
# field. A plan may hold several rules of a kind (a yellow and a red step, a short and a long
# window): the form has a row for each rule the draft holds and one empty row for a new one.
TREND_RULE_FIELDS = {
    "weight_gain": ("wg", "red", {"kg": "vektøkning minst (kg)", "days": "innen (dager)"}),
    "spo2_drop": ("sd", "yellow", {"points": "SpO2-fall minst (prosentpoeng)", "baseline": "under vanlig nivå (%)"}),
}


def rule_field(prefix: str, row: int, name: str) -> str:
    return f"{prefix}_{row}_{name}"


def _rule_number(name: str, label_text: str) -> forms.Field:
    if name == "days":
        return forms.IntegerField(label=label_text, required=False, min_value=1, max_value=14)
    return _number(label_text)


def _number(label_text: str) -> forms.DecimalField:
    return forms.DecimalField(label=label_text, required=False, decimal_places=1, max_digits=6, localize=True)


class PlanDraftForm(forms.Form):
    goals = forms.CharField(label="Hva er viktig for deg?", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    diagnoses = forms.MultipleChoiceField(
        label="Diagnoser planen gjelder", choices=Diagnosis.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    cat_enabled = forms.BooleanField(label="CAT-skjema for KOLS", required=False)
    cat_yellow_at = forms.IntegerField(label="gul fra (poeng)", required=False, min_value=0, max_value=40)
    cat_red_at = forms.IntegerField(label="rød fra (poeng)", required=False, min_value=0, max_value=40)
    contacts = forms.CharField(
        label="Kontakter (én per linje: navn; telefon; når)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    meeting_date = forms.DateField(
        label="Tverrfaglig møte, dato", required=False, widget=forms.DateInput({"type": "date"})
    )
    meeting_participants = forms.CharField(
        label="Deltakere (én per linje)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, content: PlanContent, **kwargs):
        self.content = content
        super().__init__(*args, initial=self._initial(content), **kwargs)
        for mtype, spec in SPECS.items():
            self.fields[f"{mtype}__frequency"] = forms.ChoiceField(
                label=f"{spec.label}: måles", choices=FREQUENCIES, required=False
            )
            self.fields[f"{mtype}__times_per_day"] = forms.IntegerField(
                label="ganger per dag", required=False, min_value=1, max_value=6
            )
            for component in spec.components:
                for bound in BOUND_NAMES:
                    self.fields[bound_field(mtype, component, bound)] = _number(
                        f"{label(mtype, component)}: {BOUND_LABELS[bound]} ({spec.unit_label})"
                    )
        self._add_trend_rule_fields()
        self._rule_places: list[tuple[str, int]] = []  # which row made each rule of content_data()
        for colour, _ in COLOURS:
            for name, text in ACTION_LABELS.items():
                self.fields[f"{colour}__{name}"] = forms.CharField(
                    label=text, required=False, widget=forms.Textarea(attrs={"rows": 2})
                )

    def _rule_rows(self) -> dict[str, int]:
        """kind → how many rows the form has for it: the draft's rules of that kind and one empty."""
        return {kind: 1 + sum(rule.kind == kind for rule in self.content.trend_rules) for kind in TREND_RULE_FIELDS}

    def _add_trend_rule_fields(self) -> None:
        for kind, rows in self._rule_rows().items():
            prefix, colour, numbers = TREND_RULE_FIELDS[kind]
            for row in range(rows):
                name = f"{TREND_RULE_LABELS[kind]} {row + 1}"
                for field, text in numbers.items():
                    self.fields[rule_field(prefix, row, field)] = _rule_number(field, f"{name}: {text}")
                self.fields[rule_field(prefix, row, "colour")] = forms.ChoiceField(
                    label=f"{name}: gir", choices=COLOURS, initial=colour, required=False
                )

    # --- content → form -------------------------------------------------------------------------
    @staticmethod
    def _initial(content: PlanContent) -> dict:
        initial = {"goals": content.goals, "diagnoses": content.diagnoses}
        for mtype, schedule in content.schedule.items():
            initial[f"{mtype}__frequency"] = schedule.frequency
            initial[f"{mtype}__times_per_day"] = schedule.times_per_day
        for mtype, components in content.thresholds.items():
            for component, bounds in components.items():
                for bound, value in bounds.present():
                    initial[bound_field(mtype, component, bound)] = value
        rows: dict[str, int] = {}
        for rule in content.trend_rules:
            prefix, _, numbers = TREND_RULE_FIELDS[rule.kind]
            row = rows[rule.kind] = rows.get(rule.kind, -1) + 1
            for field in (*numbers, "colour"):
                initial[rule_field(prefix, row, field)] = getattr(rule, field)
        if content.questionnaires.cat:
            cat = content.questionnaires.cat
            initial |= {"cat_enabled": True, "cat_yellow_at": cat.yellow_at, "cat_red_at": cat.red_at}
        for colour, _ in COLOURS:
            for name in ACTION_LABELS:
                initial[f"{colour}__{name}"] = getattr(getattr(content.actions, colour), name)
        initial["contacts"] = "\n".join(f"{c.name}; {c.phone}; {c.when}".rstrip("; ") for c in content.contacts)
        initial["meeting_date"] = content.meeting.date
        initial["meeting_participants"] = "\n".join(content.meeting.participants)
        return initial

    # --- form → content -------------------------------------------------------------------------
    def content_data(self) -> dict:
        """The cleaned form as a PlanContent dict (to be validated by parse_content)."""
        d = self.cleaned_data
        data = {
            "goals": d["goals"].strip(),
            "diagnoses": d["diagnoses"],
            "schedule": self._schedule(),
            "thresholds": self._thresholds(),
            "trend_rules": self._trend_rules(),
            # Questions are kept from the template/active version; the form edits the CAT bands only.
            "questionnaires": {
                "daily_symptoms": [q.model_dump(mode="json") for q in self.content.questionnaires.daily_symptoms],
                "cat": {"yellow_at": d["cat_yellow_at"] or 0, "red_at": d["cat_red_at"] or 0}
                if d["cat_enabled"]
                else None,
            },
            "actions": {colour: {n: d[f"{colour}__{n}"].strip() for n in ACTION_LABELS} for colour, _ in COLOURS},
            "contacts": self._contacts(),
            "meeting": {
                "date": d["meeting_date"].isoformat() if d["meeting_date"] else None,
                "participants": [p.strip() for p in d["meeting_participants"].splitlines() if p.strip()],
            },
        }
        return data

    def _schedule(self) -> dict:
        out = {}
        for mtype in SPECS:
            frequency = self.cleaned_data.get(f"{mtype}__frequency")
            if frequency:
                previous = self.content.schedule.get(mtype)
                out[mtype] = {
                    "frequency": frequency,
                    "times_per_day": self.cleaned_data.get(f"{mtype}__times_per_day") or 1,
                    "days_per_week": previous.days_per_week if previous else 7,
                    "times": [time_text(t) for t in previous.times] if previous else [],
                }
        return out

    def _thresholds(self) -> dict:
        out: dict = {}
        for mtype, spec in SPECS.items():
            for component in spec.components:
                bounds = {
                    bound: float(value)
                    for bound in BOUND_NAMES
                    if (value := self.cleaned_data.get(bound_field(mtype, component, bound))) is not None
                }
                if bounds:
                    out.setdefault(mtype, {})[component] = bounds
        return out

    def _trend_rules(self) -> list:
        """Every filled row, kind by kind in the form's order; a row with no number is left out (how
        the nurse removes a rule). Which row made which rule is kept for the errors' places."""
        d, rules = self.cleaned_data, []
        self._rule_places = []
        for kind, rows in self._rule_rows().items():
            prefix, colour, numbers = TREND_RULE_FIELDS[kind]
            for row in range(rows):
                values = {field: d.get(rule_field(prefix, row, field)) for field in numbers}
                if all(value is None for value in values.values()):
                    continue
                rule = {field: (int(v or 0) if field == "days" else float(v or 0)) for field, v in values.items()}
                rules.append({"kind": kind, **rule, "colour": d.get(rule_field(prefix, row, "colour")) or colour})
                self._rule_places.append((prefix, row))
        return rules

    def _contacts(self) -> list:
        contacts = []
        for line in self.cleaned_data["contacts"].splitlines():
            parts = [p.strip() for p in line.split(";")]
            if parts and parts[0]:
                contacts.append(
                    {"name": parts[0], "phone": parts[1] if len(parts) > 1 else "", "when": "; ".join(parts[2:])}
                )
        return contacts

    # --- errors from parse_content → fields -----------------------------------------------------
    def add_content_errors(self, errors: list[FieldError]) -> None:
        for error in errors:
            self.add_error(self._field_for(error.path), error.message)

    def _field_for(self, path: tuple[str, ...]) -> str | None:
        if path[0] == "thresholds" and len(path) == 4:
            name = bound_field(*path[1:])
            return name if name in self.fields else None
        if path[0] == "trend_rules" and len(path) >= 4 and path[1].isdecimal():
            index = int(path[1])
            places = self._rule_places
            name = rule_field(*places[index], path[3]) if index < len(places) else None
            return name if name in self.fields else None
        if path[:2] == ("questionnaires", "cat") and len(path) == 3:
            return f"cat_{path[2]}"
        if path[0] == "meeting" and len(path) == 2:
            return f"meeting_{path[1]}"
        if path[0] == "contacts":
            return "contacts"
        return None

    # --- layout helpers for the template --------------------------------------------------------
    def measurement_rows(self):
        """Per measurement type: its schedule fields and, per component, the four bound fields."""
        for mtype, spec in SPECS.items():
            yield {
                "type": mtype,
                "label": spec.label,
                "unit": spec.unit_label,
                "frequency": self[f"{mtype}__frequency"],
                "times_per_day": self[f"{mtype}__times_per_day"],
                "components": [
                    {
                        "label": label(mtype, component),
                        "bounds": [self[bound_field(mtype, component, bound)] for bound in BOUND_NAMES],
                    }
                    for component in spec.components
                ],
            }

    def trend_rule_rows(self):
        """Per trend rule (and the empty row of each kind): its title and its fields."""
        for kind, rows in self._rule_rows().items():
            prefix, _, numbers = TREND_RULE_FIELDS[kind]
            for row in range(rows):
                yield {
                    "label": f"{TREND_RULE_LABELS[kind]} {row + 1}",
                    "new": row == rows - 1,
                    "fields": [self[rule_field(prefix, row, field)] for field in (*numbers, "colour")],
                }

    def action_rows(self):
        for colour, colour_label in COLOURS:
            yield {"colour": colour, "label": colour_label, "fields": [self[f"{colour}__{n}"] for n in ACTION_LABELS]}

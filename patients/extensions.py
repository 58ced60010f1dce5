"""Extension points of the patients app's pages for the apps above it. patients sits low in the
layers (CONTRIBUTING, "Layers") and imports none of them, yet some of its pages show what an upper
app knows: the patient page shows triage's follow-up, the forløp board marks started patients
without an approved plan (ebp's rule), the avslutning's confirmation lists the open alerts the end
closes (triage's), and the evaluation needs to know who may adjust the plan (ebp's). An upper app
registers its part here in its `AppConfig.ready()`; patients' own tag library
(`patients/templatetags/patients_tags.py`) renders what is registered. Nothing registered: the
page shows patients' own part only.

Writes go the other way: a signal sent from patients inside the transaction
(`patients.services.status_changed`, `patients.services.evaluation_recorded`), received above."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PatientSection:
    """A part of the patient page (`patients/detail.html`, its `patient_sections` block), rendered in
    the page's own context (as `{% include %}` would): `render(context) -> html`."""

    name: str
    render: Callable[[Any], str]


@dataclass(frozen=True)
class BoardMark:
    """Badges on the forløp board's patient rows: `labels(patient_ids)` answers, for the whole board at
    once (a few queries, not some per row), which of the board's (already scoped) patients carry which
    (lazy) translated labels: patient id → labels."""

    name: str
    labels: Callable[[set[uuid.UUID]], dict[uuid.UUID, list[Any]]]

    @classmethod
    def one(cls, name: str, label: Any, marked: Callable[[set[uuid.UUID]], Iterable[uuid.UUID]]) -> BoardMark:
        """A mark of a single label: `marked(patient_ids)` answers which patients carry it."""
        return cls(name, lambda ids: {pk: [label] for pk in marked(ids)})


@dataclass(frozen=True)
class EndCloses:
    """What ending a forløp closes, on the avslutning's confirmation: `template` rendered with the
    page's context and `context(patient)` pushed onto it."""

    name: str
    template: str
    context: Callable[[Any], dict]


@dataclass(frozen=True)
class PlanHooks:
    """The plan kept above patients (ebp): who may adjust (draft) a patient's plan, which an evaluation
    with the outcome «adjust» asks before it writes anything, and when the plan in force was approved
    (the evaluation's due date of a forløp from before the status history counts from it)."""

    may_edit: Callable[[Any, Any], bool]
    approved_at: Callable[[Any], datetime.datetime | None]


_patient_sections: dict[str, PatientSection] = {}
_board_marks: dict[str, BoardMark] = {}
_end_closes: dict[str, EndCloses] = {}
_plan: list[PlanHooks] = []


def register_patient_section(section: PatientSection) -> None:
    _patient_sections[section.name] = section  # by name: a second ready() does not add it twice


def register_board_mark(mark: BoardMark) -> None:
    _board_marks[mark.name] = mark


def register_end_closes(part: EndCloses) -> None:
    _end_closes[part.name] = part


def register_plan(hooks: PlanHooks) -> None:
    _plan[:] = [hooks]  # one app keeps the plan


def patient_sections() -> list[PatientSection]:
    return list(_patient_sections.values())


def board_marks() -> list[BoardMark]:
    return list(_board_marks.values())


def end_closes() -> list[EndCloses]:
    return list(_end_closes.values())


def plan_may_edit(user, patient) -> bool:
    """Whether the user may adjust the patient's plan; with no plan app, there is nothing to refuse."""
    return all(hooks.may_edit(user, patient) for hooks in _plan)


def plan_approved_at(patient) -> datetime.datetime | None:
    """When the patient's plan in force was approved; None without a plan (or a plan app)."""
    return _plan[0].approved_at(patient) if _plan else None

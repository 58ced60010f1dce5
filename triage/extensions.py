"""Extension points of triage's pages for the apps above it (CONTRIBUTING, "Layers"): triage imports
none of them, yet the notes it lists on the patient page (`triage/_patient_follow_up.html`) have a
life after they are written that only an upper app knows — journaling sends them to the kommune's EPJ
and follows the receipt. An upper app registers its marks here in its `AppConfig.ready()`; triage's
patient section (`triage/patient_page.py`) asks every registered one once for all the notes and
contacts on the page and shows what it answers beside each. Nothing registered: the notes as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

NOTE = "note"  # a handled alert's JournalNote
CONTACT = "contact"  # a Contact (routine, evaluation, the patient calling in)


@dataclass(frozen=True)
class NoteMark:
    """What an upper app shows beside one note or contact: `html`, already rendered and safe (its
    own template, so triage's template loads no library of an upper app), and `sent`: the note leaves
    the platform by itself, so the page does not offer «Kopier til journal» for it."""

    html: str
    sent: bool = False


@dataclass(frozen=True)
class NoteMarks:
    """`marks(notes, contacts)` answers for all the page's notes and contacts at once (a query, not
    one per row): {(NOTE, note id) or (CONTACT, contact id): NoteMark}; a row it has nothing to say
    about is left out."""

    name: str
    marks: Callable[[list[Any], list[Any]], dict[tuple[str, int], NoteMark]]


_note_marks: dict[str, NoteMarks] = {}


def register_note_marks(part: NoteMarks) -> None:
    _note_marks[part.name] = part  # by name: a second ready() does not add it twice


def note_marks(notes: Iterable[Any], contacts: Iterable[Any]) -> dict[tuple[str, int], list[NoteMark]]:
    """Every registered app's marks for these notes and contacts, by (kind, id)."""
    notes, contacts = list(notes), list(contacts)
    found: dict[tuple[str, int], list[NoteMark]] = {}
    if not notes and not contacts:
        return found
    for part in _note_marks.values():
        for key, mark in part.marks(notes, contacts).items():
            found.setdefault(key, []).append(mark)
    return found

"""Extension points of measurements for the apps above it (CONTRIBUTING, "Layers"). measurements
imports none of them, yet archiving a month of readings and answers (measurements/partitions.py,
`manage.py archive_partitions`) must not take rows an upper app still needs: triage shows an open
alert with the readings and answers that raised it, and journaling builds a handled alert's document
from them until it is delivered. An upper app registers an ArchiveHold in its `AppConfig.ready()`;
the command asks each one and refuses a month any of them holds, naming what holds it. Nothing
registered: nothing holds a month."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ArchiveHold:
    """`months(before)` answers which months before `before` (midnight in Oslo on the first of the
    month `--before` names) it still needs, and why: {first day of the month: [what holds it, in
    Norwegian]}. Called inside the command's system scope."""

    name: str
    months: Callable[[datetime.datetime], dict[datetime.date, list[str]]]


_archive_holds: dict[str, ArchiveHold] = {}


def register_archive_hold(hold: ArchiveHold) -> None:
    _archive_holds[hold.name] = hold


def archive_holds() -> list[ArchiveHold]:
    return list(_archive_holds.values())


def named(ids, one: str, many: str, shown: int = 3) -> str:
    """«2 åpne varsler (id1, id2)»: how many, and the first few ids (for the operator to look up)."""
    ids = sorted(str(i) for i in ids)
    listed = ", ".join(ids[:shown]) + (f" og {len(ids) - shown} til" if len(ids) > shown else "")
    return f"{len(ids)} {one if len(ids) == 1 else many} ({listed})"

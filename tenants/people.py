"""How a person is named on pages, in PDFs, exports, the journal and the API: one rule for all.

A user's full name, or the username when no name is recorded (a gateway's or an admin's account
often has none). Templates use the `display_name` filter (`{% load people %}`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model


def display_name(user: Any) -> str:
    """«Kari Nordmann», or «knordmann» without a full name; "" for no user."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def people_named(user_ids: Iterable[int | None]) -> dict[int, str]:
    """Each of these users' display_name, read in one query of the fields it uses: for a page that
    names the same few people on many rows (a patient's alert history, its contacts). None is skipped."""
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return {}
    user = get_user_model()
    rows = user.objects.filter(pk__in=ids).only(user.USERNAME_FIELD, "first_name", "last_name")
    return {person.pk: display_name(person) for person in rows}

"""How a person is named on pages, in PDFs, exports, the journal and the API: one rule for all.

A user's full name, or the username when no name is recorded (a gateway's or an admin's account
often has none). Templates use the `display_name` filter (`{% load people %}`).
"""

from __future__ import annotations

from typing import Any


def display_name(user: Any) -> str:
    """«Kari Nordmann», or «knordmann» without a full name; "" for no user."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()

"""Stand-ins for national services (HelseID, and soon NHN's journaling service) that cannot be
reached from a developer's machine or CI.

They are real HTTP servers that verify what our clients send as strictly as the real services do
(signatures, DPoP, lifetimes, replays), never mocks that accept anything. Nothing in the product
imports this package (`tests/dev/test_dev_guard.py` checks), and it refuses to load outside debug
or test mode: a stand-in that issues tokens must never run beside production settings.
"""

import os

__all__ = ["refuse_outside_development"]


def _flag(name: str) -> bool:
    # The same reading of a flag as dho.settings.env_bool, without importing the settings: the
    # stand-in servers run in processes of their own that never set up Django.
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def refuse_outside_development() -> None:
    if not (_flag("DHO_DEBUG") or _flag("DHO_TESTING")):
        raise RuntimeError(
            "dho.dev (stand-ins for nasjonale tjenester) kan bare brukes når DHO_DEBUG eller DHO_TESTING er på."
        )


refuse_outside_development()

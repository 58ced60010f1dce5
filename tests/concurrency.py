"""A second request at the same moment as the test's own: for tests of what two clicks, two submits
or two admins do at once.

The test's transaction has written (and holds the locks of) the first request; `at_the_same_moment`
sends the second from another thread, so from a connection of its own, which cannot see the first's
rows until they are committed and must wait for its locks. Locking code makes the second wait; code
that checks before it locks lets it through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from django.db import OperationalError, connection, transaction

from tenants.rls import scoped

WAITED = "waited"


def at_the_same_moment(municipality_ids: Iterable[int], second: Callable[[], str]) -> str:
    """Run `second` in another thread, in the scope of these municipalities, giving up on a lock after
    a second: WAITED when it waited for one that long, else what `second` returned. Whatever it did is
    rolled back."""
    outcome: list[str] = []

    def run():
        try:
            with scoped(list(municipality_ids)):
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                outcome.append(second())
                transaction.set_rollback(True)  # nothing of the second request stays, whatever it did
        except OperationalError:
            outcome.append(WAITED)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return outcome[0] if outcome else "no answer within 30 s"

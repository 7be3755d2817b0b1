"""The one clock every deadline of a request is set and compared by: the database's.

The portal's machines may step their clocks (NTP after a drift, a VM resumed, a
wrong time zone fixed). A deadline set by one machine's clock and compared by
another's, or by the same one after a step, falls due early or stalls: approvals
expired all at once after a step forward, retries stalled after a step back.
PostgreSQL's clock_timestamp() is shared by every process; on other databases
(SQLite, for development) this process's clock stands in.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone


def database_now() -> dt.datetime:
    """Now, by the database's clock (aware, UTC)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()

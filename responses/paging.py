"""Pages of request lists that stay fast at a million rows.

A plain ``Paginator`` runs ``COUNT(*)`` over every matching row on every page:
at a million requests that costs more than the page itself. ``BoundedPaginator``
counts at most ``COUNT_LIMIT`` + 1 rows (an index range, whatever the table's
size) and says so honestly when there are more ("more than 10,000"): the pages
reach the newest ``COUNT_LIMIT`` matches, and the filters (a date range, a host)
reach older ones. The web lists and the API list use it alike.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from audit.paging import keyset_batches  # noqa: F401 (its home is audit/paging.py: the export and the chains use it)

# How many matching rows a list counts exactly; past it, the count reads "more than".
COUNT_LIMIT = 10_000


class BoundedPaginator(Paginator):
    """A paginator whose count stops at ``COUNT_LIMIT``; ``count_is_exact`` says whether it did."""

    count_limit = COUNT_LIMIT

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if hasattr(rows, "values"):
            # Count keys only, in no order: the list's annotations (per-row subqueries) and its sort
            # are left out of the count, which is the same in any order.
            rows = rows.values("pk").order_by()
        counted = rows[: self.count_limit + 1].count() if hasattr(rows, "count") else len(rows)
        self._exact = counted <= self.count_limit
        return min(counted, self.count_limit)

    @property
    def count_is_exact(self) -> bool:
        """False when more rows match than were counted (the count is then a lower bound)."""
        return self.count < self.count_limit or self._exact

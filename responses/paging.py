"""Pages of request lists that stay fast at a million rows.

A plain ``Paginator`` runs ``COUNT(*)`` over every matching row on every page:
at a million requests that costs more than the page itself. Two paginators here:

``BoundedPaginator`` (the API list) counts at most ``COUNT_LIMIT`` + 1 rows and says
so honestly when there are more ("more than 10,000", ``count_is_exact`` false): the
pages reach the newest ``COUNT_LIMIT`` matches, and the filters (a date range, a host)
reach older ones.

``EstimatingPaginator`` (the web lists) first asks PostgreSQL's planner how many rows
the list has (``EXPLAIN``: no row is read). Then:

- a list the planner puts above ``COUNT_LIMIT`` is not counted at all: the page says
  "about N" (the estimate, rounded to two figures), never an exact-looking number;
- a small list (at most ``WINDOW_LIMIT`` estimated) is counted by the page's own query
  (``COUNT(*) OVER ()``): one query instead of two, which is what a slow search
  (trigram ``LIKE`` over the justification) needs;
- anything between gets the bounded count, exact up to ``COUNT_LIMIT``.

Without the planner (SQLite) it is the bounded paginator. An estimate that was too
high shows itself at most as an empty page past the end: that page falls back to the
exact count and shows the last page instead.

Both fetch a page far in (``?page=150``) by a deferred join: the page's ids first
(an index-only range over ``rr_created_id_idx``), then the rows and their
per-row subqueries for those 50 ids only, instead of reading and discarding the
7,450 wide rows before them.
"""

from __future__ import annotations

import json

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import Count, Window
from django.utils.functional import cached_property

from audit.paging import keyset_batches  # noqa: F401 (its home is audit/paging.py: the export and the chains use it)

# How many matching rows a list counts exactly; past it, the count reads "more than" (or "about").
COUNT_LIMIT = 10_000
# The web lists count a list the planner puts at no more than this many rows in the page's own query.
WINDOW_LIMIT = 2_000
# The name of the page query's window count (an annotation; nothing else uses it).
TOTAL = "paging_total"


def _keys(rows):
    """The list's keys in its order, without its annotations, select_related or prefetches."""
    return rows.values("pk")


class BoundedPaginator(Paginator):
    """A paginator whose count stops at ``COUNT_LIMIT``; ``count_is_exact`` says whether it did."""

    count_limit = COUNT_LIMIT
    # The planner's estimate when the list was not counted ("about N"); None when it was.
    count_estimate: int | None = None

    @cached_property
    def count(self) -> int:
        return self._bounded_count()

    def _bounded_count(self) -> int:
        rows = self.object_list
        if hasattr(rows, "values"):
            # Count keys only, in no order: the list's annotations (per-row subqueries) and its sort
            # are left out of the count, which is the same in any order.
            rows = _keys(rows).order_by()
        counted = rows[: self.count_limit + 1].count() if hasattr(rows, "count") else len(rows)
        self._exact = counted <= self.count_limit
        return min(counted, self.count_limit)

    @property
    def count_is_exact(self) -> bool:
        """False when more rows match than were counted (the count is then a lower bound or an estimate)."""
        if self.count_estimate is not None:
            return False
        return self.count < self.count_limit or self._exact

    def _slice(self, bottom: int, top: int):
        """Rows ``bottom`` to ``top`` of the list: past the first page, by their ids first (a deferred join)."""
        rows = self.object_list
        if bottom == 0 or not hasattr(rows, "values"):
            return rows[bottom:top]
        return rows.filter(pk__in=_keys(rows)[bottom:top])

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self._slice(bottom, top), number, self)


def planner_estimate(rows) -> int | None:
    """How many rows PostgreSQL's planner expects ``rows`` to have (an EXPLAIN, nothing read); None elsewhere."""
    if not hasattr(rows, "explain") or connections[rows.db].vendor != "postgresql":
        return None
    if rows.query.is_empty():  # .none(): a filter that did not validate; nothing to ask
        return 0
    try:
        plan = json.loads(_keys(rows).order_by().explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])
    except (ValueError, LookupError, TypeError):
        return None  # a plan not as expected: the bounded count, as without a planner


def about(estimate: int) -> int:
    """An estimate as a person says it: two significant figures (25,853 -> 26,000)."""
    if estimate < 100:
        return estimate
    scale = 10 ** (len(str(estimate)) - 2)
    return int(round(estimate / scale)) * scale


class EstimatingPaginator(BoundedPaginator):
    """The web lists' paginator: the planner's estimate first, then no count, the page's own count, or the bounded one."""

    window_limit = WINDOW_LIMIT

    @cached_property
    def estimate(self) -> int | None:
        return planner_estimate(self.object_list)

    def page(self, number) -> Page:
        estimate = self.estimate
        if estimate is None or self.window_limit < estimate <= self.count_limit:
            return super().page(number)
        self.count_estimate = None
        number = self._whole_number(number)
        if estimate > self.count_limit:
            return self._estimated_page(number, estimate)
        return self._counted_by_the_page(number)

    def _whole_number(self, number) -> int:
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def _estimated_page(self, number: int, estimate: int) -> Page:
        """Not counted: "about N"; the pages reach the newest COUNT_LIMIT rows, as a bounded count's do."""
        self.__dict__["count"] = self.count_limit
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # One row more than the page: whether another page follows is then known, not estimated.
        rows = list(self._slice(bottom, bottom + self.per_page + 1))
        if len(rows) > self.per_page:
            self.count_estimate = max(about(estimate), bottom + len(rows))
            return self._get_page(rows[: self.per_page], number, self)
        if rows or number == 1:
            # The list ends on this page: its count is known exactly, whatever the planner said.
            self._exact = True
            self.__dict__["count"] = bottom + len(rows)
            self.__dict__.pop("num_pages", None)
            return self._get_page(rows, number, self)
        # Past the end (fewer rows than the planner thought): count them after all, and show the last page.
        self._recount()
        return super().page(min(number, self.num_pages))

    def _counted_by_the_page(self, number: int) -> Page:
        """A small list: the page's query counts the whole list too (COUNT(*) OVER (), before LIMIT)."""
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list.annotate(**{TOTAL: Window(Count("pk"))})[bottom : bottom + self.per_page])
        if not rows:
            self._recount()
            if number == 1 and self.allow_empty_first_page:
                return self._get_page(rows, 1, self)
            raise EmptyPage(self.error_messages["no_results"])
        total = getattr(rows[0], TOTAL)
        self._exact = total <= self.count_limit
        self.__dict__["count"] = min(total, self.count_limit)
        self.__dict__.pop("num_pages", None)
        number = self.validate_number(number)  # past COUNT_LIMIT: the same reach as the bounded count
        return self._get_page(rows[: self.count - bottom], number, self)

    def _recount(self) -> None:
        self.count_estimate = None
        self.__dict__["count"] = self._bounded_count()
        self.__dict__.pop("num_pages", None)

    def get_page(self, number) -> Page:
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return self.page(max(1, self.num_pages))

"""Reading a long table in batches without holding a cursor open (the export, every chain's verification)."""

from __future__ import annotations

from collections.abc import Iterator


def keyset_batches(rows, key: str, size: int) -> Iterator[list]:
    """``rows`` in batches of ``size``, ordered by the unique ``key``, each batch one query.

    Keyset paging (``key > last seen``), not OFFSET and not a server-side cursor: nothing
    is held open across a long stream (an export, a verification of every chain), and
    each query is an index range however far in it is.
    """
    after = None
    while True:
        page = rows if after is None else rows.filter(**{f"{key}__gt": after})
        batch = list(page.order_by(key)[:size])
        if batch:
            yield batch
        if len(batch) < size:
            return
        after = getattr(batch[-1], key)

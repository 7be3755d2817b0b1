"""Walk the audit hash chain and report the first broken link."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from responses.models import AuditChainHead, RequestEvent


class Command(BaseCommand):
    help = (
        "Recompute the hash chain over every request event, in order. Prints the first event that was "
        "changed, removed or inserted out of order and exits 1; prints the count and exits 0 when intact."
    )

    def handle(self, *args, **options):
        expected_seq, prev_hash, checked = 1, "0" * 64, 0
        for event in self._events_in_order():
            where = f"event seq {event.seq} (id {event.pk}, request {event.request.uuid}, {event.kind})"
            if event.seq != expected_seq:
                raise CommandError(
                    f"broken chain at {where}: expected seq {expected_seq}; events before it were deleted",
                    returncode=1,
                )
            if event.prev_hash != prev_hash:
                raise CommandError(f"broken chain at {where}: it does not link to the event before it", returncode=1)
            if event.compute_hash(str(event.request.uuid)) != event.hash:
                raise CommandError(
                    f"broken chain at {where}: its content was changed after it was written", returncode=1
                )
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
        head = AuditChainHead.objects.filter(pk=1).first()
        if head is not None and (head.last_seq, head.last_hash) != (expected_seq - 1, prev_hash):
            raise CommandError(
                f"broken chain at its end: the last event is seq {expected_seq - 1}, "
                f"but {head.last_seq} were written; the latest events were deleted",
                returncode=1,
            )
        self.stdout.write(f"audit chain intact: {checked} events verified")

    @staticmethod
    def _events_in_order(chunk: int = 2000):
        """Every event by seq, a chunk at a time (keyset paging: no cursor held across the walk)."""
        after = 0
        while True:
            batch = list(RequestEvent.objects.select_related("request").filter(seq__gt=after).order_by("seq")[:chunk])
            yield from batch
            if len(batch) < chunk:
                return
            after = batch[-1].seq

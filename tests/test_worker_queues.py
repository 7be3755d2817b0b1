"""A worker on `ksc notify` under overload: notifications do not starve behind submissions.

With 2,000 requests approved at once, RQ's default order (always the first queue while it has
jobs) sent the first e-mail 81 s after the workers started. The portal's worker takes its queues
in turn. Real RQ on the test Redis, the portal's worker in burst mode, in this process.
"""

from __future__ import annotations

import django_rq

from worker.rq_worker import PortalWorker

ORDER_KEY = "test-worker-queues:order"


def record(name: str) -> str:
    """A job that notes, in Redis, that it ran."""
    from rq import get_current_job

    get_current_job().connection.rpush(ORDER_KEY, name)
    return name


def test_a_notification_waits_for_one_submission_not_for_the_whole_backlog(ksc_queue):
    notify = django_rq.get_queue("notify")
    connection = ksc_queue.connection
    for index in range(20):
        ksc_queue.enqueue(record, f"submission {index}")
    notify.enqueue(record, "approval needed e-mail")
    notify.enqueue(record, "digest")

    PortalWorker([ksc_queue, notify], connection=connection).work(burst=True, with_scheduler=False)

    order = [name.decode() for name in connection.lrange(ORDER_KEY, 0, -1)]
    assert len(order) == 22  # everything ran
    assert order.index("approval needed e-mail") <= 1, order[:5]  # after at most one submission
    assert order.index("digest") <= 3, order[:5]
    assert order[-1] == "submission 19"  # and submissions keep their own order


def test_a_worker_on_one_queue_keeps_rqs_order(ksc_queue):
    connection = ksc_queue.connection
    for index in range(3):
        ksc_queue.enqueue(record, f"submission {index}")
    PortalWorker([ksc_queue], connection=connection).work(burst=True, with_scheduler=False)
    assert [name.decode() for name in connection.lrange(ORDER_KEY, 0, -1)] == [
        "submission 0",
        "submission 1",
        "submission 2",
    ]

"""The `notify` queue: dispatching audit events into messages, delivering them, the periodic sweep.

Runs beside the `ksc` queue (``manage.py rqworker ksc notify``; the worker's keeper moves its retries and keeps its sweep scheduled).
Nothing here touches a request: a message that cannot be delivered is retried
with backoff (NOTIFY_TRIES quick tries, NOTIFY_BACKOFF doubling), then, while
NOTIFY_GIVE_UP_AFTER has not passed since it was written, again and again by the
sweep with the back-off still doubling up to an hour (next_try_at); only then is
it recorded as failed, and administrators see it (notify_tags.undelivered_notice).
The workflow step that caused it committed long before.

What keeps it honest when Redis or a worker is lost: the dispatch of an event
is marked by an EventDispatch row (so it happens once), and the sweep
(every NOTIFY_SWEEP_INTERVAL) dispatches events of the last hour that have
none, sends messages whose job is gone, and sends the one reminder.
"""

from __future__ import annotations

import datetime as dt
import logging

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Retry, get_current_job

from notifications import channels, messages, routing
from notifications.models import Channel, DeliveryStatus, EventDispatch, Notification, NotificationKind
from responses.models import EventKind, RequestEvent, ResponseRequest, Status
from responses.queueing import JOB_FAILURE_TTL, JOB_RESULT_TTL
from worker import duties
from worker.liveness import job_is_alive

log = logging.getLogger(__name__)

QUEUE = "notify"
SWEEP_JOB_ID = "portal-notifications-sweep"
# Events older than this are not dispatched late by the sweep: a day-old "approval needed" is noise.
CATCH_UP = dt.timedelta(hours=1)
# The sweep leaves events and messages this fresh to the jobs queued for them.
SWEEP_GRACE = dt.timedelta(seconds=30)
# The longest wait between two tries of a message the quick tries could not deliver: a mail server
# down for a night is tried at least hourly, and its backlog goes within the hour it comes back.
RETRY_CAP = dt.timedelta(hours=1)


def backoff() -> list[int]:
    """Seconds between a message's tries: NOTIFY_BACKOFF doubling, NOTIFY_TRIES - 1 of them."""
    return [settings.NOTIFY_BACKOFF * 2**index for index in range(settings.NOTIFY_TRIES - 1)]


def _queue():
    return django_rq.get_queue(QUEUE)


def enqueue_dispatch(event_id: int) -> None:
    """After the commit of a transition: queue the dispatch of its event. Never raises."""
    try:
        _queue().enqueue_call(
            dispatch_event,
            args=(event_id,),
            job_id=f"notify-event-{event_id}",
            result_ttl=JOB_RESULT_TTL,
            failure_ttl=JOB_FAILURE_TTL,
        )
    except Exception as exc:  # Redis down: the sweep dispatches it when the worker runs again
        log.warning("event %s: could not queue its notifications: %s", event_id, exc.__class__.__name__)


def later_try(attempts: int, now: dt.datetime) -> dt.datetime:
    """When a message whose quick tries all failed is tried again: the back-off keeps doubling, capped."""
    wait = dt.timedelta(seconds=settings.NOTIFY_BACKOFF * 2 ** min(max(attempts - 1, 0), 20))
    return now + min(wait, RETRY_CAP)


def push_delivery(note: Notification, delay: int = 0) -> bool:
    """Queue the delivery of one message (its UUID is the job id); False when Redis refused.

    The job gets the quick tries the message has left (NOTIFY_TRIES counts them all): a message
    the sweep sends again after its quick tries gets one try per round.
    """
    left = max(settings.NOTIFY_TRIES - 1 - note.attempts, 0)
    options = {
        "args": (str(note.uuid),),
        "job_id": str(note.uuid),
        "retry": Retry(max=left, interval=backoff()[-left:]) if left else None,
        # The row keeps each message's outcome: RQ's records go soon, so a flood does not grow Redis for days.
        "result_ttl": JOB_RESULT_TTL,
        "failure_ttl": JOB_FAILURE_TTL,
    }
    try:
        if delay:
            _queue().enqueue_in(dt.timedelta(seconds=delay), deliver, **options)
        else:
            # At the front: a message already planned goes before the events still to dispatch,
            # or under a flood (thousands approved at once) no e-mail would leave before every
            # event had been dispatched, each waiting its turn behind a submission.
            _queue().enqueue_call(deliver, at_front=True, **options)
    except RedisError as exc:
        log.warning("notification %s: could not queue it: %s", note.uuid, exc)
        return False
    return True


def send_plan(plan: routing.Plan) -> None:
    for note in plan.to_send:
        push_delivery(note)
    for digest in plan.new_digests:
        push_delivery(digest, delay=settings.NOTIFY_BURST_WINDOW)


def dispatch_event(event_id: int) -> int:
    """Plan and queue the messages one audit event causes, once. Returns how many were planned."""
    event = RequestEvent.objects.select_related("request", "request__requester").filter(pk=event_id).first()
    kind = routing.kind_for(event) if event is not None else None
    if kind is None or not channels.enabled():
        return 0
    try:
        with transaction.atomic():
            EventDispatch.objects.create(event=event)
            plan = routing.plan(kind, event.request, event=event)
    except IntegrityError:
        return 0  # dispatched already (the job ran twice, or the sweep got there first)
    send_plan(plan)
    return len(plan.to_send) + len(plan.new_digests)


# --- Delivery ---------------------------------------------------------------------------------


def _claim(key: str) -> Notification | None:
    updated = Notification.objects.filter(
        uuid=key, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1)
    return Notification.objects.select_related("request").get(uuid=key) if updated == 1 else None


def _fill_digest(digest: Notification) -> None:
    """A digest's words are written when it goes out: by then its parts are fixed (they join only while pending)."""
    if digest.body:
        return
    parts = list(digest.parts.select_related("request").order_by("created_at", "id"))
    composed = messages.compose_digest(
        [part.request for part in parts], language=digest.language, fmt=digest.body_format
    )
    digest.subject, digest.body = composed.subject, composed.body
    digest.save(update_fields=["subject", "body"])


def _card(note: Notification):
    """What a Slack or Mattermost message says: with buttons while its request waits, else its words as planned."""
    from notifications import chat_actions

    if note.request is not None and note.kind in chat_actions.INTERACTIVE_KINDS:
        return chat_actions.card(note.request, note.kind, fmt=note.body_format, language=note.language, event=note.event)
    return chat_actions.Card(kind=note.kind, request=note.request, subject=note.subject, body=note.body)


def send(note: Notification) -> None:
    """Send one message now through its channel; raises channels.DeliveryFailed."""
    if note.channel == Channel.EMAIL:
        channels.send_email(note.address, note.subject, note.body, note.language)
        return
    group, server, index = channels.parse_destination(note.destination)  # "chat:0", "slack@acme:0"...
    if group == "slack":
        from notifications import slack

        slack.send(index, note.channel_key, _card(note), server=server)
    elif group == "mattermost":
        from notifications import mattermost

        mattermost.send(index, note.channel_key, _card(note), server=server)
    else:
        channels.send_chat(
            index,
            note.channel_key,
            note.subject,
            note.body,
            note.body_format,
            routing.notify_type(note.kind),
            group=group,
            server=server,
        )


def deliver(key: str) -> str:
    """The job: send one message, record the result; RQ retries it with backoff while tries are left."""
    note = _claim(key)
    if note is None:
        return "skipped"  # delivered already, or sent in a digest
    if note.kind == NotificationKind.DIGEST:
        _fill_digest(note)
    job = get_current_job()
    last_try = job is None or not job.retries_left
    try:
        send(note)
    except Exception as exc:
        # A channel's refusal, or a bug of ours: either way the row says why and the next try can claim it.
        if isinstance(exc, channels.DeliveryFailed):
            reason = str(exc)
        else:
            # Never "internal error: IntegrityError" on a page: what it means, and where the details are.
            log.exception("notification %s: the portal failed while sending it", note.uuid)
            reason = "The portal failed while sending this message (not the channel); the details are in the worker's log."
        now, next_try = timezone.now(), None
        if not last_try:
            status = DeliveryStatus.RETRYING  # RQ's Retry runs it again after the backoff
        elif now < note.give_up_at:
            # A mail server down longer than the quick tries: the sweep sends it again then (requeue_lost).
            status, next_try = DeliveryStatus.RETRYING, min(later_try(note.attempts, now), note.give_up_at)
        else:
            status = DeliveryStatus.FAILED
        Notification.objects.filter(pk=note.pk).update(status=status, last_error=reason, next_try_at=next_try)
        log.warning("notification %s (%s to %s): try %d failed: %s", key, note.kind, note.label, note.attempts, reason)
        if not last_try:
            raise
        if status == DeliveryStatus.FAILED:
            log.error("notification %s (%s to %s): given up after %d tries", key, note.kind, note.label, note.attempts)
            return "failed"
        return "waiting"
    Notification.objects.filter(pk=note.pk).update(
        status=DeliveryStatus.DELIVERED, sent_at=timezone.now(), last_error="", next_try_at=None
    )
    if note.kind == NotificationKind.DIGEST:
        note.parts.update(sent_at=timezone.now())
    return "delivered"


# --- After a click in chat: the message updated in place ---------------------------------------


def queue_connection():
    """The `notify` queue's Redis (the chat endpoints' replay guard uses it too)."""
    return _queue().connection


def follow_up_chat(service: str, target: str, request_key: str, kind: str, told: str) -> None:
    """After a click: update the chat message (``request_key`` set) and tell the clicker ``told``.

    Slack's ``target`` is the click's response_url, Mattermost's the post id. Queued on `notify`
    (Slack wants its answer within three seconds); done at once when Redis refuses. Never raises.
    """
    if not target:
        return
    try:
        _queue().enqueue_call(
            update_chat_message,
            args=(service, target, request_key, kind, told),
            at_front=True,
            result_ttl=JOB_RESULT_TTL,
            failure_ttl=JOB_FAILURE_TTL,
        )
    except RedisError:
        try:
            update_chat_message(service, target, request_key, kind, told)
        except Exception as exc:
            log.warning("%s: could not update the message after a click: %s", service, exc.__class__.__name__)


def update_chat_message(service: str, target: str, request_key: str, kind: str, told: str) -> str:
    """The job: re-render the message from the request as it stands now (who did what) and replace it."""
    from notifications import chat_actions, mattermost, slack

    try:
        rr = ResponseRequest.objects.filter(uuid=request_key).first() if request_key else None
        card = chat_actions.card(rr, kind) if rr is not None else None
        if service == "slack":
            if card is not None:
                slack.replace(target, card)
            if told:
                slack.tell(target, told)
        elif service == "mattermost" and card is not None:
            mattermost.patch_post(target, card)
    except channels.DeliveryFailed as exc:
        # The URL holds a token: only the reason is logged.
        log.warning("%s: the message was not updated after a click: %s", service, exc)
        return "failed"
    return "updated"


# --- The sweep: one reminder, late dispatch, lost jobs --------------------------------------


def remind_after(request: ResponseRequest) -> dt.timedelta | None:
    """How long a request waits before its reminder: APPROVAL_REMIND_AFTER, or half its window."""
    if settings.APPROVAL_REMIND_AFTER == 0 or request.expires_at is None:
        return None
    if settings.APPROVAL_REMIND_AFTER is not None:
        return dt.timedelta(seconds=settings.APPROVAL_REMIND_AFTER)
    return (request.expires_at - request.created_at) / 2


def remind_overdue(now: dt.datetime | None = None) -> int:
    """One reminder to approvers and channels for each request still pending past its reminder time."""
    now = now or timezone.now()
    waiting = (
        ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL, expires_at__gt=now)
        .exclude(notifications__kind=NotificationKind.REMINDER)
        .select_related("requester")
        .order_by("created_at")
    )
    reminded = 0
    for request in waiting:
        after = remind_after(request)
        if after is None or request.created_at + after > now:
            continue
        try:
            plan = routing.plan(NotificationKind.REMINDER, request)
        except IntegrityError:
            continue  # another sweep reminded it meanwhile
        send_plan(plan)
        reminded += 1 if plan.to_send or plan.new_digests else 0
    return reminded


def remind_snoozed(now: dt.datetime | None = None) -> int:
    """A reminder snoozed from chat comes back when its snooze ends, once, if the request still waits.

    Found in the database (the ``snoozed`` events of the last day without a dispatch), so a restart
    or a Redis flush delays it by one sweep at most; the EventDispatch row makes it happen once.
    """
    from responses import review

    now = now or timezone.now()
    snoozes = (
        RequestEvent.objects.filter(
            kind=EventKind.SNOOZED,
            request__status=Status.PENDING_APPROVAL,
            created_at__gte=now - dt.timedelta(days=1),
        )
        .exclude(pk__in=EventDispatch.objects.values("event_id"))
        .select_related("request", "request__requester")
        .order_by("created_at")
    )
    reminded = 0
    for event in snoozes:
        until = review.snoozed_until(event)
        if until is None or until > now:
            continue
        try:
            with transaction.atomic():
                EventDispatch.objects.create(event=event)
                plan = routing.plan(NotificationKind.SNOOZE_ENDED, event.request, event=event)
        except IntegrityError:
            continue  # another sweep sent it
        send_plan(plan)
        reminded += 1
    return reminded


def catch_up(now: dt.datetime | None = None) -> int:
    """Dispatch the last hour's events whose job never ran (Redis was down at the commit)."""
    now = now or timezone.now()
    missed = (
        RequestEvent.objects.filter(
            routing.may_cause_messages(), created_at__gte=now - CATCH_UP, created_at__lte=now - SWEEP_GRACE
        )
        .exclude(pk__in=EventDispatch.objects.values("event_id"))
        .values_list("pk", flat=True)
    )
    return sum(1 for event_id in list(missed) if dispatch_event(event_id))


def requeue_lost(now: dt.datetime | None = None) -> int:
    """Messages whose job is gone (Redis lost it, or the worker died mid-send), and messages whose
    next try after the quick ones is due (next_try_at): queue them again.

    A message cut off while sending may have left; sending it again risks a
    duplicate, which beats a lost "approval needed".
    """
    now = now or timezone.now()
    queue = _queue()
    stale = Notification.objects.filter(
        Q(next_try_at__isnull=True) | Q(next_try_at__lte=now),
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING],
        created_at__lte=now - SWEEP_GRACE - dt.timedelta(seconds=settings.NOTIFY_BURST_WINDOW),
    )
    requeued = 0
    stale = list(stale)
    queued = set(queue.get_job_ids()) if stale else set()
    for note in stale:
        if job_is_alive(str(note.uuid), queue, queued):
            continue
        # Conditional: a job that finished meanwhile has moved the row on.
        moved = Notification.objects.filter(pk=note.pk, status=note.status).update(
            status=DeliveryStatus.PENDING, next_try_at=None
        )
        if moved != 1:
            continue
        if push_delivery(note):
            requeued += 1
    return requeued


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    from notifications import escalation

    if not channels.enabled():
        return {"reminded": 0, "snoozes_ended": 0, "caught_up": 0, "requeued": 0, "escalated": 0}
    return {
        "reminded": remind_overdue(now),
        "snoozes_ended": remind_snoozed(now),
        "escalated": escalation.escalate_overdue(now),  # from the database: survives restarts and Redis flushes
        "caught_up": catch_up(now),
        "requeued": requeue_lost(now),
    }


@duties.periodic("notifications-sweep", every="NOTIFY_SWEEP_INTERVAL", job_id=SWEEP_JOB_ID, queue=QUEUE)
def sweep_periodically() -> dict[str, int]:
    """The scheduled sweep, every NOTIFY_SWEEP_INTERVAL on the `notify` queue."""
    return sweep()


schedule_sweep = sweep_periodically.schedule  # idempotent unless ``force``

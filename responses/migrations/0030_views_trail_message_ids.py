"""Trail messages as data (issue 25, point 7): each event the system worded keeps its message id and arguments.

Existing rows keep their text, which is hashed into their request's chain: only the two new columns
(outside the hash) are filled, for the rows whose text is one of the messages below as the system
wrote them (an analyst's justification or comment is never read as one). The list is this
migration's own copy of the messages the trail's writers had when it was written.
"""

import re

from django.db import migrations, models

MESSAGES = (
    "Held back: %(cap)d requests were submitted to KSC in the last hour (KSC_SUBMIT_HOURLY_CAP).",
    "Held back: %(cap)d requests were submitted to KSC server %(server)s in the last hour "
    "(its hourly_cap, or KSC_SUBMIT_HOURLY_CAP).",
    "Held back: %(limit)d [Response] tasks are still open on KSC server %(server)s (its inflight_tasks).",
    '%(error)s — KSC may have created this incident; the portal keeps checking.',
    "An earlier attempt's AddIncident may still be carried out by KSC: waiting before adding, so that KSC does not get a duplicate.",
    "An unexpected error in the portal (%(error)s); the administrators find the details in the worker's log.",
    'Could not queue the submission (%(error)s); it will be queued when the queue is back.',
    'DUPLICATE NOT REMOVED: KSC holds incidents %(ids)s for this one request; kept %(kept)s, but could not delete %(failed)s (%(errors)s). Delete them in KSC by hand, or KES may carry out this response twice.',
    "Held back: KSC's TLS certificate was not accepted (%(error)s); nothing was sent. The request goes on by itself once the certificate verifies again; an administrator must check KSC_CERT.",
    'KSC answered with incident id %(id)s, which this portal already holds for another request: check KSC (a KSC database restored from a backup, or another portal using the same server).',
    'KSC held incidents %(ids)s for this one request (a slow KSC carried out an earlier AddIncident late); kept %(kept)s, deleted the duplicate %(removed)s with DeleteIncident.',
    'KSC holds incident %(id)s for this request after all; sending it on to adopt it.',
    'KSC incident %(id)s was created, but making KSC act on it (UpdateIncident) failed: %(error)s. Update pending: the portal tries again; do not file this request again.',
    'KSC showed no incident for this request within %(hours)s hours after it failed; the portal stopped looking. An approver can retry it.',
    'Looked in KSC again after the settle period: only incident %(kept)s holds this request.',
    'Looked in KSC again: it does not show the recorded incident %(kept)s, but holds %(ids)s for this request. Nothing was removed; check the incidents in KSC by hand.',
    'Nobody decided within the approval window (%(hours)s hours).',
    'Removed: %(removed)s.',
    "The portal's database failed during the attempt (%(error)s); it is tried again.",
    'The task, host or parameters of this request changed after it was approved; it was not sent to KSC. File a new request for what should be done, and have the database changes investigated.',
    'This attempt ended without its outcome being recorded (the worker or the database failed); KSC may have created the incident.',
    "This request's approvals do not hold up (the database says more than its trail and decisions prove); it was not sent to KSC. File a new request, and have the database changes investigated.",
    'This task needs no approval.',
)
JOINED = "%(first)s %(second)s"
# Events whose text a person wrote (unless the system is the actor): never matched.
PEOPLES_WORDS = ("filed", "approved", "approval_added", "rejected", "cancelled", "retried", "comment")
_PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")


def _patterns():
    patterns = []
    for msgid in MESSAGES:
        parts = _PLACEHOLDER.split(msgid)  # literal, name, conversion, literal, ...
        regex, kinds = "", {}
        for index in range(0, len(parts), 3):
            regex += re.escape(parts[index])
            if index + 1 < len(parts):
                regex += f"(?P<{parts[index + 1]}>.+?)"
                kinds[parts[index + 1]] = parts[index + 2]
        literal = sum(len(parts[index]) for index in range(0, len(parts), 3))
        patterns.append((literal, re.compile(regex + r"\Z", re.S), msgid, kinds))
    patterns.sort(key=lambda item: -item[0])
    return patterns


PATTERNS = _patterns()


def _english(message_id, args):
    values = {}
    for key, value in args.items():
        values[key] = _english(value["message_id"], value["message_args"]) if isinstance(value, dict) else value
    return message_id % values if values else message_id


def recognise(text):
    """(message id, arguments) of a text the system wrote, nested messages recognised too; None otherwise."""
    for _literal, pattern, msgid, kinds in PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        args = {}
        for key, value in match.groupdict().items():
            inner = recognise(value)
            if inner is not None:
                args[key] = {"message_id": inner[0], "message_args": inner[1]}
            elif kinds[key] == "d":
                if not value.isdigit():
                    break
                args[key] = int(value)
            else:
                args[key] = value
        else:
            if _english(msgid, args) == text:
                return msgid, args
    # Two messages in one event ("... twice. Removed: 5."): each half recognised.
    for split in (m.start() for m in re.finditer(r"\. ", text)):
        first, second = recognise(text[: split + 1]), recognise(text[split + 2 :])
        if first is not None and second is not None:
            return JOINED, {
                "first": {"message_id": first[0], "message_args": first[1]},
                "second": {"message_id": second[0], "message_args": second[1]},
            }
    return None


def fill_message_ids(apps, schema_editor):
    Event = apps.get_model("responses", "RequestEvent")
    rows = Event.objects.filter(message_id="").exclude(message="").only("pk", "kind", "actor_username", "message")
    found = []
    for event in rows.iterator():
        if event.kind in PEOPLES_WORDS and event.actor_username != "system":
            continue
        recognised = recognise(event.message)
        if recognised is not None:
            found.append((event.pk, recognised))
    if not found:
        return
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:  # the rows are append-only (0005); only the two unhashed columns change
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("ALTER TABLE responses_requestevent DISABLE TRIGGER portal_audit_immutable")
    for pk, (message_id, args) in found:
        Event.objects.filter(pk=pk).update(message_id=message_id, message_args=args)
    if postgresql:
        schema_editor.execute("ALTER TABLE responses_requestevent ENABLE TRIGGER portal_audit_immutable")


class Migration(migrations.Migration):

    dependencies = [
        ("responses", "0029_iso_isolate_until"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestevent",
            name="message_args",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="requestevent",
            name="message_id",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(fill_message_ids, migrations.RunPython.noop),
    ]

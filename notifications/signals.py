"""The one coupling to the domain: an audit event, once its transaction commits, queues its dispatch.

Nothing here can block or fail a workflow step: the receiver does two
dictionary lookups, and the queueing runs after the commit (robust: an error
there is logged, never raised into the view or job that made the transition).
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save

from accounts.language import language_chosen
from notifications import channels, routing
from responses.models import RequestEvent


def on_event_saved(sender, instance: RequestEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw or not routing.may_cause_message(instance) or not channels.enabled():
        return
    from notifications import jobs

    transaction.on_commit(partial(jobs.enqueue_dispatch, instance.pk), robust=True)


def keep_language(sender, request, response, language, **kwargs) -> None:
    """The language switch (accounts/language.py): the user's messages come in the chosen language too."""
    from notifications.models import NotificationPreference

    if request.user.is_authenticated:
        NotificationPreference.objects.update_or_create(user=request.user, defaults={"language": language})


def connect() -> None:
    post_save.connect(on_event_saved, sender=RequestEvent, dispatch_uid="notifications.on_event_saved")
    language_chosen.connect(keep_language, dispatch_uid="notifications.keep_language")

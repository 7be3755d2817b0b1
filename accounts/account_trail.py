"""Who granted whom which role, and who reset whose second factor (issue 12.6).

A superuser can create approvers and reset 2FA, so "no superuser bypass" of the
two-person rule holds only while somebody watches who grants roles. Every change
of a user's groups, ``is_superuser``, ``is_staff``, ``is_active`` and of their 2FA
devices becomes an AccountEvent in the keyed "accounts" chain, with the acting user
(AccountActorMiddleware sets it for each web request; "system" for commands and
jobs). Auditors read them on /audit/accounts/.

The actor has its own context variable, reset when the request ends: django-auditlog's
set_actor leaves its value behind in the thread, which would name the previous
request's user as the actor of a later change made by a command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.utils.translation import gettext as _

from accounts import account_chain
from accounts.models import AccountEvent, AccountEventKind

WATCHED_FLAGS = ("is_superuser", "is_staff", "is_active")
SYSTEM = "system"


_actor: ContextVar[Any] = ContextVar("account_trail_actor", default=None)


@contextlib.contextmanager
def acting_as(user) -> Iterator[None]:
    """Account changes made inside are recorded as made by ``user``."""
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


class AccountActorMiddleware:
    """The logged-in user of a web request (the admin, the account pages) is the actor of its changes."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


def acting_username() -> str:
    """The logged-in user on whose behalf this change is made, or "system"."""
    actor = _actor.get()
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return SYSTEM


def record(kind: str, subject: str, detail: dict[str, Any]) -> AccountEvent:
    return account_chain.append_account_event(
        AccountEvent(kind=kind, actor_username=acting_username(), subject_username=subject, detail=detail)
    )


def _flags(user) -> dict[str, bool]:
    return {flag: bool(getattr(user, flag)) for flag in WATCHED_FLAGS}


def _remember_flags(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    # A login saves last_login alone: no need to read the row back for that.
    skip = update_fields is not None and not set(update_fields) & set(WATCHED_FLAGS)
    if raw or instance.pk is None or skip:
        instance._account_flags_before = None
        return
    before = sender.objects.filter(pk=instance.pk).values(*WATCHED_FLAGS).first()
    instance._account_flags_before = before


def _user_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    after = _flags(instance)
    if created:
        record(AccountEventKind.USER_CREATED, instance.get_username(), {"after": after})
        return
    before = getattr(instance, "_account_flags_before", None)
    if before is None:
        return
    changed = {flag: {"before": before[flag], "after": after[flag]} for flag in WATCHED_FLAGS if before[flag] != after[flag]}
    if changed:
        record(AccountEventKind.USER_CHANGED, instance.get_username(), {"changed": changed})


def _user_deleted(sender, instance, **kwargs) -> None:
    groups = sorted(instance.groups.values_list("name", flat=True))
    record(AccountEventKind.USER_DELETED, instance.get_username(), {"before": {**_flags(instance), "groups": groups}})


def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """user.groups.add/remove/clear and group.user_set.add/remove/clear alike."""
    if action == "pre_clear":
        # clear() reports no pk_set afterwards: remember who/what is about to go.
        related = instance.groups if not reverse else instance.user_set
        instance._account_cleared = set(related.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    pks = set(pk_set or ()) if action != "post_clear" else getattr(instance, "_account_cleared", set())
    if not pks:
        return
    change = "added" if action == "post_add" else "removed"
    if not reverse:  # instance is the user, pks are groups
        pairs = [(instance.get_username(), name) for name in Group.objects.filter(pk__in=pks).values_list("name", flat=True)]
    else:  # instance is the group, pks are users
        users = get_user_model().objects.filter(pk__in=pks)
        pairs = [(user.get_username(), instance.name) for user in users]
    by_user: dict[str, list[str]] = {}
    for username, group in pairs:
        by_user.setdefault(username, []).append(group)
    for username, groups in sorted(by_user.items()):
        record(AccountEventKind.GROUPS_CHANGED, username, {change: sorted(groups)})


def _remember_scope(sender, instance, raw=False, **kwargs) -> None:
    before = None if raw or instance.pk is None else sender.objects.filter(pk=instance.pk).first()
    instance._scope_before = before.describe() if before is not None else {"every_server": False, "servers": []}


def _scope_saved(sender, instance, created, raw=False, **kwargs) -> None:
    """A user's KSC servers (accounts.tenants): who gave whom which tenant is watched like who gave which role."""
    if raw:
        return
    before, after = getattr(instance, "_scope_before", None), instance.describe()
    if before == after:
        return
    user = get_user_model().objects.filter(pk=instance.user_id).first()
    subject = user.get_username() if user is not None else f"user id {instance.user_id}"
    detail = {"before": before, "after": after, "from_directory": instance.from_directory}
    record(AccountEventKind.SCOPE_CHANGED, subject, detail)


def _scope_deleted(sender, instance, **kwargs) -> None:
    user = get_user_model().objects.filter(pk=instance.user_id).first()
    if user is None:
        return  # the user's deletion is recorded (user_deleted); the scope goes with them
    record(
        AccountEventKind.SCOPE_CHANGED,
        user.get_username(),
        {"before": instance.describe(), "after": None, "from_directory": instance.from_directory},
    )


def _device_detail(device) -> dict[str, Any]:
    return {"device": device.__class__.__name__, "name": device.name}


def _device_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        record(AccountEventKind.DEVICE_ADDED, instance.user.get_username(), _device_detail(instance))


def _device_deleted(sender, instance, **kwargs) -> None:
    user = get_user_model().objects.filter(pk=instance.user_id).first()
    subject = user.get_username() if user is not None else f"user id {instance.user_id}"
    record(AccountEventKind.DEVICE_REMOVED, subject, _device_detail(instance))


def connect_signals() -> None:
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user_model = get_user_model()
    pre_save.connect(_remember_flags, sender=user_model, dispatch_uid="account_trail_flags")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="account_trail_saved")
    pre_delete.connect(_user_deleted, sender=user_model, dispatch_uid="account_trail_deleted")
    m2m_changed.connect(_groups_changed, sender=user_model.groups.through, dispatch_uid="account_trail_groups")
    from accounts.models import ServerScope

    pre_save.connect(_remember_scope, sender=ServerScope, dispatch_uid="account_trail_scope_before")
    post_save.connect(_scope_saved, sender=ServerScope, dispatch_uid="account_trail_scope_saved")
    post_delete.connect(_scope_deleted, sender=ServerScope, dispatch_uid="account_trail_scope_deleted")
    for device in (TOTPDevice, StaticDevice):
        post_save.connect(_device_saved, sender=device, dispatch_uid=f"account_trail_{device.__name__}_saved")
        post_delete.connect(_device_deleted, sender=device, dispatch_uid=f"account_trail_{device.__name__}_deleted")


def detail_words() -> dict[str, str]:
    """The words for the keys this module writes in an event's detail (the account trail's pages show them)."""
    return {
        "is_superuser": _("superuser"),
        "is_staff": _("staff (the admin)"),
        "is_active": _("active"),
        "groups": _("groups"),
        "added": _("added to"),
        "removed": _("removed from"),
        "cleared": _("removed from every group"),
        "before": _("before"),
        "after": _("after"),
        "changed": _("changed"),
        "every_server": _("every KSC server"),
        "servers": _("KSC servers"),
        "from_directory": _("from the directory"),
        "device": _("device"),
        "name": _("name"),
    }

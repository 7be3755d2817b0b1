"""Who may do what: the one place the portal decides access.

Views, the API, the admin, jobs, notifications, the menu and the context
processors ask these functions; no other module tests group membership or
treats ``is_superuser``/``is_staff`` as a permission (tests/test_policy_only.py
greps for that). Roles are Django groups (accounts.roles).

- ``may(user, action, rr)``: the per-request actions (file, view, approve,
  reject, cancel, retry), with the reason for a refusal;
- ``may_open(user, page)``: the list pages (every request, the approval queue, the export, a
  host), answered as a ``Verdict`` whose reason the page shows;
- ``sees_all_requests``, ``may_export_audit``, ``sees_ksc_warnings``, ``sees_ksc_configuration``,
  ``must_use_two_factor``, ``may_decide``: the portal-wide questions;
- ``ResponseRequest.objects.visible_to(user)`` (responses.models) asks ``visible_filter``;
- ``same_person(a, b)`` / ``person_key(user)``: who is one person for the two-person rule (the
  same account, or directory accounts linked by IDENTITY_LINK_ATTRIBUTE); the approvals count
  (responses.workflow) keys approvers by ``person_keys``.
  ``ResponseRequest.objects.decidable_by(user)`` asks ``decidable_filter``, the rule of
  ``may_decide`` written as SQL (the menu counts with it; tests/test_policy_sql.py holds the two equal).
- ``servers_of(user)``: the tenant dimension (issue 26, point 5): the KSC servers whose hosts,
  requests and outcomes this user works on, None for every server. Every rule above adds it
  as a constraint (``server__in``), the NetBox/Sentry idea of constraints as data; another
  tenant's request reads as missing (404), never as forbidden.

Superusers get no bypass on requests: they administer users; the two-person
rule binds them like anyone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts import identity, roles

# The identity rules live with the accounts, which ask them below the requests; one policy all the same.
from accounts.identity import is_approver, may_sign_in_locally, must_use_two_factor, roles_of  # noqa: F401
from responses import approvals, states
from responses.errors import NotAllowed, WrongStatus
from responses.states import Status, TokenScope

if TYPE_CHECKING:  # annotations only: policy must not import the models (they ask policy)
    from accounts.models import ApiToken
    from responses.models import ResponseRequest

# Actions a user may take on a request.
FILE = "file"
VIEW = "view"
APPROVE = states.APPROVE
REJECT = states.REJECT
CANCEL = states.CANCEL
RETRY = states.RETRY
ACTIONS = (APPROVE, REJECT, CANCEL, RETRY)  # what a request's page offers as buttons

# What only an API token issued with TokenScope.DECISIONS may do through the API.
DECISIONS = frozenset(approvals.STEP_UP_ACTIONS)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    # True when the refusal is about the request's state rather than the user (409, not 403).
    conflict: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    def enforce(self) -> None:
        if not self.allowed:
            raise (WrongStatus if self.conflict else NotAllowed)(self.reason)


ALLOWED = Verdict(True)


def _refuse(reason: str) -> Verdict:
    return Verdict(False, reason)


def _conflict(reason: str) -> Verdict:
    return Verdict(False, reason, conflict=True)


_active = identity.active


def _is_requester(user, request: ResponseRequest) -> bool:
    return approvals.is_requester(user, request)


# --- One person, one identity -----------------------------------------------------------------


def person_key(user) -> tuple[str, int | str]:
    """Who ``user`` (a user, or a user id) is as a person, for the two-person rule.

    Accounts of one person in LDAP and OpenID Connect share the value of
    IDENTITY_LINK_ATTRIBUTE (accounts/identity_link.py): ("person", that value). Any other
    account is its own person: ("user", its id). A user's key is cached on the object.
    """
    if user is None:
        raise ValueError("person_key needs a user or a user id")
    if isinstance(user, int):
        return person_keys([user])[user]
    cached = getattr(user, "_portal_person", None)
    if cached is None:
        cached = person_keys([user.pk])[user.pk]
        user._portal_person = cached
    return cached


def person_keys(user_ids: Iterable[int]) -> dict[int, tuple[str, int | str]]:
    """{user id: person_key} for many users (responses/approvals.py, one query at most)."""
    return approvals.person_keys(user_ids)


def same_person(user_a, user_b) -> bool:
    """Whether two users (or user ids) are one person: the same account, or accounts linked across sources."""
    if user_a is None or user_b is None:
        return False
    id_a = user_a if isinstance(user_a, int) else user_a.pk
    id_b = user_b if isinstance(user_b, int) else user_b.pk
    if id_a == id_b:
        return True
    key_a = person_key(user_a)
    if key_a[0] == "user":
        return False  # an unlinked account is nobody else
    return key_a == person_key(user_b)


def _is_requesting_person(user, request: ResponseRequest) -> bool:
    """The requester, under this account or a linked one of the same person."""
    return request.requester_id is not None and same_person(user, request.requester_id)


# --- Tenants: the KSC servers a user works on -----------------------------------------------


def server_names() -> list[str]:
    """The configured KSC servers' names, in the servers file's order (``primary`` alone without any).

    Without any KSC configured (a fresh checkout) requests are still filed, on ``primary``, with
    the host unchecked: that name stands for the one server until one is configured.
    """
    from responses import ksc_servers  # builds clients from the settings: imported when asked

    return ksc_servers.server_names() or [states.PRIMARY_SERVER]


def servers_of(user) -> frozenset[str] | None:
    """The KSC servers ``user`` works on; None for every server, an empty set for none.

    While one server is configured everyone works on it (no query). From the second on, a
    user works on the servers of their ServerScope (accounts/tenants.py): every server only
    when it says so explicitly, none without one. Cached on the user object.
    """
    if not _active(user):
        return frozenset()
    names = server_names()
    if len(names) <= 1:
        return None
    cached = getattr(user, "_portal_servers", False)
    if cached is not False:
        return cached
    from accounts.models import ServerScope  # policy imports no models at import time

    scope = ServerScope.objects.filter(user_id=user.pk).first()
    if scope is None:
        servers: frozenset[str] | None = frozenset()
    elif scope.every_server:
        servers = None
    else:
        servers = frozenset(name for name in scope.servers if name in names)
    user._portal_servers = servers
    return servers


def works_on(user, server: str) -> bool:
    """Whether ``server`` is one of ``user``'s (a request's, a host's); False for an unknown server."""
    servers = servers_of(user)
    return server in server_names() if servers is None else server in servers


def acting_servers(user) -> list[str]:
    """The configured servers ``user`` works on, in configuration order (host search, the new-request form)."""
    servers = servers_of(user)
    return [name for name in server_names() if servers is None or name in servers]


def server_filter(user, field: str = "server") -> Q | None:
    """``servers_of`` as a filter on ``field`` (``server``, ``request__server``...); None for every server."""
    servers = servers_of(user)
    return None if servers is None else Q(**{f"{field}__in": sorted(servers)})


def _scoped(rule: Q | None, user) -> Q | None:
    scope = server_filter(user)
    if scope is None:
        return rule
    return scope if rule is None else rule & scope


# --- Portal-wide questions ------------------------------------------------------------------


def sees_all_requests(user) -> bool:
    """Approvers, auditors and superusers see every request; analysts see their own."""
    return _active(user) and (
        user.is_superuser or roles.has_role(user, roles.APPROVERS) or roles.has_role(user, roles.AUDITORS)
    )


def visible_filter(user) -> Q | None:
    """The rows this user may see as a filter: None for every row, ``Q(pk__in=[])`` for none."""
    if not _active(user):
        return Q(pk__in=[])
    return _scoped(None if sees_all_requests(user) else Q(requester=user), user)


def may_see_request(user, request: ResponseRequest) -> bool:
    """Whether ``user`` may open this request's page: visible_filter's rule for one row already read."""
    return (
        _active(user)
        and works_on(user, request.server)
        and (sees_all_requests(user) or _is_requester(user, request))
    )

def decides_anything(user) -> bool:
    """Whether ``user`` could decide on any request at all (active, Approvers): who gets a "waiting" count."""
    return _active(user) and roles.has_role(user, roles.APPROVERS)


def decidable_filter(user) -> Q | None:
    """``may_decide``'s rule as a filter on requests; None when this user decides nothing (no query to run).

    The same conditions as ``may(user, APPROVE, rr)`` in the same terms: an active approver,
    not the requester (by id, or by username once the requester's account is gone), the
    request pending approval, and no decision of theirs on it yet (by user id). The
    approval window is the queue's (``awaiting_decision``), not part of this rule.
    """
    if not decides_anything(user):
        return None
    mine = approvals.accounts_of(user.pk)  # this person's accounts (linked across directories)
    return _scoped(
        Q(status=Status.PENDING_APPROVAL)
        & ~Q(requester_id__in=mine)
        & ~Q(requester_id__isnull=True, requester_username=user.get_username())
        # A negated condition across the approvals relation is NOT EXISTS (... approver_id IN mine) in SQL.
        & ~Q(approvals__approver_id__in=mine),
        user,
    )


def may_export_audit(user) -> bool:
    """Auditors (and superusers) export and verify the audit trail and read the account trail.

    The trail and the accounts chain are portal-wide: with several servers only a global
    auditor (every server, set explicitly) reads them; a tenant's auditor reads their tenant's
    requests, timelines and CSV rows.
    """
    return _active(user) and (user.is_superuser or roles.has_role(user, roles.AUDITORS)) and servers_of(user) is None


def sees_ksc_warnings(user) -> bool:
    """Whoever decides on requests or administers the portal must know that KSC's identity is unchecked."""
    return _active(user) and (user.is_superuser or roles.has_role(user, roles.APPROVERS))


def sees_ksc_configuration(user) -> bool:
    """The portal's administrators read KSC's errors whole, with the settings to check (KSC_USER,
    KSC_PASSWORD ...); analysts and approvers read what they mean (responses/ksc_words.py)."""
    return _active(user) and (user.is_superuser or user.is_staff)


def sees_undelivered_notifications(user) -> bool:
    """Administrators who may read every message (the admin's Notifications) are told of the undelivered ones."""
    # is_staff first: the admin is for staff only, and everyone else's pages then ask no permission query.
    return _active(user) and user.is_staff and user.has_perm("notifications.view_notification")


def may_read_demo_mailbox(user) -> bool:
    """`make run`'s local mail sink: superusers only, and only with the simulated KSC."""
    return bool(
        _active(user) and user.is_superuser and getattr(settings, "KSC_SIMULATED", False) and settings.MAIL_SINK_DIR
    )


def may_see_hosts(user) -> bool:
    """The host pages: analysts (who file for hosts) and whoever sees every request."""
    return bool(may(user, FILE)) or sees_all_requests(user)


# Pages beyond one request, for ``may_open``: who may open them, and the refusal in words.
ALL_REQUESTS_PAGE = "all_requests"
APPROVAL_QUEUE_PAGE = "approval_queue"
EXPORT_PAGE = "export"
HOST_PAGE = "host"


def may_open(user, page: str) -> Verdict:
    """Whether ``user`` may open one of the portal's list pages, with the refusal the page shows."""
    if page == HOST_PAGE:
        return ALLOWED if may_see_hosts(user) else _refuse(_("Only analysts, approvers and auditors see hosts."))
    if sees_all_requests(user):
        return ALLOWED
    refusals = {
        ALL_REQUESTS_PAGE: lambda: _("Only approvers and auditors see every request."),
        APPROVAL_QUEUE_PAGE: lambda: _("Only approvers and auditors see the approval queue."),
        EXPORT_PAGE: lambda: _("Only approvers and auditors can export requests."),
    }
    return _refuse(refusals[page]())


def prime_roles(users: Iterable) -> None:
    """Fill each user's role and person caches (the roles from a ``prefetch_related("groups")``): no query per user."""
    users = list(users)
    for user in users:
        user._portal_roles = {group.name for group in user.groups.all()}  # roles.has_role's cache
    keys = person_keys([user.pk for user in users])
    for user in users:
        user._portal_person = keys[user.pk]  # person_key's cache: one query for all (none without a link)


# --- Per-request actions --------------------------------------------------------------------


def may(user, action: str, rr: ResponseRequest | None = None, *, token: ApiToken | None = None) -> Verdict:
    """Whether ``user`` may take ``action`` (on ``rr``), and if not, why.

    ``token``: the API token the call was authenticated with (None: a web session,
    which passed the second factor and, for decisions, the step-up). A token decides
    (approves, rejects, retries) only when it was issued for decisions explicitly.

    Who-may checks come before status checks, so that somebody without the
    role learns nothing about the request's state.
    """
    if user is None or not user.is_authenticated:
        return _refuse(_("Log in first."))
    if not user.is_active:
        return _refuse(_("This account is disabled."))
    if token is not None and action in DECISIONS and token.scope != TokenScope.DECISIONS:
        return _refuse(
            _(
                "This API token may file and read, not approve, reject or retry: an administrator "
                "issues a token for decisions with 'create_api_token --scope decisions'."
            )
        )
    if action == FILE:
        if not roles.has_role(user, roles.ANALYSTS):
            return _refuse(_("Only members of Analysts can file response requests."))
        return ALLOWED
    if rr is None:
        raise ValueError(f"action {action!r} needs a request")
    if not works_on(user, rr.server):
        # Another tenant's request: for this user it does not exist (pages and the API answer 404).
        return _refuse(_("No such request."))
    if action == VIEW:
        if _is_requester(user, rr) or sees_all_requests(user):
            return ALLOWED
        return _refuse(_("You can only see your own requests."))
    if action in (APPROVE, REJECT):
        if not roles.has_role(user, roles.APPROVERS):
            return _refuse(_("Only members of Approvers can approve or reject requests."))
        # The requester, under this account or a linked one of the same person; or, the requester's
        # account deleted, under the username that is all that is left of them.
        if _is_requesting_person(user, rr) or approvals.is_requester(user, rr, by_name_when_deleted=True):
            return _refuse(_("Nobody can approve or reject their own request: another approver must decide."))
        if rr.status != Status.PENDING_APPROVAL:
            return _conflict(
                _("This request is %(status)s; only requests pending approval can be approved or rejected.")
                % {"status": rr.get_status_display().lower()}
            )
        # By person, not username: renaming an approver, or approving again with a linked account of
        # the other directory, does not make them a second person (responses/approvals.py, same_person).
        if approvals.has_decided(user, rr.approvals.all()):
            return _conflict(_("You have already approved this request; another approver must decide."))
        return ALLOWED
    if action == CANCEL:
        if not _is_requester(user, rr):
            return _refuse(_("Only the requester can cancel a request."))
        if rr.status != Status.PENDING_APPROVAL:
            return _conflict(
                _("This request is %(status)s; only requests pending approval can be cancelled.")
                % {"status": rr.get_status_display().lower()}
            )
        return ALLOWED
    if action == RETRY:
        if not roles.has_role(user, roles.APPROVERS):
            return _refuse(_("Only members of Approvers can retry a failed request."))
        if _is_requesting_person(user, rr):
            return _refuse(_("Another approver must retry your own request."))
        if rr.status != Status.FAILED:
            return _conflict(
                _("This request is %(status)s; only failed requests can be retried.")
                % {"status": rr.get_status_display().lower()}
            )
        return ALLOWED
    raise ValueError(f"unknown action {action!r}")


def allowed_actions(user, rr: ResponseRequest, *, token: ApiToken | None = None) -> list[str]:
    """The actions the UI (or, with the call's ``token``, the API) should offer this user on this request."""
    return [action for action in ACTIONS if may(user, action, rr, token=token)]


def decision_verdict(user, rr: ResponseRequest) -> tuple[tuple[str, ...], Verdict]:
    """The decisions (approve, reject) to offer ``user`` on ``rr``, and the verdict: one evaluation of the rule.

    Approving and rejecting share one rule in ``may``, so a list of requests (the approval queue)
    asks once per request instead of once per action and again for the refusal's reason.
    """
    verdict = may(user, APPROVE, rr)
    return ((APPROVE, REJECT) if verdict else ()), verdict


def may_decide(user, rr: ResponseRequest) -> bool:
    """Whether ``user`` may approve or reject ``rr`` now: who is told that a request waits for them."""
    return bool(may(user, APPROVE, rr))


def may_comment(user, rr: ResponseRequest) -> Verdict:
    """Whether ``user`` may ask or answer on ``rr`` without deciding (responses/comments.py).

    While it waits for approval: approvers who may see it ask ("need more info"), its
    requester answers. Nobody else writes in the thread; everyone who may see it reads it.
    """
    if user is None or not user.is_authenticated:
        return _refuse(_("Log in first."))
    if not user.is_active:
        return _refuse(_("This account is disabled."))
    if not works_on(user, rr.server):
        return _refuse(_("No such request."))
    if not (_is_requester(user, rr) or (is_approver(user) and may(user, VIEW, rr))):
        return _refuse(_("Only the requester and approvers can write in a request's questions and answers."))
    if rr.status != Status.PENDING_APPROVAL:
        return _conflict(
            _("This request is %(status)s; questions and answers are for requests pending approval.")
            % {"status": rr.get_status_display().lower()}
        )
    return ALLOWED


def may_claim(user, rr: ResponseRequest) -> Verdict:
    """Whether ``user`` may claim a waiting request ("I am looking at it") or snooze its reminder.

    Whoever may decide it now, by the same rule as Approve and Reject: never its requester (not
    from chat either), only approvers, only while it waits, not who decided it already.
    """
    return may(user, APPROVE, rr)


def in_escalation_tier(user) -> bool:
    """Whether ``user`` belongs to ESCALATE_TO, the group an unapproved request escalates to."""
    return bool(settings.ESCALATE_TO) and roles.has_role(user, settings.ESCALATE_TO)


# --- An isolation's end (responses/isolation.py) -------------------------------------------------

EXTEND = "extend"
RELEASE_NOW = "release_now"
HOLD = "hold"
ISOLATION_ACTIONS = (EXTEND, RELEASE_NOW, HOLD)


def may_change_isolation(user, action: str, isolation, *, token: ApiToken | None = None) -> Verdict:
    """Extend, Release now, Hold on an isolation (a responses.models.Isolation), and if not, why.

    Extend and Release now: the isolation's requester or an approver who may see it (an extension
    is then approved like the isolation; a release goes out on the approval already given).
    Hold keeps a host isolated past the end it was approved with: an approver, not the requester
    (another person decides that the end does not hold). Through the API, Hold needs a token
    issued for decisions.
    """
    if user is None or not user.is_authenticated:
        return _refuse(_("Log in first."))
    if not user.is_active:
        return _refuse(_("This account is disabled."))
    rr = isolation.request
    if not may(user, VIEW, rr):
        return _refuse(_("You can only see your own requests."))
    approver = roles.has_role(user, roles.APPROVERS)
    if action == HOLD:
        if token is not None and token.scope != TokenScope.DECISIONS:
            return _refuse(_("Holding an isolation is a decision: it needs an API token issued for decisions."))
        if not approver:
            return _refuse(_("Only members of Approvers can hold an isolation past its end."))
        if _is_requesting_person(user, rr):
            return _refuse(_("Another approver must hold your own isolation past its end."))
    elif action in (EXTEND, RELEASE_NOW):
        if not (approver or _is_requester(user, rr)):
            return _refuse(_("Only the isolation's requester or an approver can extend or release it."))
    else:
        raise ValueError(f"unknown isolation action {action!r}")
    if isolation.state != "active":
        return _conflict(_("This isolation is not in effect now (%(state)s).") % {"state": isolation.get_state_display().lower()})
    if isolation.kind != "portal" or isolation.release_id is None:
        return _conflict(_("This isolation was set by an IOC scan: KES ends it by its own policy."))
    if action == RELEASE_NOW:
        if isolation.release.status != Status.SCHEDULED:
            return _conflict(_("This isolation's release is no longer scheduled."))
        return ALLOWED
    if isolation.until_released:
        return _conflict(_("This isolation already lasts until released."))
    if action == EXTEND and isolation.extensions.filter(status="pending").exists():
        return _conflict(_("An extension of this isolation already waits for approval."))
    return ALLOWED


def isolation_actions(user, isolation, *, token: ApiToken | None = None) -> list[str]:
    """The isolation actions the request page (or the API) offers this user now."""
    return [action for action in ISOLATION_ACTIONS if may_change_isolation(user, action, isolation, token=token)]


def may_decide_extension(user, extension, *, token: ApiToken | None = None) -> Verdict:
    """An approver other than the extension's asker (and not one who decided it already), while it is pending."""
    if user is None or not user.is_authenticated:
        return _refuse(_("Log in first."))
    if not user.is_active:
        return _refuse(_("This account is disabled."))
    if token is not None and token.scope != TokenScope.DECISIONS:
        return _refuse(_("Deciding an extension needs an API token issued for decisions."))
    if not roles.has_role(user, roles.APPROVERS):
        return _refuse(_("Only members of Approvers can approve or reject an extension."))
    if approvals.is_requester(user, extension, by_name_when_deleted=True):
        return _refuse(_("Nobody can approve their own extension: another approver must decide."))
    if extension.status != "pending":
        return _conflict(_("This extension is %(status)s.") % {"status": extension.get_status_display().lower()})
    if approvals.has_decided(user, extension.decisions.all()):
        return _conflict(_("You have already decided on this extension; another approver must decide."))
    return ALLOWED


# --- Campaigns (campaigns/: one request for many hosts) -----------------------------------------

PAUSE = "pause"
RESUME = "resume"
ABORT = "abort"
REVERSE = "reverse"
CAMPAIGN_ACTIONS = (APPROVE, REJECT, PAUSE, RESUME, ABORT, REVERSE)
# What an API token decides on a campaign only when issued for decisions.
CAMPAIGN_DECISIONS = frozenset({APPROVE, REJECT, RESUME})
_CAMPAIGN_OPEN = ("pending_approval", "running", "paused")


def _granted(user, codename: str) -> bool:
    """A permission given to this account or one of its groups explicitly: superusers get no bypass here."""
    from django.contrib.auth.models import Permission

    return (
        _active(user)
        and Permission.objects.filter(content_type__app_label="campaigns", codename=codename)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


def may_file_large_campaign(user) -> bool:
    """Break glass: a campaign above CAMPAIGN_MAX hosts (never above CAMPAIGN_HARD_MAX)."""
    return _granted(user, "file_large_campaign")


def may_override_protected(user) -> bool:
    """Include protected hosts on purpose (with a written reason and one more approver)."""
    return _granted(user, "override_protected_hosts")


def may_campaign(user, action: str, campaign=None, *, token: ApiToken | None = None) -> Verdict:
    """Whether ``user`` may take ``action`` on a campaign (``campaign`` None: FILE), and if not, why.

    The campaign is read through the attributes responses.approvals names (requester, status,
    decisions), so this module needs no campaign model.
    """
    if user is None or not user.is_authenticated:
        return _refuse(_("Log in first."))
    if not user.is_active:
        return _refuse(_("This account is disabled."))
    if token is not None and action in CAMPAIGN_DECISIONS and token.scope != TokenScope.DECISIONS:
        return _refuse(
            _(
                "This API token may file and read, not approve, reject or resume: an administrator "
                "issues a token for decisions with 'create_api_token --scope decisions'."
            )
        )
    if action == FILE:
        if not roles.has_role(user, roles.ANALYSTS):
            return _refuse(_("Only members of Analysts can file campaigns."))
        return ALLOWED
    if campaign is None:
        raise ValueError(f"action {action!r} needs a campaign")
    requester = approvals.is_requester(user, campaign)
    if action == VIEW:
        if requester or sees_all_requests(user):
            return ALLOWED
        return _refuse(_("You can only see your own campaigns."))
    status_words = campaign.get_status_display().lower()
    if action in (APPROVE, REJECT):
        if not roles.has_role(user, roles.APPROVERS):
            return _refuse(_("Only members of Approvers can approve or reject campaigns."))
        if requester or approvals.is_requester(user, campaign, by_name_when_deleted=True):
            return _refuse(_("Nobody can approve or reject their own campaign: another approver must decide."))
        if campaign.status != "pending_approval":
            return _conflict(
                _("This campaign is %(status)s; only campaigns pending approval can be approved or rejected.")
                % {"status": status_words}
            )
        if approvals.has_decided(user, campaign.decisions.all()):
            return _conflict(_("You have already approved this campaign; another approver must decide."))
        return ALLOWED
    if action in (PAUSE, RESUME):
        if not roles.has_role(user, roles.APPROVERS):
            return _refuse(_("Only members of Approvers can pause or resume campaigns."))
        wanted = "running" if action == PAUSE else "paused"
        if campaign.status != wanted:
            return _conflict(
                _("This campaign is %(status)s; only a %(wanted)s campaign can be %(done)s.")
                % {
                    "status": status_words,
                    "wanted": _("running") if action == PAUSE else _("paused"),
                    "done": _("paused") if action == PAUSE else _("resumed"),
                }
            )
        return ALLOWED
    if action == ABORT:
        if not (requester or roles.has_role(user, roles.APPROVERS)):
            return _refuse(_("Only the requester or an approver can abort a campaign."))
        if campaign.status not in _CAMPAIGN_OPEN:
            return _conflict(_("This campaign is %(status)s; it cannot be aborted.") % {"status": status_words})
        return ALLOWED
    if action == REVERSE:
        if not roles.has_role(user, roles.ANALYSTS):
            return _refuse(_("Only members of Analysts can file the reverse of a campaign."))
        if not (requester or sees_all_requests(user)):
            return _refuse(_("You can only see your own campaigns."))
        if campaign.task != "isolateHost" or not isinstance(campaign.params, dict) or campaign.params.get("action") != 1:
            return _conflict(_("Only an isolation campaign has a reverse (a release of the same hosts)."))
        if campaign.status in ("pending_approval", "rejected", "expired"):
            return _conflict(
                _("This campaign is %(status)s; nothing of it was submitted to reverse.") % {"status": status_words}
            )
        return ALLOWED
    raise ValueError(f"unknown campaign action {action!r}")


def allowed_campaign_actions(user, campaign, *, token: ApiToken | None = None) -> list[str]:
    return [action for action in CAMPAIGN_ACTIONS if may_campaign(user, action, campaign, token=token)]

"""What a new-request form held, kept on the server for its owner: work is never lost, even without JavaScript.

Two moments lose a form that the browser cannot keep by itself (static/portal.js keeps a draft in
sessionStorage when it runs):

- the session ended while the analyst filled the form or stood on its preview: the POST reaches
  the new-request view anonymously. What was typed is kept in the fresh anonymous session, the
  browser goes to the login page, and after a complete login (password and, where owed, the
  second factor) the form is shown again as it was left, with a note;
- the language switch pressed on the form or its preview: it posts that form to the switch,
  which keeps it the same way and leads back to the form in the new language.

Only the same person gets it back. The form carries ``owner``, the user's pk signed (salted,
timestamped): a draft is kept only with a valid one (on the preview, the sealed preview, which is
bound to its user, stands for it), and shown only to that user once logged in; anyone else logging
in on that browser has it discarded unseen. A draft is taken once. It holds text only (never the
CSRF token, never an IOC archive: the form asks for the archive again) and at most MAX_DRAFT_BYTES;
a larger one is not kept. Nothing is filed or validated here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts.language import language_chosen
from responses import catalog
from responses.forms.new_request import CARRIED_NAME_SUFFIX, CARRIED_SUFFIX, PARAMS_PREFIX, SCAN_PREFIX
from responses.forms.prefill import filing_as_form_data
from responses.forms.previews import PREVIEW_MAX_AGE, PREVIEW_SALT

log = logging.getLogger(__name__)

SESSION_KEY = "responses.kept_draft"
OWNER_SALT = "responses.new-request.owner"
# A form may stay open through a long night; its owner field is refused after this.
OWNER_MAX_AGE = 24 * 60 * 60
# A full justification (4000 characters) in Japanese is 12 KB of UTF-8: room for it and the rest, no more.
MAX_DRAFT_BYTES = 16 * 1024
MAX_DRAFT_FIELDS = 100  # onDemandScan's 16 rows of 4 fields and the common ones fit
MAX_KEY = 64

# Why a draft was kept: the form's note says which.
SESSION_ENDED = "session_ended"
LANGUAGE = "language"

COMMON_FIELDS = ("target_host", "target_host_name", "justification", "external_ref", "q")


@dataclass(frozen=True)
class Draft:
    task: catalog.TaskType
    data: dict[str, str]  # as the form posts it: "justification", "params-action", "scan-0-path"...
    archive_dropped: bool  # an IOC archive was attached and is not kept
    reason: str


def owner_token(user) -> str:
    """The new-request form's ``owner`` field: who the form was shown to, signed."""
    return signing.dumps(user.pk, salt=OWNER_SALT)


def _owner_of(token: Any) -> int | None:
    if not isinstance(token, str) or not token:
        return None
    try:
        owner = signing.loads(token, salt=OWNER_SALT, max_age=OWNER_MAX_AGE)
    except signing.BadSignature:  # forged, someone else's salt, or too old
        return None
    return owner if isinstance(owner, int) and not isinstance(owner, bool) else None


def _is_archive_key(key: str) -> bool:
    return key.endswith((CARRIED_SUFFIX, CARRIED_NAME_SUFFIX))


def _from_preview(token: str) -> tuple[int, str, dict[str, str], bool] | None:
    """(owner, task, form data, archive dropped) from a sealed preview, or None when it is not valid."""
    try:
        sealed = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(sealed, dict) or sealed.get("task") not in catalog.TASKS:
        return None
    owner = sealed.get("user")
    if not isinstance(owner, int) or isinstance(owner, bool):
        return None
    data = filing_as_form_data(catalog.TASKS[sealed["task"]], sealed)
    dropped = any(key.endswith(CARRIED_SUFFIX) and value for key, value in data.items())
    return owner, sealed["task"], {k: v for k, v in data.items() if not _is_archive_key(k) and v}, dropped


def _from_form(request: HttpRequest) -> tuple[int, str, dict[str, str], bool] | None:
    """(owner, task, form data, archive dropped) from the new-request form's own POST, or None."""
    post = request.POST
    owner = _owner_of(post.get("owner"))
    task = post.get("task", "")
    if owner is None or task not in catalog.TASKS:
        return None
    data: dict[str, str] = {}
    dropped = bool(request.FILES)
    for key, value in post.items():
        if _is_archive_key(key):
            dropped = dropped or (key.endswith(CARRIED_SUFFIX) and bool(value))
            continue
        kept = key in COMMON_FIELDS or (
            key.startswith((f"{PARAMS_PREFIX}-", f"{SCAN_PREFIX}-")) and not key.endswith("_FORMS")
        )
        if kept and value:
            data[key] = value
    if post.get("use_host"):
        # "Select" pressed on a host of the search: that host is what the analyst chose (its name is KSC's, asked again).
        data["target_host"] = post["use_host"]
        data.pop("target_host_name", None)
    return owner, task, data, dropped


def keep(request: HttpRequest, reason: str) -> str | None:
    """Keep what this POST of the new-request form (or its preview) held; the task's name when kept, else None."""
    found = _from_preview(request.POST["sealed"]) if request.POST.get("sealed") else _from_form(request)
    if found is None:
        return None
    owner, task, data, dropped = found
    if request.user.is_authenticated and request.user.pk != owner:
        return None  # a form shown to someone else: not this user's to keep
    too_many = len(data) > MAX_DRAFT_FIELDS or any(len(key) > MAX_KEY for key in data)
    size = len(json.dumps(data, ensure_ascii=False).encode("utf-8"))
    if too_many or size > MAX_DRAFT_BYTES:
        log.info("a new-request draft of %d bytes in %d fields was not kept (too large)", size, len(data))
        return None
    request.session[SESSION_KEY] = {
        "owner": owner,
        "task": task,
        "data": data,
        "archive_dropped": dropped,
        "reason": reason,
    }
    return task


def take(request: HttpRequest) -> Draft | None:
    """The draft kept for the user now logged in, removed from the session; None when there is none of theirs."""
    kept = request.session.pop(SESSION_KEY, None)
    if not isinstance(kept, dict) or kept.get("owner") != request.user.pk or kept.get("task") not in catalog.TASKS:
        return None
    data = kept.get("data")
    return Draft(
        task=catalog.TASKS[kept["task"]],
        data={k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {},
        archive_dropped=bool(kept.get("archive_dropped")),
        reason=kept.get("reason") if kept.get("reason") in (SESSION_ENDED, LANGUAGE) else SESSION_ENDED,
    )


def _discard_someone_elses(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """At login (the password step already): a draft kept for another user is dropped unread."""
    session = getattr(request, "session", None)
    if session is None:
        return
    kept = session.get(SESSION_KEY)
    if kept is not None and (not isinstance(kept, dict) or kept.get("owner") != user.pk):
        del session[SESSION_KEY]


def _kept_through_the_language_switch(sender, request, response, language, **kwargs) -> None:
    """Pressed on the new-request form or its preview, the switch (accounts/language.py) posted that form:
    what was typed is kept for its owner and put back in the new language, JavaScript or not."""
    if not request.POST.get("keep_form") or response.status_code != 302:
        return
    kept = keep(request, LANGUAGE if request.user.is_authenticated else SESSION_ENDED)
    if kept:
        response["Location"] = f"{reverse('responses:new')}?{urlencode({'task': kept})}"


def connect_signals() -> None:
    user_logged_in.connect(_discard_someone_elses, dispatch_uid="responses.drafts.discard_someone_elses")
    language_chosen.connect(_kept_through_the_language_switch, dispatch_uid="responses.drafts.language_switch")

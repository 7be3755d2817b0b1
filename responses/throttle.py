"""Per-user limits on what costs KSC calls or CPU and files nothing: host searches and previews.

Filing has its own limit (REQUEST_RATE_LIMIT, counted in the database, responses.workflow); a
search or a preview leaves no row to count, so these are counted in Redis, which every web
process shares: one counter per user and kind, for a fixed window of WINDOW seconds.

- host searches (HOST_SEARCH_RATE_LIMIT a minute): the search page and its type-ahead, the
  search inside the new-request form without JavaScript, and the API's host search; each asks KSC.
- previews (PREVIEW_RATE_LIMIT a minute): each one checks the host with KSC and may unpack and
  parse an IOC archive of 10 MiB (seconds of CPU).

When Redis does not answer, the limit is not applied (logged): searching and previewing are
reads, and Redis down already stops submissions, which the operator must fix first.
"""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from responses.errors import RateLimited

log = logging.getLogger(__name__)

WINDOW = 60  # seconds
HOST_SEARCH = "host-search"
PREVIEW = "preview"
KEY_PREFIX = "edr-portal:rate"


def _limit(kind: str) -> int:
    return settings.HOST_SEARCH_RATE_LIMIT if kind == HOST_SEARCH else settings.PREVIEW_RATE_LIMIT


def _message(kind: str, limit: int, wait: int) -> str:
    if kind == HOST_SEARCH:
        return _(
            "You have searched for hosts %(limit)d times in the last minute, the most allowed "
            "(HOST_SEARCH_RATE_LIMIT); try again in %(wait)d seconds."
        ) % {"limit": limit, "wait": wait}
    return _(
        "You have previewed %(limit)d requests in the last minute, the most allowed (PREVIEW_RATE_LIMIT); "
        "try again in %(wait)d seconds."
    ) % {"limit": limit, "wait": wait}


def count(user, kind: str) -> None:
    """Count one ``kind`` for ``user``; RateLimited (nothing done) when it is over the limit."""
    limit = _limit(kind)
    if not limit:
        return
    key = f"{KEY_PREFIX}:{kind}:{user.pk}"
    try:
        pipe = django_rq.get_connection("ksc").pipeline()
        pipe.set(key, 0, ex=WINDOW, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _created, used, ttl = pipe.execute()
    except RedisError as exc:
        log.warning("the %s limit of user %s was not counted: Redis: %s", kind, user.pk, exc)
        return
    if used > limit:
        raise RateLimited(_message(kind, limit, max(int(ttl), 1)))


def for_log(query: str, keep: int = 64) -> str:
    """A user's search as a log line carries it: at most ``keep`` characters, and how long it was."""
    return query if len(query) <= keep else f"{query[:keep]}… ({len(query)} characters)"

"""The keeper's beat deletes expired sessions, as `manage.py clearsessions` would (issue 23, point 20)."""

from __future__ import annotations

import datetime as dt

from django.contrib.sessions.models import Session
from django.utils import timezone

from worker.keeper import Keeper


def test_anonymous_sessions_are_deleted_by_the_keepers_beat_once_expired(client, login, alice, ksc_queue):
    # An anonymous draft POST (the session ended while filing) makes a session row for nobody.
    response = client.post("/requests/new/", {"task": "isolateHost", "justification": "kept for later"})
    assert response.status_code == 302
    anonymous = Session.objects.get(session_key=client.session.session_key)
    live_client = client.__class__()
    login(live_client, alice)
    live = Session.objects.get(session_key=live_client.session.session_key)
    # Time passes for the anonymous one only.
    Session.objects.filter(pk=anonymous.pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))

    keeper = Keeper([ksc_queue.name])
    keeper.tick()  # wins the beat's lease (a fresh Redis): the cluster's periodic duties run
    keeper.release()

    assert not Session.objects.filter(pk=anonymous.pk).exists()
    assert Session.objects.filter(pk=live.pk).exists()
    assert live_client.get("/").status_code == 200

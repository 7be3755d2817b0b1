"""Errors written for the reader (issue 30, point 4): "internal error: IntegrityError" never reaches a page.

A KSC that answers with an incident id the portal already holds for another request (a
KSC database restored from a backup) is named as such, on the request page too.
"""

from __future__ import annotations

from django.urls import reverse

from responses.models import ResponseRequest
from tests.fixtures.submission import approved, run_worker


def test_an_incident_id_the_portal_already_holds_is_said_in_words(submission, settings, client, login, alice, bob):
    settings.KSC_SUBMIT_TRIES = 1
    first = approved(alice, bob, submission)
    run_worker()
    first.refresh_from_db()
    # As if KSC's database went back in time: the next id KSC gives out is one this portal already holds.
    ResponseRequest.objects.filter(pk=first.pk).update(ksc_incident_id=first.ksc_incident_id + 1)
    second = approved(alice, bob, submission)
    run_worker()
    second.refresh_from_db()
    held = first.ksc_incident_id + 1
    assert second.ksc_incident_id is None
    assert f"KSC answered with incident id {held}, which this portal already holds for another request" in (
        second.last_error
    ), second.last_error
    assert "IntegrityError" not in second.last_error
    login(client, alice)
    page = client.get(reverse("responses:detail", kwargs={"key": second.uuid})).content.decode()
    assert "already holds for another request" in page and "internal error" not in page

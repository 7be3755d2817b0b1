"""Errors written for the reader (issue 30, point 4): a refused KSC login once per page, KSC's settings
only for administrators and the log, never an exception's class name."""

from __future__ import annotations

from html import unescape
from types import SimpleNamespace

from django.db import IntegrityError

from ksc_client.errors import KscAuthError
from responses import ksc_words
from responses.models import ResponseRequest, Status
from tests.support.pages import file, page

REFUSED = (
    "KSC at https://ksc.example:13299 refused the login of user 'edr-portal' (HTTP 401); check KSC_USER, "
    "KSC_PASSWORD, KSC_DOMAIN and KSC_INTERNAL_USER, and that the account is not locked."
)
SENTENCE = "KSC refused the portal's login; tell the portal administrator (nothing was sent)."


def test_a_refused_login_is_said_once_per_page_then_pointed_to(alice):
    request = SimpleNamespace()
    assert ksc_words.for_reader(REFUSED, alice, request) == SENTENCE
    assert ksc_words.for_reader(REFUSED, alice, request) == "KSC refused the portal's login (see above)."
    assert ksc_words.for_reader(REFUSED, alice, SimpleNamespace()) == SENTENCE  # another page
    assert ksc_words.is_login_refused(KscAuthError(REFUSED))


def test_administrators_read_the_whole_text_with_the_settings(db):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_user("root", is_staff=True, is_superuser=True)
    assert ksc_words.for_reader(REFUSED, admin, SimpleNamespace()) == REFUSED


def test_other_settings_hints_are_left_out_for_analysts(alice):
    text = "KSC at https://ksc.example:13299 presented another certificate; check KSC_VERIFY and KSC_CERT."
    assert ksc_words.for_reader(text, alice) == "KSC at https://ksc.example:13299 presented another certificate."
    assert ksc_words.for_reader("KSC did not answer within 5 s", alice) == "KSC did not answer within 5 s"


def test_the_request_page_says_the_refused_login_once_and_never_names_the_settings(client, login, alice, bob):
    rr = file(alice, host_unchecked=REFUSED)
    ResponseRequest.objects.filter(pk=rr.pk).update(status=Status.FAILED, last_error=REFUSED)
    login(client, bob)

    html = unescape(page(client.get(f"/requests/{rr.uuid}/")))

    assert html.count(SENTENCE) == 1 and "(see above)" in html
    assert "KSC_USER" not in html and "KSC_PASSWORD" not in html and "refused the login of user" not in html


def test_the_api_gives_the_meaning_not_the_settings(api, alice):
    rr = file(alice)
    ResponseRequest.objects.filter(pk=rr.pk).update(status=Status.FAILED, last_error=REFUSED)

    body = api(alice).get(f"/api/v1/requests/{rr.uuid}/").json()

    assert body["last_error"] == SENTENCE


def test_a_conflict_in_the_portals_records_is_said_in_words_not_as_a_class_name():
    from responses import jobs

    without_id = str(jobs._internal_error_text(IntegrityError("duplicate key"), None))
    with_id = str(jobs._internal_error_text(IntegrityError("duplicate key"), 4242))
    for text in (without_id, with_id):
        assert "IntegrityError" not in text and "internal error" not in text
    assert "4242" in with_id and "already holds for another request" in with_id and "check KSC" in with_id

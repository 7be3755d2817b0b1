"""Issue 17, point 1, without JavaScript: a session that ended while filing loses nothing that was typed.

An anonymous POST to the new-request form (preview, search, use host, edit, file) keeps what was typed
in the fresh session for the form's owner (a signed field; on the preview, the sealed preview), files
nothing, and leads to the login page; after a complete login (password, and the code where one is owed)
the owner sees the form as they left it, with a note, once. Anyone else logging in never sees it. The
language switch pressed on the form posts the form and keeps it the same way.
"""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import unquote

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts import roles
from responses import drafts, forms
from responses.models import RequestEvent, ResponseRequest
from tests.fixtures.accounts import enrol_totp, make_user, totp_code
from tests.support.openioc import ioc_zip_bytes

NEW = "/requests/new/"
LOGIN = "/accounts/login/"
JUSTIFICATION = "Beaconing to 203.0.113.7 every 60 s, ticket SOC-4411"
SESSION_ENDED = {
    "en": "Your session had ended. Here is what you had typed; check it and preview again.",
    "ja": "セッションが終了していました。入力していた内容を表示しています。確認して、もう一度プレビューしてください。",
}
FILE_AGAIN = "The IOC archive you chose is not kept: attach the file again."
RESTORED_JA = "以前に入力した内容を元に戻しました。プレビューの前に確認してください。"


def browser() -> Client:
    """A browser that sends the CSRF token as a real one does (the check is on)."""
    return Client(enforce_csrf_checks=True)


def sign_in(client: Client, username: str, next_url: str = "/") -> None:
    """The login page, as a person uses it: the password (the code page follows where one is owed)."""
    client.get(f"{LOGIN}?next={next_url}")
    response = client.post(
        f"{LOGIN}?next={next_url}",
        {
            "username": username,
            "password": f"{username}-password-1234",
            "next": next_url,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]


def open_form(client: Client, task: str) -> dict[str, str]:
    """The form's hidden fields as the page gives them (owner, CSRF token)."""
    page = client.get(NEW, {"task": task}).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(owner|csrfmiddlewaretoken)" value="([^"]*)"', page))
    assert set(hidden) == {"owner", "csrfmiddlewaretoken"}, page
    return hidden


def end_session(client: Client) -> None:
    """What a timeout leaves: the browser's cookie opens no session any more."""
    Session.objects.filter(session_key=client.cookies["sessionid"].value).delete()


def kept(client: Client) -> dict | None:
    return client.session.get(drafts.SESSION_KEY)


def isolation(hidden: dict, **extra) -> dict:
    return {
        **hidden,
        "task": "isolateHost",
        "target_host": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b",
        "target_host_name": "TKY-WS-0105",
        "params-action": "1",
        "justification": JUSTIFICATION,
        "external_ref": "SOC-4411",
        **extra,
    }


@pytest.fixture
def alice_browser(alice) -> Client:
    client = browser()
    sign_in(client, "alice")
    return client


def the_login_page_leads_back(response, task: str) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert unquote(response["Location"].split("next=", 1)[1]) == f"{NEW}?task={task}"


def test_a_preview_posted_after_the_session_ended_comes_back_after_login(alice_browser):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)

    response = client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview", q="TKY"))

    the_login_page_leads_back(response, "isolateHost")
    draft = kept(client)
    assert draft["data"] == {
        "target_host": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b",
        "target_host_name": "TKY-WS-0105",
        "params-action": "1",
        "justification": JUSTIFICATION,
        "external_ref": "SOC-4411",
        "q": "TKY",
    }
    assert "csrfmiddlewaretoken" not in json.dumps(draft) and hidden["owner"] not in json.dumps(draft)
    assert ResponseRequest.objects.count() == 0 and RequestEvent.objects.count() == 0

    sign_in(client, "alice", f"{NEW}?task=isolateHost")
    page = client.get(NEW, {"task": "isolateHost"}).content.decode()

    assert SESSION_ENDED["en"] in page
    assert 'value="0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"' in page
    assert "Chosen host: TKY-WS-0105" in page
    assert re.search(r'<input type="radio" name="params-action" value="1"[^>]* checked', page)
    assert f"{JUSTIFICATION}</textarea>" in page
    assert 'value="SOC-4411"' in page
    assert re.search(r'id="host-q"[^>]*value="TKY"|value="TKY"[^>]*id="host-q"', page)
    assert 'id="file-again" role="alert" hidden' in page  # no archive was dropped
    # Used once: a reload shows the empty form.
    again = client.get(NEW, {"task": "isolateHost"}).content.decode()
    assert SESSION_ENDED["en"] not in again and JUSTIFICATION not in again
    assert ResponseRequest.objects.count() == 0


def test_the_note_is_in_the_users_language(alice_browser):
    client = alice_browser
    client.cookies["django_language"] = "ja"
    hidden = open_form(client, "isolateHost")
    end_session(client)
    client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview"))
    sign_in(client, "alice", f"{NEW}?task=isolateHost")

    page = client.get(NEW, {"task": "isolateHost"}).content.decode()

    assert SESSION_ENDED["ja"] in page and JUSTIFICATION in page


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"step": "search", "q": "TKY-WS"}, {"q": "TKY-WS", "target_host": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"}),
        # "Select" on a host of the search: that host is the one chosen (its name is KSC's, asked again later).
        ({"use_host": "host-from-the-search"}, {"target_host": "host-from-the-search"}),
    ],
)
def test_a_search_or_a_chosen_host_after_the_session_ended_is_kept(alice_browser, extra, expected):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)

    response = client.post(f"{NEW}?task=isolateHost", isolation(hidden, **extra))

    the_login_page_leads_back(response, "isolateHost")
    data = kept(client)["data"]
    assert {key: data.get(key) for key in expected} == expected
    assert data["justification"] == JUSTIFICATION
    if "use_host" in extra:
        assert "target_host_name" not in data
    sign_in(client, "alice", f"{NEW}?task=isolateHost")
    page = client.get(NEW, {"task": "isolateHost"}).content.decode()
    assert f'value="{expected["target_host"]}"' in page and JUSTIFICATION in page


@pytest.mark.parametrize("step", ["file", "edit"])
def test_the_preview_filed_or_changed_after_the_session_ended_comes_back_as_the_form(client, login, alice, step):
    login(client, alice)
    filing = forms.Filing("isolateHost", "h-0105", "TKY-WS-0105", {"action": 1}, JUSTIFICATION, "SOC-4411")
    sealed = forms.seal(alice, filing)
    end_session(client)

    response = client.post(f"{NEW}?task=isolateHost", {"step": step, "sealed": sealed, "confirm_duplicate": "1"})

    the_login_page_leads_back(response, "isolateHost")
    assert kept(client)["data"] == {
        "target_host": "h-0105",
        "target_host_name": "TKY-WS-0105",
        "params-action": "1",
        "justification": JUSTIFICATION,
        "external_ref": "SOC-4411",
    }
    assert ResponseRequest.objects.count() == 0  # "File request" after the session ended files nothing
    sign_in(client, "alice", f"{NEW}?task=isolateHost")
    page = client.get(NEW, {"task": "isolateHost"}).content.decode()
    assert SESSION_ENDED["en"] in page and JUSTIFICATION in page and 'value="h-0105"' in page
    assert ResponseRequest.objects.count() == 0


def test_an_ioc_archive_is_never_kept_and_the_form_asks_for_it_again(alice_browser):
    client = alice_browser
    hidden = open_form(client, "iocScan")
    archive = ioc_zip_bytes()
    carried = base64.b64encode(archive).decode()
    end_session(client)

    response = client.post(
        f"{NEW}?task=iocScan",
        {
            **hidden,
            "task": "iocScan",
            "target_host": "h-0105",
            "justification": "IOC sweep",
            "params-scanCriticalAreas": "on",
            "params-ioc": SimpleUploadedFile("campaign.zip", archive),
            "params-ioc__carried": carried,
            "params-ioc__carried_name": "campaign.zip",
            "step": "preview",
        },
    )

    the_login_page_leads_back(response, "iocScan")
    draft = kept(client)
    stored = Session.objects.get(session_key=client.cookies["sessionid"].value).session_data
    assert carried not in json.dumps(draft) and "campaign.zip" not in json.dumps(draft)
    assert len(stored) < 2000  # the archive is in neither the draft nor the session row
    assert draft["archive_dropped"] is True
    sign_in(client, "alice", f"{NEW}?task=iocScan")
    page = client.get(NEW, {"task": "iocScan"}).content.decode()
    assert f'<p class="notice" id="file-again" role="alert">{FILE_AGAIN}</p>' in page
    assert re.search(r'name="params-scanCriticalAreas"[^>]* checked', page)
    assert carried not in page and "An archive is attached" not in page


def test_an_ioc_scan_filed_after_the_session_ended_drops_its_archive(client, login, alice):
    login(client, alice)
    carried = base64.b64encode(ioc_zip_bytes()).decode()
    params = {"ioc": carried, "isolateHost": True, "scanCriticalAreas": False, "quarantineObject": False}
    sealed = forms.seal(alice, forms.Filing("iocScan", "h-1", "", params, "IOC sweep", "", {"ioc": "c.zip"}))
    end_session(client)

    client.post(f"{NEW}?task=iocScan", {"step": "file", "sealed": sealed})

    draft = kept(client)
    assert draft["archive_dropped"] is True
    assert draft["data"] == {"target_host": "h-1", "params-isolateHost": "on", "justification": "IOC sweep"}


def test_an_on_demand_scan_comes_back_row_by_row(alice_browser):
    client = alice_browser
    hidden = open_form(client, "onDemandScan")
    end_session(client)
    rows = {
        "scan-TOTAL_FORMS": "16", "scan-INITIAL_FORMS": "0",
        "scan-0-enabled": "on", "scan-0-type": "22", "scan-0-path": r"C:\Users\Public", "scan-0-recursive": "on",
        "scan-2-enabled": "on", "scan-2-type": "22", "scan-2-path": r"D:\Shares",
    }

    client.post(f"{NEW}?task=onDemandScan", {**hidden, "task": "onDemandScan", "target_host": "h-1", "justification": "sweep", **rows})
    sign_in(client, "alice", f"{NEW}?task=onDemandScan")
    form = client.get(NEW, {"task": "onDemandScan"}).context["form"]

    initial = form.params.initial
    assert initial[0] == {"enabled": "on", "type": "22", "path": r"C:\Users\Public", "recursive": "on"}
    assert initial[1] == {} and initial[2] == {"enabled": "on", "type": "22", "path": r"D:\Shares"}
    page = client.get(NEW, {"task": "onDemandScan"}).content.decode()  # taken once: now empty
    assert r"D:\Shares" not in page


def test_someone_else_logging_in_on_that_browser_never_sees_it(alice_browser, frank):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)
    client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview"))
    assert kept(client) is not None

    sign_in(client, "frank", f"{NEW}?task=isolateHost")

    assert kept(client) is None  # dropped at frank's login, unread
    page = client.get(NEW, {"task": "isolateHost"}).content.decode()
    assert JUSTIFICATION not in page and SESSION_ENDED["en"] not in page


def test_a_draft_whose_owner_is_not_the_user_is_not_restored(client, login, alice, frank):
    """Even a draft that reached the session some other way is shown to its owner only."""
    login(client, frank)
    session = client.session
    session[drafts.SESSION_KEY] = {
        "owner": alice.pk, "task": "isolateHost", "data": {"justification": JUSTIFICATION},
        "archive_dropped": False, "reason": drafts.SESSION_ENDED,
    }
    session.save()

    page = client.get(NEW, {"task": "isolateHost"}).content.decode()

    assert JUSTIFICATION not in page and kept(client) is None


def test_frank_cannot_keep_a_draft_with_alices_preview(client, login, alice, frank):
    """A sealed preview is its user's: sent from frank's session it is not kept for frank."""
    login(client, frank)
    sealed = forms.seal(alice, forms.Filing("isolateHost", "h-1", "", {"action": 1}, JUSTIFICATION, ""))
    end_session(client)
    client.post(f"{NEW}?task=isolateHost", {"step": "file", "sealed": sealed})
    sign_in(client, "frank", f"{NEW}?task=isolateHost")

    assert JUSTIFICATION not in client.get(NEW, {"task": "isolateHost"}).content.decode()


def forged(owner: int) -> str:
    return signing.dumps(owner, salt="another.salt")


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param(lambda user: "", id="missing"),
        pytest.param(lambda user: drafts.owner_token(user)[:-2] + "xx", id="tampered"),
        pytest.param(lambda user: forged(user.pk), id="other-salt"),
        pytest.param(lambda user: signing.dumps(str(user.pk), salt=drafts.OWNER_SALT), id="not-a-pk"),
    ],
)
def test_a_form_without_a_valid_owner_is_not_kept(alice_browser, alice, owner):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)

    response = client.post(f"{NEW}?task=isolateHost", isolation({**hidden, "owner": owner(alice)}, step="preview"))

    the_login_page_leads_back(response, "isolateHost")  # the login still leads back to the form
    assert kept(client) is None
    assert ResponseRequest.objects.count() == 0


def test_an_owner_field_older_than_a_day_is_not_kept(alice_browser, alice, monkeypatch):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - drafts.OWNER_MAX_AGE - 60)
    old = drafts.owner_token(alice)
    monkeypatch.setattr(signing.time, "time", lambda: now)
    end_session(client)

    client.post(f"{NEW}?task=isolateHost", isolation({**hidden, "owner": old}, step="preview"))

    assert kept(client) is None


def test_a_forged_or_expired_preview_is_not_kept(client, login, alice, monkeypatch):
    login(client, alice)
    good = forms.seal(alice, forms.Filing("isolateHost", "h-1", "", {"action": 1}, JUSTIFICATION, ""))
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now - forms.PREVIEW_MAX_AGE - 60)
    expired = forms.seal(alice, forms.Filing("isolateHost", "h-1", "", {"action": 1}, JUSTIFICATION, ""))
    monkeypatch.setattr(signing.time, "time", lambda: now)

    for sealed in (good[:-3] + "abc", expired, "not a preview"):
        end_session(client)
        client.post(f"{NEW}?task=isolateHost", {"step": "file", "sealed": sealed})
        assert kept(client) is None, sealed


def test_a_full_justification_in_japanese_is_kept_but_a_flood_is_not(alice_browser):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    full = "端末から不審な通信" * (4000 // 9)  # a justification at its 4000-character limit, 12 KB of UTF-8
    end_session(client)

    client.post(f"{NEW}?task=isolateHost", isolation(hidden, justification=full, step="preview"))
    assert kept(client)["data"]["justification"] == full

    end_session(client)
    client.post(f"{NEW}?task=isolateHost", isolation(hidden, justification="x" * (drafts.MAX_DRAFT_BYTES + 1)))
    assert kept(client) is None

    end_session(client)
    many = {f"params-extra{i}": "y" for i in range(drafts.MAX_DRAFT_FIELDS + 1)}
    client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview", **many))
    assert kept(client) is None


def test_only_the_forms_own_fields_are_kept(alice_browser):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)

    client.post(
        f"{NEW}?task=isolateHost",
        isolation(hidden, step="preview", next="https://evil.example/", language="ja", sealed="", secret="x"),
    )

    assert set(kept(client)["data"]) == {"target_host", "target_host_name", "params-action", "justification", "external_ref"}


def test_a_draft_for_another_task_is_dropped_not_shown(alice_browser):
    client = alice_browser
    hidden = open_form(client, "isolateHost")
    end_session(client)
    client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview"))
    sign_in(client, "alice", "/")

    assert JUSTIFICATION not in client.get(NEW, {"task": "getFile"}).content.decode()
    assert JUSTIFICATION not in client.get(NEW, {"task": "isolateHost"}).content.decode()


def test_the_form_comes_back_only_after_the_second_factor(db):
    """An analyst who also approves owes a code: the draft waits through the code page, and `next` survives it."""
    erin = make_user("erin", roles.ANALYSTS, roles.APPROVERS)
    device = enrol_totp(erin)
    client = browser()
    sign_in(client, "erin")
    client.post("/accounts/verify/", {"code": totp_code(device), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    hidden = open_form(client, "isolateHost")
    end_session(client)
    response = client.post(f"{NEW}?task=isolateHost", isolation(hidden, step="preview"))
    the_login_page_leads_back(response, "isolateHost")

    sign_in(client, "erin", f"{NEW}?task=isolateHost")
    held = client.get(f"{NEW}?task=isolateHost")
    assert held.status_code == 302 and held["Location"].startswith("/accounts/verify/")
    assert kept(client) is not None  # not shown, not spent, before the code
    verified = client.post(
        held["Location"],
        {
            "code": totp_code(device, steps_ahead=1),
            "next": unquote(held["Location"].split("next=", 1)[1]),
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )

    assert verified.status_code == 302 and verified["Location"] == f"{NEW}?task=isolateHost"
    page = client.get(verified["Location"]).content.decode()
    assert SESSION_ENDED["en"] in page and JUSTIFICATION in page


# --- The language switch pressed on the form, without JavaScript ------------------------------------


def test_the_language_switch_on_the_form_keeps_what_was_typed(alice_browser):
    client = alice_browser
    hidden = open_form(client, "isolateHost")

    response = client.post(
        f"/i18n/setlang/?next={NEW}%3Ftask%3DisolateHost",
        isolation(hidden, language="ja", keep_form="1"),
    )

    assert response.status_code == 302 and response["Location"] == f"{NEW}?task=isolateHost"
    page = client.get(response["Location"]).content.decode()
    assert '<html lang="ja">' in page
    assert f'<p class="notice" id="draft-restored" role="status">{RESTORED_JA}</p>' in page
    assert JUSTIFICATION in page and 'value="SOC-4411"' in page
    assert re.search(r'<input type="radio" name="params-action" value="1"[^>]* checked', page)
    assert SESSION_ENDED["ja"] not in page


def test_the_language_switch_on_the_preview_keeps_it_too(alice_browser, alice):
    client = alice_browser
    sealed = forms.seal(alice, forms.Filing("isolateHost", "h-1", "TKY-WS-0105", {"action": 0}, JUSTIFICATION, ""))
    client.get("/")

    response = client.post(
        "/i18n/setlang/",
        {"sealed": sealed, "language": "ja", "keep_form": "1", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )

    page = client.get(response["Location"]).content.decode()
    assert JUSTIFICATION in page and re.search(r'<input type="radio" name="params-action" value="0"[^>]* checked', page)


def test_the_pages_wire_the_switch_to_the_form(alice_browser):
    client = alice_browser
    page = client.get(NEW, {"task": "isolateHost"}).content.decode()
    assert re.search(r'<select id="lang-select" name="language" form="request-form">', page)
    assert re.search(r'<button type="submit" form="request-form" formaction="/i18n/setlang/\?next=[^"]+"[^>]* name="keep_form"', page)
    elsewhere = client.get("/").content.decode()
    assert 'form="request-form"' not in elsewhere and 'name="keep_form"' not in elsewhere  # the plain switch

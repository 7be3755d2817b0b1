"""English and Japanese: the Japanese catalog is complete, compiled, and the pages speak it."""

from __future__ import annotations

import ast
import gettext
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from responses import workflow
from tests.support.filing import file_request

LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "ja" / "LC_MESSAGES" / "django.po"
MO = LOCALE / "ja" / "LC_MESSAGES" / "django.mo"
# The UI's own sources: a string added to any of them must arrive translated.
UI_SOURCES = ("templates", "responses/views", "responses/forms", "responses/context_processors.py")


@pytest.fixture(autouse=True)
def _language_reset_afterwards():
    """LocaleMiddleware activates Japanese in this thread and nothing deactivates it after the
    response: without this, the tests that run next would get Japanese messages."""
    yield
    translation.deactivate()


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgid, msgid_plural, msgstr values and flags (enough for these checks)."""
    entries: list[dict] = []
    entry: dict | None = None
    last = ""
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry = None
            continue
        if entry is None:
            entry = {"msgid": "", "msgid_plural": None, "msgstr": [], "flags": set(), "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if last == "msgstr":
                entry["msgstr"][-1] += value
            else:
                entry[last] += value
        else:
            keyword, _, value = line.partition(" ")
            last = "msgstr" if keyword.startswith("msgstr") else keyword
            if last == "msgstr":
                entry["msgstr"].append(ast.literal_eval(value))
            else:
                entry[last] = ast.literal_eval(value)
    return entries


def test_every_message_has_a_japanese_translation_and_none_is_fuzzy():
    entries = read_po(PO)
    header, messages = entries[0], entries[1:]

    assert "Language: ja" in header["msgstr"][0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header["msgstr"][0]
    assert len(messages) > 300
    assert [e["msgid"] for e in messages if not all(e["msgstr"]) or not e["msgstr"]] == []
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    assert [e["msgid"] for e in messages if e["obsolete"]] == []


def test_the_committed_mo_file_holds_every_translation_of_the_po_file():
    """CI machines may lack gettext: the compiled catalog is committed, and must not fall behind."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    stale = []
    for entry in read_po(PO)[1:]:
        if entry["msgid_plural"]:
            got = compiled.ngettext(entry["msgid"], entry["msgid_plural"], 1)
        else:
            got = compiled.gettext(entry["msgid"])
        if got != entry["msgstr"][0]:
            stale.append(entry["msgid"])
    assert stale == [], "run `make messages` and commit locale/ja/LC_MESSAGES/django.mo"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="xgettext (gettext) is not installed here")
def test_every_string_of_the_ui_is_in_the_catalog(tmp_path, monkeypatch):
    """Extract the UI's strings afresh (as makemessages does) and find each one translated."""
    for source in UI_SOURCES:
        origin = Path(settings.BASE_DIR) / source
        target = tmp_path / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target)
        else:
            shutil.copy(origin, target)
    (tmp_path / "locale").mkdir()
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[str(tmp_path / "locale")]):
        call_command("makemessages", locale=["ja"], verbosity=0)
    extracted = read_po(tmp_path / "locale" / "ja" / "LC_MESSAGES" / "django.po")[1:]
    translated = {e["msgid"] for e in read_po(PO)[1:] if e["msgstr"] and all(e["msgstr"])}

    assert len(extracted) > 100
    assert sorted({e["msgid"] for e in extracted} - translated) == []


HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


@pytest.fixture
def rejected(alice, bob):
    rr = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    return workflow.reject(rr, user=bob, comment="Call the owner first")


def in_japanese(client) -> None:
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    assert response.status_code == 302


def test_the_language_switch_in_the_header_turns_the_pages_japanese(client, login, alice, rejected):
    login(client, alice)
    english = client.get(f"/requests/{rejected.uuid}/").content.decode()
    assert 'action="/i18n/setlang/"' in english and '<option value="ja" lang="ja">日本語</option>' in english

    in_japanese(client)
    html = client.get(f"/requests/{rejected.uuid}/").content.decode()

    assert '<html lang="ja">' in html
    assert "ホストをネットワークから分離する" in html  # the catalog's description of the action
    assert 'data-status="rejected">却下</span>' in html
    assert "タイムライン" in html and "判断" in html
    assert "Call the owner first" in html  # people's words stay as they wrote them
    assert "Timeline" not in html and "Rejected" not in html


@pytest.mark.parametrize(
    ("username", "url"),
    [
        ("alice", "/"),
        ("alice", "/requests/new/"),
        ("alice", "/requests/new/?task=onDemandScan"),
        ("alice", "/requests/new/?task=iocScan"),
        ("alice", "/requests/mine/"),
        ("alice", "/hosts/search?q=x"),
        ("bob", "/approvals/"),
        ("dave", "/requests/"),
        ("dave", "/requests/?since=2030-01-02&until=2030-01-01"),
        ("mallory", "/"),
        ("mallory", "/requests/"),
    ],
)
def test_each_page_renders_in_japanese(client, login, alice, bob, dave, mallory, rejected, username, url):
    login(client, {"alice": alice, "bob": bob, "dave": dave, "mallory": mallory}[username])
    in_japanese(client)

    html = client.get(url).content.decode()

    assert '<html lang="ja">' in html
    assert "EDR 対応ポータル" in html
    # A few English words every page would show if a string were left untranslated.
    for english in ("Log out", "My requests", "Status", "Approve", "Requester", "Filed", "Not allowed"):
        assert f">{english}<" not in html, english


def test_the_preview_and_its_errors_are_japanese(client, login, alice):
    login(client, alice)
    in_japanese(client)

    preview = client.post(
        "/requests/new/",
        {"task": "isolateHost", "target_host": HOST, "params-action": "1", "justification": "理由"},
    ).content.decode()
    errors = client.post("/requests/new/", {"task": "deleteFile", "target_host": HOST}).content.decode()

    assert "申請前に依頼を確認" in preview and "申請する" in preview
    # Field labels, never internal names (issue 17, point 5), in 「」.
    assert "「MD5 ハッシュ」、「SHA-256 ハッシュ」、「ファイルパス」の少なくとも 1 つでファイルを指定してください。" in errors
    assert "この項目は必須です。" in errors  # Django's own catalog, for the missing justification


def test_the_login_page_is_japanese_too(client, db):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ja")

    assert "ログイン" in response.content.decode()

"""Finding axe-core for the browser tests (tests/support/axe.py): the variable, the cache, npm, or a skip's reason."""

from __future__ import annotations

from tests.support import axe


def test_axe_core_js_names_the_file_and_a_missing_one_is_said(tmp_path, monkeypatch):
    script = tmp_path / "axe.min.js"
    script.write_text("window.axe = {};", encoding="utf-8")
    monkeypatch.setenv("AXE_CORE_JS", str(script))
    assert axe.find() == (script, "")
    monkeypatch.setenv("AXE_CORE_JS", str(tmp_path / "gone.js"))
    found, reason = axe.find()
    assert found is None and "is not a file" in reason


def test_without_npm_and_without_a_cache_the_reason_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("AXE_CORE_JS", raising=False)
    monkeypatch.setenv("AXE_CORE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    found, reason = axe.find()
    assert found is None
    assert "npm is missing" in reason and "AXE_CORE_JS" in reason and axe.AXE_VERSION in reason


def test_a_cached_file_that_is_not_the_pinned_one_is_not_used(tmp_path, monkeypatch):
    monkeypatch.delenv("AXE_CORE_JS", raising=False)
    monkeypatch.setenv("AXE_CORE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    cached = tmp_path / axe.AXE_VERSION / "axe.min.js"
    cached.parent.mkdir(parents=True)
    cached.write_text("window.axe = 'changed';", encoding="utf-8")
    found, reason = axe.find()
    assert found is None and "npm is missing" in reason

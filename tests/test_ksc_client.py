"""Clients built from the settings (responses/ksc_servers.py): one per process, rebuilt on a KSC_* change,
the backend from KSC_CLIENT, the TLS warning. The client contract itself is tests/ksc_client/test_contract.py.
"""

from __future__ import annotations

import logging
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from ksc_client.builtin import BuiltinKscClient
from responses.ksc_servers import (
    get_client,
    klakoapi_importable,
    reset_client,
    resolve_backend,
    tls_verification_disabled,
    warn_if_tls_verification_disabled,
)


def test_verification_off_is_warned_about_once(settings, caplog):
    import responses.ksc_servers as client_module

    settings.KSC_VERIFY = False
    settings.KSC_HOST = "ksc.example.test"
    client_module._warned = False
    with caplog.at_level(logging.WARNING, logger="ksc_client"):
        warn_if_tls_verification_disabled()
        warn_if_tls_verification_disabled()

    assert tls_verification_disabled()
    warnings = [record for record in caplog.records if "TLS verification of KSC" in record.getMessage()]
    assert len(warnings) == 1 and "ksc.example.test" in warnings[0].getMessage()
    settings.KSC_VERIFY = "/some/cert.pem"
    assert not tls_verification_disabled()




def test_get_client_reuses_one_client_and_one_login(ksc_settings):
    client = get_client()
    client.find_hosts("DC")

    assert get_client() is client
    get_client().find_hosts("SRV")
    assert ksc_settings.stats()["logins"] == 1


def test_reset_client_builds_a_new_one(ksc_settings):
    first = get_client()
    reset_client()

    assert get_client() is not first


def test_a_changed_ksc_setting_forgets_the_client(ksc_settings, settings):
    first = get_client()
    settings.KSC_READ_TIMEOUT = 7.0

    assert get_client() is not first and get_client().config.read_timeout == 7.0


def test_ksc_client_setting_picks_the_backend(ksc_settings, settings):
    settings.KSC_CLIENT = "builtin"
    assert isinstance(get_client(), BuiltinKscClient)

    settings.KSC_CLIENT = "auto"
    assert get_client().backend == ("klakoapi" if klakoapi_importable() else "builtin")


def test_asking_for_klakoapi_without_it_is_a_configuration_error(monkeypatch):
    # Whether Kaspersky's package or the suite's stand-in is there: hide it, as on a machine without it.
    for name in [name for name in sys.modules if name == "KlAkOAPI" or name.startswith("KlAkOAPI.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "KlAkOAPI", None)  # `import KlAkOAPI` now raises ImportError
    assert not klakoapi_importable()
    with pytest.raises(ImproperlyConfigured, match="KlAkOAPI"):
        resolve_backend("klakoapi")


def test_without_ksc_host_there_is_no_client(settings):
    settings.KSC_HOST = None

    with pytest.raises(ImproperlyConfigured, match="KSC_HOST"):
        get_client()



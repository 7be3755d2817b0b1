"""Settings come only from the environment, and junk is refused with a clear message."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env
from tests.support.subprocesses import settings_in_subprocess


class TestReaders:
    def test_booleans_refuse_junk(self, monkeypatch):
        monkeypatch.setenv("X_FLAG", "maybe")
        with pytest.raises(ImproperlyConfigured, match="X_FLAG must be one of"):
            env.env_bool("X_FLAG", False)
        monkeypatch.setenv("X_FLAG", "Yes")
        assert env.env_bool("X_FLAG", False) is True

    def test_ints_refuse_junk_and_bounds(self, monkeypatch):
        monkeypatch.setenv("X_PORT", "13299x")
        with pytest.raises(ImproperlyConfigured, match="X_PORT must be a whole number"):
            env.env_int("X_PORT", 1)
        monkeypatch.setenv("X_PORT", "70000")
        with pytest.raises(ImproperlyConfigured, match="at most 65535"):
            env.env_int("X_PORT", 1, maximum=65535)

    def test_secrets_come_from_a_file_too(self, monkeypatch, tmp_path):
        secret = tmp_path / "password"
        secret.write_text("s3cret\n")
        monkeypatch.delenv("X_PASSWORD", raising=False)
        monkeypatch.setenv("X_PASSWORD_FILE", str(secret))
        assert env.env_str("X_PASSWORD", secret=True) == "s3cret"
        monkeypatch.setenv("X_PASSWORD", "other")
        with pytest.raises(ImproperlyConfigured, match="not both"):
            env.env_str("X_PASSWORD", secret=True)

    def test_a_missing_secret_file_is_named(self, monkeypatch, tmp_path):
        monkeypatch.delenv("X_PASSWORD", raising=False)
        monkeypatch.setenv("X_PASSWORD_FILE", str(tmp_path / "absent"))
        with pytest.raises(ImproperlyConfigured, match="X_PASSWORD_FILE: cannot read"):
            env.env_str("X_PASSWORD", secret=True)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("sqlite:///db.sqlite3", {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}),
            ("sqlite:////var/lib/portal.db", {"ENGINE": "django.db.backends.sqlite3", "NAME": "/var/lib/portal.db"}),
            (
                "postgres://portal:p%40ss@db.internal:5433/edr",
                {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": "edr",
                    "USER": "portal",
                    "PASSWORD": "p@ss",
                    "HOST": "db.internal",
                    "PORT": "5433",
                },
            ),
        ],
    )
    def test_database_urls(self, url, expected):
        assert env.parse_database_url("DATABASE_URL", url) == expected

    @pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host", "sqlite://", "nonsense"])
    def test_bad_database_urls(self, url):
        with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
            env.parse_database_url("DATABASE_URL", url)


class TestStartup:
    def test_it_refuses_to_start_without_a_secret_key_in_production(self):
        result = settings_in_subprocess({"DEBUG": "false", "SECRET_KEY": ""})
        assert result.returncode != 0
        assert "SECRET_KEY (or SECRET_KEY_FILE) is required" in result.stderr

    def test_it_refuses_to_start_without_an_audit_chain_key_in_production(self, tmp_path):
        secret = "a-real-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0-zyxwvutsrqponm"
        result = settings_in_subprocess({"DEBUG": "false", "SECRET_KEY": secret})
        assert result.returncode != 0
        assert "AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) is required" in result.stderr
        short = settings_in_subprocess({"DEBUG": "false", "SECRET_KEY": secret, "AUDIT_CHAIN_KEY": "short"})
        assert "AUDIT_CHAIN_KEY must be at least 32 characters" in short.stderr
        key_file = tmp_path / "chain.key"
        key_file.write_text("k" * 40 + "\n")
        from_file = settings_in_subprocess(
            {"DEBUG": "true", "SECRET_KEY": secret, "AUDIT_CHAIN_KEY_FILE": str(key_file)},
            "shell",
            "-c",
            "from django.conf import settings; print(len(settings.AUDIT_CHAIN_KEY))",
        )
        assert from_file.stdout.strip().splitlines()[-1] == "40", from_file.stderr

    def test_ksc_add_settle_defaults_to_twice_the_read_timeout(self):
        show = "from django.conf import settings; print(settings.KSC_ADD_SETTLE)"
        result = settings_in_subprocess({"DEBUG": "true", "KSC_READ_TIMEOUT": "7.5"}, "shell", "-c", show)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "15.0"

    def test_check_deploy_is_clean_in_production(self, tmp_path):
        result = settings_in_subprocess(
            {
                "DEBUG": "false",
                "SECRET_KEY": "a-real-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0-zyxwvutsrqponm",
                "AUDIT_CHAIN_KEY": "a-real-audit-key-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                "ALLOWED_HOSTS": "edr.example.test",
                "DATABASE_URL": f"sqlite:///{tmp_path}/deploy.db",
            },
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues (0 silenced)." in result.stdout


AREA = "RESPONSE_EVENT_INCIDENT_AREA must be at most 16 characters without [ or ]"

# A setting the portal cannot use: it refuses to start, naming the variable and what it wants.
JUNK = [
    ("KSC_PORT", "http", "KSC_PORT must be a whole number"),
    ("KSC_CERT", "/nonexistent/ksc.pem", "KSC_CERT: no certificate file"),
    ("KSC_HOST", "ksc.example.test", "KSC_USER and KSC_PASSWORD"),  # a KSC needs credentials
    ("APPROVALS_REQUIRED_FORMATDISK", "1", "APPROVALS_REQUIRED_FORMATDISK: no such task type"),
    # a slow KSC
    ("KSC_ADD_SETTLE", "two minutes", "KSC_ADD_SETTLE must be a number"),
    ("KSC_ADD_SETTLE", "-1", "KSC_ADD_SETTLE must be a number of at least 0.0"),
    ("KSC_UNKNOWN_OUTCOME_SEARCH", "1d", "KSC_UNKNOWN_OUTCOME_SEARCH must be a whole number"),
    ("KSC_UNKNOWN_OUTCOME_SEARCH", "-5", "KSC_UNKNOWN_OUTCOME_SEARCH must be at least 0"),
    # the incident area: at most 16 characters, no brackets
    ("RESPONSE_EVENT_INCIDENT_AREA", "Kuma-SOC-Automation", AREA),
    ("RESPONSE_EVENT_INCIDENT_AREA", "[Kuma]", AREA),
    ("RESPONSE_EVENT_INCIDENT_AREA", "Ku]ma", AREA),
    # the outcome on the host
    ("KSC_RESPONSE_TASK_PATTERN", "[Response", "not a valid regular expression"),
    ("KSC_RESPONSE_TASK_PATTERN", r"(?P<incident>\d+)", "unknown named groups incident"),
    ("KSC_IOC_FORMAT", "url", "KSC_IOC_FORMAT must be one of zip-base64, path"),
    ("KSC_TASK_APPEAR_TIMEOUT", "5", "KSC_TASK_APPEAR_TIMEOUT must be at least 30"),
    ("OUTCOME_SWEEP_MAX_CALLS", "many", "OUTCOME_SWEEP_MAX_CALLS must be a whole number"),
    # links out of the portal
    ("KSC_CONSOLE_URL", "ksc.example.test:8080", "KSC_CONSOLE_URL must be an http:// or https:// address"),
    ("EXTERNAL_REF_URL", "https://siem.example.test/alerts/", "EXTERNAL_REF_URL must be an http:// or https://"),
    ("EXTERNAL_REF_URL", "javascript:alert({ref})", "with {ref} once where the reference goes"),
]


@pytest.mark.parametrize(("name", "value", "message"), JUNK, ids=[f"{name}={value}" for name, value, _ in JUNK])
def test_it_refuses_to_start_with_a_setting_it_cannot_use(name, value, message):
    result = settings_in_subprocess({"DEBUG": "true", name: value})
    assert result.returncode != 0 and message in result.stderr, result.stderr[-500:]

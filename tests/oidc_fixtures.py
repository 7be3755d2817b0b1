"""A real OpenID Connect provider for the sign-in tests: django-oauth-toolkit in its own process.

tests/oidc_provider/serve.py runs it on a free loopback port with its own SQLite database,
users, groups and RSA signing key. The portal (the Django test client) talks to it over
HTTP exactly as to Entra ID: discovery, the token endpoint, JWKS, userinfo. A
``requests`` session plays the person's browser at the provider's login page.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from portal.local_redis import free_port

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "edr-portal"
CLIENT_SECRET = "edr-portal-client-secret-for-tests"
CALLBACK = "http://testserver/oidc/callback/"
# username: (password, groups at the provider)
PEOPLE = {
    "olivia": ("olivia-idp-pass", ["soc-analysts"]),
    "oscar": ("oscar-idp-pass", ["soc-approvers", "provider:mfa"]),  # MFA at the provider
    "otto": ("otto-idp-pass", ["soc-approvers"]),  # password only at the provider
    "opal": ("opal-idp-pass", ["soc-analysts", "soc-auditors"]),
    "ozzy": ("ozzy-idp-pass", ["marketing"]),  # in no mapped group
    "oona": ("oona-idp-pass", ["soc-analysts", "provider:expired-id-token"]),
}
ROLE_GROUPS = '{"Analysts": ["soc-analysts"], "Approvers": ["soc-approvers"], "Auditors": ["soc-auditors"]}'


@dataclass
class Provider:
    issuer: str
    database: Path
    browsers: dict = field(default_factory=dict)

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Change a person's groups at the provider, as its administrator would."""
        with sqlite3.connect(self.database) as db:
            (user_id,) = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
            db.execute("DELETE FROM auth_user_groups WHERE user_id = ?", (user_id,))
            for name in groups:
                db.execute("INSERT OR IGNORE INTO auth_group (name) VALUES (?)", (name,))
                (group_id,) = db.execute("SELECT id FROM auth_group WHERE name = ?", (name,)).fetchone()
                db.execute("INSERT INTO auth_user_groups (user_id, group_id) VALUES (?, ?)", (user_id, group_id))

    def browser(self, username: str) -> requests.Session:
        """The person's browser at the provider (keeps the provider's session cookie, as a browser does)."""
        return self.browsers.setdefault(username, requests.Session())

    def authorize(self, authorize_url: str, username: str, *, password: str | None = None) -> str:
        """Follow the portal's redirect to the provider, log in there if asked; the callback URL it answers with."""
        browser = self.browser(username)
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login/":
            login_url = requests.compat.urljoin(authorize_url, response.headers["Location"])
            page = browser.get(login_url, timeout=10)
            next_url = parse_qs(urlsplit(login_url).query)["next"][0]
            response = browser.post(
                login_url,
                data={
                    "username": username,
                    "password": password or PEOPLE[username][0],
                    "next": next_url,
                    "csrfmiddlewaretoken": page.cookies.get("csrftoken") or browser.cookies.get("csrftoken"),
                },
                headers={"Referer": login_url},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302, response.text[:500]
            response = browser.get(
                requests.compat.urljoin(login_url, response.headers["Location"]), allow_redirects=False, timeout=10
            )
        assert response.status_code == 302, response.text[:500]
        location = response.headers["Location"]
        assert location.startswith(CALLBACK), location
        return location


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    folder = tmp_path_factory.mktemp("oidc-provider")
    port = free_port()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    config = folder / "config.json"
    config.write_text(
        json.dumps(
            {
                "port": port,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uri": CALLBACK,
                "post_logout_redirect_uri": "http://testserver/accounts/login/",
                "users": {name: {"password": pw, "groups": groups} for name, (pw, groups) in PEOPLE.items()},
            }
        )
    )
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "PROVIDER_DB": str(folder / "provider.sqlite3"),
        "PROVIDER_RSA_KEY": key.decode(),
        "PROVIDER_PORT": str(port),
    }
    log = open(folder / "provider.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve", str(config)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=log,
    )
    issuer = f"http://127.0.0.1:{port}/o"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"the test OpenID Connect provider exited: {(folder / 'provider.log').read_text()[-3000:]}")
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the test OpenID Connect provider did not answer within 60 s")
        time.sleep(0.2)
    yield Provider(issuer=issuer, database=folder / "provider.sqlite3")
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def oidc_settings(settings, oidc_provider):
    from accounts import oidc
    from accounts.role_groups import parse_role_groups

    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_SCOPES = "openid profile email"
    settings.OIDC_USERNAME_CLAIM = "preferred_username"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_MFA_ACR = []
    settings.OIDC_SIGN_ALGORITHMS = ["RS256"]
    settings.OIDC_TIMEOUT = 5.0
    settings.ROLE_GROUPS = parse_role_groups("ROLE_GROUPS", ROLE_GROUPS)
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.oidc.DirectoryOIDCBackend"]
    oidc._discovered.clear()
    yield settings
    oidc._discovered.clear()

"""python -m tests.oidc_provider.serve CONFIG.json: set up the provider's users and client, then serve.

CONFIG: {"port": N, "client_id", "client_secret", "redirect_uri", "post_logout_redirect_uri",
"users": {"name": {"password", "groups": [...]}}}. PROVIDER_DB and PROVIDER_RSA_KEY come in the environment.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import run  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    call_command("migrate", verbosity=0)
    for name, person in config["users"].items():
        user = User.objects.create_user(name, f"{name}@idp.example", person["password"], first_name=name.title())
        for group in person["groups"]:
            user.groups.add(Group.objects.get_or_create(name=group)[0])
    Application.objects.create(
        name="EDR response portal",
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=config["redirect_uri"],
        post_logout_redirect_uris=config["post_logout_redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    from django.core.wsgi import get_wsgi_application

    run("127.0.0.1", config["port"], get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(sys.argv[1])

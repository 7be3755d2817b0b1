"""The provider's claims: username, groups and amr from its own users, like Entra ID's optional claims.

Groups named ``provider:...`` are not groups the portal sees but ways this provider behaves
for that user, some of them wrong on purpose (a provider the tests cannot trust):

- ``provider:mfa``: the user's logins use a second factor (``amr`` has "mfa").
- ``provider:expired-id-token``: their ID tokens are issued already expired.
- ``provider:amr-in-userinfo-only``: the ID token carries no ``amr``; the userinfo answer claims "mfa".
- ``provider:email-unverified``: ``email_verified`` is false (true otherwise).
- ``provider:email=VALUE``: the ``email`` claim is VALUE, not the user's address.
- ``provider:no-kid``: the ID token's header names no signing key (``kid``).
"""

import json
import time

from jwcrypto import jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

MFA_GROUP = "provider:mfa"
EXPIRED_GROUP = "provider:expired-id-token"
AMR_IN_USERINFO_ONLY_GROUP = "provider:amr-in-userinfo-only"
EMAIL_UNVERIFIED_GROUP = "provider:email-unverified"
EMAIL_PREFIX = "provider:email="
NO_KID_GROUP = "provider:no-kid"


def _behaviours(user) -> set[str]:
    return {name for name in user.groups.values_list("name", flat=True) if name.startswith("provider:")}


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scopes

    def get_additional_claims(self, request):
        names = set(request.user.groups.values_list("name", flat=True))
        email = next((name.removeprefix(EMAIL_PREFIX) for name in names if name.startswith(EMAIL_PREFIX)), None)
        return {
            "preferred_username": request.user.username,
            "email": request.user.email if email is None else email,
            "email_verified": EMAIL_UNVERIFIED_GROUP not in names,
            "given_name": request.user.first_name,
            "groups": sorted(name for name in names if not name.startswith("provider:")),
            "amr": ["pwd", "mfa"] if MFA_GROUP in names else ["pwd"],
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        behaviours = _behaviours(request.user)
        if EXPIRED_GROUP in behaviours:
            claims["exp"] = int(time.time()) - 600
        if AMR_IN_USERINFO_ONLY_GROUP in behaviours:
            claims.pop("amr", None)
        return claims, expiration

    def get_userinfo_claims(self, request):
        claims = super().get_userinfo_claims(request)
        if AMR_IN_USERINFO_ONLY_GROUP in _behaviours(request.user):
            claims["amr"] = ["pwd", "mfa"]
        return claims

    def finalize_id_token(self, id_token, token, token_handler, request):
        serialized = super().finalize_id_token(id_token, token, token_handler, request)
        if NO_KID_GROUP not in _behaviours(request.user):
            return serialized
        # The same claims, signed by the same key, under a header without "kid".
        claims = json.loads(jwt.JWT(jwt=serialized, key=request.client.jwk_key).claims)
        unnamed = jwt.JWT(header=json.dumps({"typ": "JWT", "alg": request.client.algorithm}), claims=claims)
        unnamed.make_signed_token(request.client.jwk_key)
        return unnamed.serialize()

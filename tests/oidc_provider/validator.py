"""The provider's claims: username, groups and amr from its own users, like Entra ID's optional claims."""

import time

from oauth2_provider.oauth2_validators import OAuth2Validator

MFA_GROUP = "provider:mfa"  # this user's logins use a second factor at the provider
EXPIRED_GROUP = "provider:expired-id-token"  # this user's ID tokens are issued already expired


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scopes

    def get_additional_claims(self, request):
        names = set(request.user.groups.values_list("name", flat=True))
        return {
            "preferred_username": request.user.username,
            "email": request.user.email,
            "given_name": request.user.first_name,
            "groups": sorted(name for name in names if not name.startswith("provider:")),
            "amr": ["pwd", "mfa"] if MFA_GROUP in names else ["pwd"],
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        if request.user.groups.filter(name=EXPIRED_GROUP).exists():
            claims["exp"] = int(time.time()) - 600
        return claims, expiration

"""The login page (local form, LDAP, and "Sign in with <provider>")."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views

from accounts.forms import LoginForm


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_provider_name"] = settings.OIDC_PROVIDER_NAME if settings.OIDC_ISSUER else ""
        context.setdefault("oidc_error", "")
        return context

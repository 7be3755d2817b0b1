from django.contrib import admin
from django.urls import include, path

from accounts import account_views, language, oidc, theme
from accounts import views as directory_views

urlpatterns = [
    path("accounts/login/", directory_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", oidc.logout, name="logout"),
    path("oidc/authenticate/", oidc.AuthenticationRequestView.as_view(), name="oidc_authenticate"),
    path("oidc/callback/", oidc.CallbackView.as_view(), name="oidc_callback"),
    path("oidc/step-up/", oidc.start_step_up, name="oidc_step_up"),
    path("accounts/verify/", account_views.verify, name="two_factor_verify"),
    path("account/", account_views.account, name="account"),
    path("account/two-factor/", account_views.setup, name="two_factor_setup"),
    path("account/two-factor/recovery-codes/", account_views.recovery_codes, name="two_factor_recovery_codes"),
    path("account/two-factor/remove/", account_views.remove_two_factor, name="two_factor_remove"),
    path("account/tokens/revoke/", account_views.revoke_token, name="revoke_token"),
    # Django's set_language; the notifications and the new-request form keep the choice (accounts/language.py).
    path("i18n/setlang/", language.set_language, name="set_language"),
    path("theme/", theme.set_theme, name="set_theme"),  # the header's light/dark switch (accounts/theme.py)
    path("notifications/", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/campaigns/", include("campaigns.api_urls")),
    path("api/v1/", include("responses.api.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("", include("responses.urls")),
]

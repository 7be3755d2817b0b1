"""The username/password form: local accounts and LDAP, with the directory's own refusals shown as they are."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts import directory, identity


class LoginForm(AuthenticationForm):
    def clean_username(self) -> str:
        # Django's AuthenticationForm puts the length only in the widget's maxlength, which a
        # script ignores: a longer name reached authenticate() and django-axes' varchar(255)
        # (an unauthenticated 500). No account, local or directory, has a longer name.
        username = self.cleaned_data["username"]
        limit = self.username_field.max_length or 150
        if len(username) > limit:
            raise ValidationError(
                _("A username has at most %(limit)d characters.") % {"limit": limit}, code="username_too_long"
            )
        return username

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # "Wrong username or password" would hide what the directory said (unreachable, no role...).
            refusal = getattr(self.request, "directory_refusal", None)
            if refusal:
                raise ValidationError(refusal, code="directory") from None
            raise

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not identity.may_sign_in_locally(user, directory_user=directory.is_directory_user(user)):
            raise ValidationError(
                _("Local accounts are for break-glass superusers only here. Sign in with your directory account."),
                code="local_login_disabled",
            )

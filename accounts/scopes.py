"""What an API token may do beyond its user's roles (the accounts' own vocabulary; responses/states.py re-exports it)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenScope(models.TextChoices):
    """What an API token may do beyond what its user's roles allow.

    A SIEM files and reads; a decision (approve, reject, retry) through the API skips
    the browser's second factor and step-up, so only a token issued for it may decide.
    """

    FILE = "file", _("File and read")
    DECISIONS = "decisions", _("File, read and decide (approve, reject, retry)")

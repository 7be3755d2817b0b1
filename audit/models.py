"""The keyed chains' own records: the base of a chain that is one sequence for the whole portal,
the anchors, and the kept verifications (audit/chain.py, audit/verification.py).

The tables keep the names they had in responses/ (migrations responses 0028 and audit 0001 moved
the models without touching a row), so PostgreSQL's append-only triggers stay on them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SingleChainRecord(models.Model):
    """A link of a chain that is one sequence for the whole portal (the accounts, the anchors)."""

    created_at = models.DateTimeField(default=timezone.now)
    seq = models.PositiveBigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    CHAIN = ""

    class Meta:
        abstract = True
        ordering = ["-seq"]

    @property
    def chain(self) -> str:
        return self.CHAIN


class AuditAnchor(SingleChainRecord):
    """A signed snapshot of chain heads, taken periodically (manage.py anchor_audit).

    ``heads`` maps each chain that moved since the previous anchor (less an overlap)
    to its last [seq, hash]; anchors form their own keyed chain. Deleting the last
    events of a chain is then caught: the anchor remembers they existed.
    """

    CHAIN = "anchors"

    heads = models.JSONField(default=dict)

    class Meta(SingleChainRecord.Meta):
        db_table = "responses_auditanchor"  # moved from responses (0028): the table, its rows and triggers stay

    def __str__(self) -> str:
        return f"audit anchor {self.seq} ({len(self.heads)} chains)"

    def content(self) -> dict:
        return {"heads": self.heads, "at": self.created_at.isoformat()}


class VerificationSource(models.TextChoices):
    USER = "user", _("an auditor")
    SCHEDULE = "schedule", _("the scheduled check")
    COMMAND = "command", _("manage.py verify_audit")


class ChainVerification(models.Model):
    """One run of the audit chains' verification and what it found (docs/audit-chain.md, "Verifying").

    An indicator for the pages, not evidence: it sits in the tables it vouches for, so
    whoever can rewrite them can rewrite this too. "Verify now" recomputes everything.
    It holds counts and the report's words, never AUDIT_CHAIN_KEY or a hash made with it.
    """

    MAX_PROBLEMS = 50  # kept of a broken run's problems; problem_count says how many there were

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=10, choices=VerificationSource.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)  # kept when the account is deleted
    intact = models.BooleanField()
    events = models.PositiveBigIntegerField(default=0)
    request_chains = models.PositiveBigIntegerField(default=0)
    account_events = models.PositiveBigIntegerField(default=0)
    anchors = models.PositiveBigIntegerField(default=0)
    unanchored = models.PositiveBigIntegerField(default=0)  # request chains with events newer than any anchor
    latest_anchor = models.DateTimeField(null=True, blank=True)
    against = models.CharField(max_length=500, blank=True)  # the export compared (verify_audit --against)
    problems = models.JSONField(default=list, blank=True)  # the first MAX_PROBLEMS, as the report words them
    problem_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-finished_at", "-id"]
        db_table = "responses_chainverification"  # moved from responses (0028): the table and its rows stay

    def __str__(self) -> str:
        return f"chain verification of {self.finished_at.isoformat()}: {'intact' if self.intact else 'broken'}"

    @property
    def more_problems(self) -> int:
        """Problems found but not kept ("and N more")."""
        return max(self.problem_count - len(self.problems), 0)

    def who(self) -> str:
        """Who ran it, in words: the username, or the scheduled check, or the command."""
        if self.source == VerificationSource.USER:
            return self.username
        return str(self.get_source_display())

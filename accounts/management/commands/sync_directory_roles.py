"""manage.py sync_directory_roles [--dry-run]: roles and is_active of LDAP accounts from the directory now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.sync import SyncError, sync


class Command(BaseCommand):
    help = (
        "Set the portal roles of every LDAP account from the directory's groups (ROLE_GROUPS) and deactivate "
        "the accounts that left every mapped group. Each change is an audit event whose actor is the directory."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would change, change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        try:
            changed = sync(dry_run=dry_run)
        except SyncError as exc:
            raise CommandError(f"{exc}; nothing was changed.") from None
        for username, changes in sorted(changed.items()):
            self.stdout.write(f"{username}: {' '.join(changes)}")
        self.stdout.write(f"{len(changed)} account(s) {'would change' if dry_run else 'changed'}.")

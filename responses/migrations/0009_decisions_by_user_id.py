# One decision per person per request, by user id instead of username (issue 12, point 2):
# renaming an approver must not let the same person approve a request twice.

from django.conf import settings
from django.db import migrations, models
from django.db.models import Count


def refuse_existing_double_decisions(apps, schema_editor):
    """Stop with a list of the requests one person decided twice (under two usernames), for an operator to review.

    They are what the renaming attack leaves behind; deleting either row would rewrite
    the audit trail, so the migration names them instead of guessing.
    """
    Approval = apps.get_model("responses", "Approval")
    doubles = (
        Approval.objects.filter(approver__isnull=False)
        .values("request__uuid", "approver_id")
        .annotate(decisions=Count("id"))
        .filter(decisions__gt=1)
    )
    found = [f"request {row['request__uuid']} (user id {row['approver_id']})" for row in doubles[:50]]
    if found:
        raise RuntimeError(
            "These requests were decided twice by the same person under different usernames; review them "
            "(a two-person approval may have been met by one person) and remove the later decision by hand "
            "before migrating: " + "; ".join(found)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('responses', '0008_event_held'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_existing_double_decisions, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='approval',
            name='approval_once_per_person',
        ),
        migrations.AddConstraint(
            model_name='approval',
            constraint=models.UniqueConstraint(fields=('request', 'approver'), name='approval_once_per_user'),
        ),
    ]

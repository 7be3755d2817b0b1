from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from notifications import channels, signals

        # A NOTIFY_URLS entry Apprise does not understand is refused at start, not at 3 a.m.
        channels.check_notify_urls(settings.NOTIFY_URLS)
        channels.check_notify_urls(settings.ESCALATE_URLS, "ESCALATE_URLS")
        channels.check_server_channels(settings.KSC_SERVERS)  # each server's own channels, the same way
        signals.connect()

        # The sweep (reminders, lost jobs): a periodic duty of the workers' keeper (worker/duties.py).
        from notifications import jobs  # noqa: F401

from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "responses"
    verbose_name = "EDR responses"
    default_auto_field = "django.db.models.BigAutoField"

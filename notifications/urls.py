from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("live.json", views.live, name="live"),
    path("mailbox/", views.mailbox_view, name="mailbox"),
]

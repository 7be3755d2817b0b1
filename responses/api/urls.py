from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from responses.api import schema, views  # noqa: F401  (importing schema registers the OpenAPI extensions)

app_name = "api"

router = SimpleRouter()
router.register("requests", views.ResponseRequestViewSet, basename="request")

urlpatterns = [
    *router.urls,
    path("tasks/", views.TaskCatalogView.as_view(), name="tasks"),
    path("hosts/", views.HostSearchView.as_view(), name="hosts"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # For people in a browser: log in to the portal first; "Authorize" takes a token for "Try it out".
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
]
